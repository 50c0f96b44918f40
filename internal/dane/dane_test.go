package dane_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	"pochta/internal/dane"
	"pochta/internal/dns"
)

// issue makes a certificate for name signed by parent (self-signed when
// parent is nil).
func issue(t *testing.T, name string, ca bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		BasicConstraintsValid: true, IsCA: ca, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if !ca {
		tmpl.DNSNames = []string{name}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func rec(usage, sel, mt uint8, data []byte) dns.TLSA {
	return dns.TLSA{Usage: usage, Selector: sel, MatchingType: mt, Data: data}
}

func TestVerify(t *testing.T) {
	ca, caKey := issue(t, "Test CA", true, nil, nil)
	leaf, _ := issue(t, "mx.example.org", false, ca, caKey)
	stranger, _ := issue(t, "mx.example.org", false, nil, nil)
	chain := []*x509.Certificate{leaf, ca}
	spki256 := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	cert512 := sha512.Sum512(leaf.Raw)
	ca256 := sha256.Sum256(ca.Raw)
	caSPKI := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
	cases := []struct {
		name  string
		recs  []dns.TLSA
		host  string
		chain []*x509.Certificate
		ok    bool
	}{
		{"EE 3 1 1", []dns.TLSA{rec(3, 1, 1, spki256[:])}, "mx.example.org", chain, true},
		{"EE 3 0 2", []dns.TLSA{rec(3, 0, 2, cert512[:])}, "mx.example.org", chain, true},
		{"EE 3 0 0 ignores the name", []dns.TLSA{rec(3, 0, 0, leaf.Raw)}, "other.example.org", chain, true},
		{"EE other key", []dns.TLSA{rec(3, 1, 1, spki256[:])}, "mx.example.org", []*x509.Certificate{stranger}, false},
		{"TA 2 0 1", []dns.TLSA{rec(2, 0, 1, ca256[:])}, "mx.example.org", chain, true},
		{"TA 2 1 1", []dns.TLSA{rec(2, 1, 1, caSPKI[:])}, "mx.example.org", chain, true},
		{"TA wrong name", []dns.TLSA{rec(2, 0, 1, ca256[:])}, "other.example.org", chain, false},
		{"TA not in chain", []dns.TLSA{rec(2, 0, 1, ca256[:])}, "mx.example.org", []*x509.Certificate{leaf}, false},
		{"TA does not sign the leaf", []dns.TLSA{rec(2, 0, 1, ca256[:])}, "mx.example.org", []*x509.Certificate{stranger, ca}, false},
		{"one of several", []dns.TLSA{rec(3, 1, 1, make([]byte, 32)), rec(2, 0, 1, ca256[:])}, "mx.example.org", chain, true},
		{"no chain", []dns.TLSA{rec(3, 1, 1, spki256[:])}, "mx.example.org", nil, false},
	}
	for _, c := range cases {
		err := dane.Verify(c.recs, c.chain, c.host, time.Now())
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestUsableAndRecord(t *testing.T) {
	in := []dns.TLSA{rec(0, 0, 1, nil), rec(1, 1, 1, nil), rec(2, 0, 1, nil), rec(3, 1, 2, nil), rec(3, 2, 1, nil), rec(3, 1, 3, nil)}
	got := dane.Usable(in)
	if len(got) != 2 || got[0].Usage != 2 || got[1].Usage != 3 {
		t.Fatalf("usable %+v", got)
	}
	leaf, _ := issue(t, "mx.example.org", false, nil, nil)
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	if r := dane.Record(leaf); r != "3 1 1 "+hex.EncodeToString(sum[:]) || !strings.HasPrefix(r, "3 1 1 ") {
		t.Fatalf("record %q", r)
	}
}
