// Package dane authenticates SMTP servers with DNSSEC-authenticated TLSA
// records (DANE for SMTP, RFC 7672; TLSA, RFC 6698): which records are
// usable, whether a presented certificate chain matches them, and the
// TLSA record for our own key.
package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"pochta/internal/dns"
)

// Certificate usages, selectors and matching types (RFC 6698 §2.1, RFC
// 7218 mnemonics). SMTP uses only DANE-TA(2) and DANE-EE(3) (RFC 7672
// §3.1).
const (
	UsageDANETA = 2
	UsageDANEEE = 3

	SelectorCert = 0
	SelectorSPKI = 1

	MatchFull   = 0
	MatchSHA256 = 1
	MatchSHA512 = 2
)

// Usable returns the records SMTP can use: usage DANE-TA or DANE-EE,
// a known selector and matching type (RFC 7672 §3.1; the others are
// "unusable" and ignored).
func Usable(records []dns.TLSA) []dns.TLSA {
	var out []dns.TLSA
	for _, r := range records {
		if (r.Usage == UsageDANETA || r.Usage == UsageDANEEE) && r.Selector <= SelectorSPKI && r.MatchingType <= MatchSHA512 {
			out = append(out, r)
		}
	}
	return out
}

// matches reports whether cert matches r's selector and matching type.
func matches(r dns.TLSA, cert *x509.Certificate) bool {
	data := cert.Raw
	if r.Selector == SelectorSPKI {
		data = cert.RawSubjectPublicKeyInfo
	}
	switch r.MatchingType {
	case MatchSHA256:
		sum := sha256.Sum256(data)
		data = sum[:]
	case MatchSHA512:
		sum := sha512.Sum512(data)
		data = sum[:]
	}
	return bytes.Equal(data, r.Data)
}

// Verify checks the server's chain (leaf first) against usable records
// for host. DANE-EE matches the leaf alone, ignoring names and dates
// (RFC 7672 §3.1.1); DANE-TA matches a certificate of the chain as trust
// anchor, and the leaf must chain to it and be valid for host (§3.1.2,
// §3.2.2).
func Verify(records []dns.TLSA, chain []*x509.Certificate, host string, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	leaf := chain[0]
	var taErr error
	for _, r := range records {
		switch r.Usage {
		case UsageDANEEE:
			if matches(r, leaf) {
				return nil
			}
		case UsageDANETA:
			for _, ta := range chain[1:] {
				if !matches(r, ta) {
					continue
				}
				roots := x509.NewCertPool()
				roots.AddCert(ta)
				inter := x509.NewCertPool()
				for _, c := range chain[1:] {
					inter.AddCert(c)
				}
				_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter, CurrentTime: now})
				if err == nil {
					return nil
				}
				taErr = err
			}
		}
	}
	if taErr != nil {
		return fmt.Errorf("DANE-TA trust anchor found but the chain does not verify: %w", taErr)
	}
	return errors.New("certificate matches none of the TLSA records")
}

// Record is the DANE-EE TLSA record "3 1 1 <sha256 of the SPKI>" for
// cert's key: it stays valid across renewals that keep the key.
func Record(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "3 1 1 " + hex.EncodeToString(sum[:])
}

// PEMRecord is Record for the first certificate of a PEM file's contents.
func PEMRecord(data []byte) (string, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return "", errors.New("dane: no certificate in PEM data")
		}
		if b.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return "", err
			}
			return Record(cert), nil
		}
	}
}
