// Package dkim signs outgoing mail with DKIM (RFC 6376) using
// github.com/emersion/go-msgauth/dkim, with Ed25519 (RFC 8463) and RSA
// (rsa-sha256, 2048-bit) keys, and prints the DNS records a mail domain
// needs (MX, SPF, DKIM, DMARC, client autoconfiguration SRV records).
//
// Keys live in files dir/<domain>/<selector>.<algo>.key (PKCS #8 PEM,
// mode 0600), where algo is "ed25519" or "rsa". A domain may have several
// keys; a message is signed with each (RFC 8463 §4 suggests dual
// Ed25519/RSA signatures while verifiers catch up).
package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// rsaBits is the RSA key size (RFC 8301 §3.2 requires at least 1024 and
// recommends 2048).
const rsaBits = 2048

// signedHeaders are the header fields signed when present (RFC 6376
// §5.4.1); From is signed once more than it occurs so that no From can
// be added after signing (RFC 6376 §8.15).
var signedHeaders = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version",
	"Content-Type", "Reply-To", "In-Reply-To", "References",
}

// Key is one signing key.
type Key struct {
	Domain   string
	Selector string
	Algo     string // "ed25519" or "rsa"
	signer   crypto.Signer
}

// TXTName is the DNS name of the key's record (RFC 6376 §3.6.2.1).
func (k Key) TXTName() string { return k.Selector + "._domainkey." + k.Domain }

// TXTValue is the key's DNS TXT record value (RFC 6376 §3.6.1).
func (k Key) TXTValue() string {
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if k.Algo == "ed25519" {
		// RFC 8463 §4.2: the raw 32-byte key, not SubjectPublicKeyInfo.
		der, err = k.signer.Public().(ed25519.PublicKey), nil
	}
	if err != nil {
		return ""
	}
	return fmt.Sprintf("v=DKIM1; k=%s; p=%s", k.Algo, base64.StdEncoding.EncodeToString(der))
}

// Record is the key's record as a zone-file line; the value is split into
// character-strings of at most 255 bytes (RFC 1035 §3.3.14).
func (k Key) Record() string {
	v := k.TXTValue()
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	parts = append(parts, `"`+v+`"`)
	return fmt.Sprintf("%s. IN TXT %s", k.TXTName(), strings.Join(parts, " "))
}

// normAlgo maps accepted algorithm spellings to the file/record name.
func normAlgo(algo string) (string, error) {
	switch strings.ToLower(algo) {
	case "ed25519", "ed25519-sha256":
		return "ed25519", nil
	case "rsa", "rsa-sha256":
		return "rsa", nil
	}
	return "", fmt.Errorf("dkim: unknown algorithm %q (want ed25519 or rsa)", algo)
}

