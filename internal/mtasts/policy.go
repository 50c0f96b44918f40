// Package mtasts implements SMTP MTA Strict Transport Security (RFC 8461):
// the policy text and its `_mta-sts` TXT record (parsing and writing, for
// the policy we publish), MX host matching, and a Finder that fetches,
// caches and refreshes recipient domains' policies for outbound delivery.
package mtasts

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Modes of a policy (RFC 8461 §5).
const (
	ModeEnforce = "enforce"
	ModeTesting = "testing"
	ModeNone    = "none"
)

// Bounds from RFC 8461 §3.2 and §3.3.
const (
	maxMaxAge     = 31557600 // seconds
	maxPolicySize = 64 << 10 // bytes of policy body we read
	maxMX         = 64       // mx lines we keep
)

// Policy is a parsed MTA-STS policy (RFC 8461 §3.2).
type Policy struct {
	Mode   string
	MX     []string // patterns: "mail.example.org" or "*.example.org"
	MaxAge time.Duration
}

// Parse reads a policy body. Lines are "key: value" separated by CRLF or
// LF; "version: STSv1" must come first; unknown keys are ignored
// (RFC 8461 §3.2).
func Parse(text string) (Policy, error) {
	var p Policy
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	version, maxAge := false, false
	for i, line := range lines {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return Policy{}, fmt.Errorf("mta-sts: line %d has no colon", i+1)
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if i == 0 && k != "version" {
			return Policy{}, errors.New("mta-sts: the first line must be the version")
		}
		switch k {
		case "version":
			if v != "STSv1" || i != 0 {
				return Policy{}, fmt.Errorf("mta-sts: version %q not supported", v)
			}
			version = true
		case "mode":
			switch v {
			case ModeEnforce, ModeTesting, ModeNone:
				p.Mode = v
			default:
				return Policy{}, fmt.Errorf("mta-sts: unknown mode %q", v)
			}
		case "max_age":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || len(v) > 10 {
				return Policy{}, fmt.Errorf("mta-sts: bad max_age %q", v)
			}
			p.MaxAge = time.Duration(min(n, maxMaxAge)) * time.Second
			maxAge = true
		case "mx":
			if !validPattern(v) {
				return Policy{}, fmt.Errorf("mta-sts: bad mx %q", v)
			}
			if len(p.MX) < maxMX {
				p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
			}
		}
	}
	switch {
	case !version:
		return Policy{}, errors.New("mta-sts: no version")
	case p.Mode == "":
		return Policy{}, errors.New("mta-sts: no mode")
	case !maxAge:
		return Policy{}, errors.New("mta-sts: no max_age")
	case p.Mode != ModeNone && len(p.MX) == 0:
		return Policy{}, errors.New("mta-sts: no mx")
	}
	return p, nil
}

// validPattern accepts a host name, optionally with a leading "*." label.
func validPattern(s string) bool {
	s = strings.TrimPrefix(strings.TrimSuffix(s, "."), "*.")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// String writes the policy in its published form.
func (p Policy) String() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\n")
	fmt.Fprintf(&b, "mode: %s\r\n", p.Mode)
	for _, mx := range p.MX {
		fmt.Fprintf(&b, "mx: %s\r\n", mx)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", int64(p.MaxAge/time.Second))
	return b.String()
}

// ID is a policy id derived from its text, so that it changes whenever
// the policy does (RFC 8461 §3.1: 1 to 32 alphanumeric characters).
func (p Policy) ID() string {
	sum := sha256.Sum256([]byte(p.String()))
	return hex.EncodeToString(sum[:])[:32]
}

// Record is the `_mta-sts` TXT record announcing p.
func (p Policy) Record() string { return "v=STSv1; id=" + p.ID() }

// Matches reports whether host is allowed by one of the policy's mx
// patterns: equal, or "*.rest" where host has exactly one more label in
// front of rest (RFC 8461 §4.1).
func (p Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			first, tail, ok := strings.Cut(host, ".")
			if ok && first != "" && tail == rest {
				return true
			}
		} else if pat == host {
			return true
		}
	}
	return false
}

// ParseRecord reads an `_mta-sts` TXT record ("v=STSv1; id=…",
// RFC 8461 §3.1) and returns its id.
func ParseRecord(txt string) (string, error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=STSv1" {
		return "", errors.New("mta-sts: record does not start with v=STSv1")
	}
	id := ""
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if k == "id" {
			id = v
		}
	}
	if id == "" || len(id) > 32 {
		return "", errors.New("mta-sts: record has no valid id")
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", errors.New("mta-sts: record has no valid id")
		}
	}
	return id, nil
}

// Published is the policy pochta publishes for each of its domains: its
// one MX host (the server's hostname), kept by senders for a week.
func Published(mode, mxHost string) Policy {
	return Policy{Mode: mode, MX: []string{strings.ToLower(strings.TrimSuffix(mxHost, "."))}, MaxAge: 7 * 24 * time.Hour}
}

// Records describes the DNS and web side of p for domain, as
// `pochta dns records` prints it (RFC 8461 §3.1, §3.2).
func (p Policy) Records(domain, webHost string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "; MTA-STS (RFC 8461): mta-sts.%s must reach this server's https (or a\n", domain)
	fmt.Fprintf(&b, "; proxy to its http listener) with a valid certificate for that name.\n")
	fmt.Fprintf(&b, "mta-sts.%s. IN CNAME %s.\n", domain, webHost)
	fmt.Fprintf(&b, "_mta-sts.%s. IN TXT \"%s\"\n", domain, p.Record())
	fmt.Fprintf(&b, "; https://mta-sts.%s/.well-known/mta-sts.txt serves:\n", domain)
	for _, l := range strings.Split(strings.TrimSpace(p.String()), "\r\n") {
		fmt.Fprintf(&b, ";   %s\n", l)
	}
	return b.String()
}