func validLabel(s string) bool {
	if s == "" || len(s) > 253 || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// newKey creates a key for domain and selector and returns it with its
// PKCS #8 PEM encoding and its file name, <selector>.<algo>.key.
func newKey(domain, selector, algo string) (Key, []byte, string, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	selector = strings.ToLower(selector)
	a, err := normAlgo(algo)
	if err != nil {
		return Key{}, nil, "", err
	}
	if !validLabel(domain) || !validLabel(selector) || strings.Contains(selector, ".") {
		return Key{}, nil, "", fmt.Errorf("dkim: invalid domain %q or selector %q", domain, selector)
	}
	var signer crypto.Signer
	switch a {
	case "ed25519":
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	case "rsa":
		signer, err = rsa.GenerateKey(rand.Reader, rsaBits)
	}
	if err != nil {
		return Key{}, nil, "", fmt.Errorf("dkim: generating key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return Key{}, nil, "", fmt.Errorf("dkim: encoding key: %w", err)
	}
	k := Key{Domain: domain, Selector: selector, Algo: a, signer: signer}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), selector + "." + a + ".key", nil
}

// Keygen creates a key for domain and selector, writes it to
// dir/<domain>/<selector>.<algo>.key (never overwriting an existing file)
// and returns the DNS record to publish, as a zone-file line.
func Keygen(dir, domain, selector, algo string) (record string, err error) {
	k, data, file, err := newKey(domain, selector, algo)
	if err != nil {
		return "", err
	}
	ddir := filepath.Join(dir, k.Domain)
	if err := os.MkdirAll(ddir, 0o700); err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	path := filepath.Join(ddir, file)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("dkim: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("dkim: writing %s: %w", path, err)
	}
	return k.Record(), nil
}

// Signer signs messages with the keys found in a directory.
type Signer struct {
	keys map[string][]Key // by domain
}

// LoadSigner loads every key under dir. A missing dir means no keys.
func LoadSigner(dir string) (*Signer, error) {
	s := &Signer{keys: map[string][]Key{}}
	err := walkDir(dir, func(path, domain, file string) error {
		sel, algo, _ := strings.Cut(strings.TrimSuffix(file, ".key"), ".")
		k, err := loadKey(path, domain, sel, algo)
		if err == nil {
			s.keys[k.Domain] = append(s.keys[k.Domain], k)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	s.sort()
	return s, nil
}

// walkDir calls fn for each key file dir/<domain>/<selector>.<algo>.key
// with the domain in lower case; a missing dir has none.
func walkDir(dir string, fn func(path, domain, file string) error) error {
	domains, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	for _, d := range domains {
		if !d.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, d.Name()))
		if err != nil {
			return fmt.Errorf("dkim: %w", err)
		}
		for _, f := range files {
			name, ok := strings.CutSuffix(f.Name(), ".key")
			if !ok || f.IsDir() || !strings.Contains(name, ".") {
				continue
			}
			if err := fn(filepath.Join(dir, d.Name(), f.Name()), strings.ToLower(d.Name()), f.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// sort puts Ed25519 first, then RSA, each by selector: a stable signing
// order.
func (s *Signer) sort() {
	for _, ks := range s.keys {
		slices.SortFunc(ks, func(a, b Key) int {
			if a.Algo != b.Algo {
				return strings.Compare(a.Algo, b.Algo)
			}
			return strings.Compare(a.Selector, b.Selector)
		})
	}
}

func loadKey(path, domain, selector, algo string) (Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("dkim: %w", err)
	}
	return parseKey(path, data, domain, selector, algo)
}

// parseKey reads a PEM key; path names it in errors.
func parseKey(path string, data []byte, domain, selector, algo string) (Key, error) {
	a, err := normAlgo(algo)
	if err != nil {
		return Key{}, fmt.Errorf("dkim: %s: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return Key{}, fmt.Errorf("dkim: %s: no PEM block", path)
	}
	var parsed any
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		err = fmt.Errorf("unexpected PEM type %q", block.Type)
	}
	if err != nil {
		return Key{}, fmt.Errorf("dkim: %s: %w", path, err)
	}
	k := Key{Domain: domain, Selector: selector, Algo: a}
	switch key := parsed.(type) {
	case ed25519.PrivateKey:
		if a != "ed25519" {
			return Key{}, fmt.Errorf("dkim: %s: file name says %s but holds an Ed25519 key", path, a)
		}
		k.signer = key
	case *rsa.PrivateKey:
		if a != "rsa" {
			return Key{}, fmt.Errorf("dkim: %s: file name says %s but holds an RSA key", path, a)
		}
		if key.N.BitLen() < 1024 {
			return Key{}, fmt.Errorf("dkim: %s: RSA key shorter than 1024 bits (RFC 8301 §3.2)", path)
		}
		k.signer = key
	default:
		return Key{}, fmt.Errorf("dkim: %s: unsupported key type %T", path, parsed)
	}
	return k, nil
}

// Keys returns the keys loaded, by domain then algorithm and selector.
func (s *Signer) Keys() []Key {
	var out []Key
	for _, ks := range s.keys {
		out = append(out, ks...)
	}
	slices.SortStableFunc(out, func(a, b Key) int { return strings.Compare(a.Domain, b.Domain) })
	return out
}

// Sign returns content with a DKIM-Signature header prepended for every
// key of domain, the domain of the message's From address (so that DMARC
// alignment holds, RFC 7489 §3.1.1). With domain "" the From header's
// domain is used. When domain has no key its parent domains are tried;
// with none, content is returned unchanged. The result has CRLF line
// endings.
func (s *Signer) Sign(domain string, content []byte) ([]byte, error) {
	if s == nil || len(s.keys) == 0 {
		return content, nil
	}
	if domain == "" {
		domain = fromDomain(content)
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	var keys []Key
	for d := domain; d != "" && keys == nil; {
		keys = s.keys[d]
		_, parent, ok := strings.Cut(d, ".")
		if !ok {
			break
		}
		d = parent
	}
	if len(keys) == 0 {
		return content, nil
	}
	msg := toCRLF(content)
	hk := headerKeys(msg)
	var sigs bytes.Buffer
	for _, k := range keys {
		signer, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:                 k.Domain,
			Selector:               k.Selector,
			Signer:                 k.signer,
			Hash:                   crypto.SHA256,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             hk,
		})
		if err != nil {
			return nil, fmt.Errorf("dkim: %w", err)
		}
		if _, err := signer.Write(msg); err != nil {
			signer.Close()
			return nil, fmt.Errorf("dkim: signing: %w", err)
		}
		if err := signer.Close(); err != nil {
			return nil, fmt.Errorf("dkim: signing: %w", err)
		}
		sigs.WriteString(signer.Signature())
	}
	return append(sigs.Bytes(), msg...), nil
}

// headerKeys lists the signed header fields present in msg, each as often
// as it occurs, plus one more From.
func headerKeys(msg []byte) []string {
	count := map[string]int{}
	for _, line := range strings.Split(string(header(msg)), "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, ok := strings.Cut(line, ":")
		if ok {
			count[strings.ToLower(strings.TrimSpace(name))]++
		}
	}
	var out []string
	for _, h := range signedHeaders {
		for range count[strings.ToLower(h)] {
			out = append(out, h)
		}
	}
	return append(out, "From")
}

// header returns the header section of a CRLF message.
func header(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+2]
	}
	return msg
}

// fromDomain returns the domain of the first From address, "" if none.
func fromDomain(content []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(toCRLF(content)))
	if err != nil {
		return ""
	}
	addrs, err := mail.ParseAddressList(m.Header.Get("From"))
	if err != nil || len(addrs) == 0 {
		return ""
	}
	at := strings.LastIndexByte(addrs[0].Address, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(addrs[0].Address[at+1:])
}

// toCRLF turns bare LF line endings into CRLF.
func toCRLF(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) || bytes.Count(b, []byte("\n")) == bytes.Count(b, []byte("\r\n")) {
		return b
	}
	out := make([]byte, 0, len(b)+bytes.Count(b, []byte("\n")))
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}
