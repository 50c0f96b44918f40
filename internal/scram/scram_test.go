package scram

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	xdg "github.com/xdg-go/scram"

	"pochta/internal/scram/scramtest"
)

// TestRFC7677Vector replays RFC 7677 §3 exactly: user "user", password
// "pencil", the given nonces and salt; the server must produce the
// printed server-first and server-final messages and accept the printed
// proof. The independent client (xdg-go/scram) with the same client
// nonce must produce the printed client messages.
func TestRFC7677Vector(t *testing.T) {
	const (
		clientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
		serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
		clientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
		serverFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
	)
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	keys, err := DeriveKeys("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConversation(SHA256, nil)
	if err != nil {
		t.Fatal(err)
	}
	user, err := c.ClientFirst([]byte(clientFirst))
	if err != nil || user != "user" {
		t.Fatalf("ClientFirst = %q, %v", user, err)
	}
	c.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	if got := string(c.ServerFirst(keys)); got != serverFirst {
		t.Fatalf("server-first\n got %s\nwant %s", got, serverFirst)
	}
	got, err := c.ClientFinal([]byte(clientFinal))
	if err != nil || string(got) != serverFinal {
		t.Fatalf("server-final = %q, %v; want %s", got, err, serverFinal)
	}

	// The independent client, given the same nonce, says the same.
	cl, err := xdg.SHA256.NewClient("user", "pencil", "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.WithNonceGenerator(func() string { return "rOprNGfwEbeRWgbNEkqO" }).NewConversation()
	if m, err := conv.Step(""); err != nil || m != clientFirst {
		t.Fatalf("client-first = %q, %v", m, err)
	}
	if m, err := conv.Step(serverFirst); err != nil || m != clientFinal {
		t.Fatalf("client-final = %q, %v", m, err)
	}
	if _, err := conv.Step(serverFinal); err != nil || !conv.Valid() {
		t.Fatalf("client refused the server's signature: %v", err)
	}
}

// exchange runs the independent client against a Conversation and
// returns the server's error, if any.
func exchange(t *testing.T, mech string, b Bindings, keys func(user string) Keys, conv *xdg.ClientConversation) error {
	t.Helper()
	c, err := NewConversation(mech, b)
	if err != nil {
		return err
	}
	first, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	user, err := c.ClientFirst([]byte(first))
	if err != nil {
		return err
	}
	final, err := conv.Step(string(c.ServerFirst(keys(user))))
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.ClientFinal([]byte(final))
	if err != nil {
		return err
	}
	if _, err := conv.Step(string(v)); err != nil || !conv.Valid() {
		t.Fatalf("client refused the server's signature: %v", err)
	}
	return nil
}

func client(t *testing.T, user, pass, authz string) *xdg.Client {
	t.Helper()
	cl, err := xdg.SHA256.NewClient(user, pass, authz)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestExchange(t *testing.T) {
	keys, err := NewKeys("sécret pass") // non-ASCII: SASLprep on both sides
	if err != nil {
		t.Fatal(err)
	}
	stored, err := ParseKeys(keys.String())
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(user string) Keys {
		if user != "kate@example.org" {
			t.Fatalf("user %q", user)
		}
		return stored
	}
	if err := exchange(t, SHA256, nil, lookup, client(t, "kate@example.org", "sécret pass", "").NewConversation()); err != nil {
		t.Fatalf("good password: %v", err)
	}
	if err := exchange(t, SHA256, nil, lookup, client(t, "kate@example.org", "sécret pass", "kate@example.org").NewConversation()); err != nil {
		t.Fatalf("authzid = user: %v", err)
	}
	if err := exchange(t, SHA256, nil, lookup, client(t, "kate@example.org", "wrong", "").NewConversation()); !errors.Is(err, ErrProof) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := exchange(t, SHA256, nil, lookup, client(t, "kate@example.org", "sécret pass", "boss@example.org").NewConversation()); !errors.Is(err, ErrAuthzid) {
		t.Fatalf("other authzid: %v", err)
	}
	// "y": the client could bind but saw no -PLUS. Fine without TLS.
	if err := exchange(t, SHA256, nil, lookup, client(t, "kate@example.org", "sécret pass", "").NewConversationAdvertisingChannelBinding()); err != nil {
		t.Fatalf("y without TLS: %v", err)
	}
}

// TestFakeKeys: a user without keys gets the same salt every time, and
// no password passes.
func TestFakeKeys(t *testing.T) {
	secret := []byte("0123456789abcdef")
	a, b := FakeKeys(secret, "nobody@example.org"), FakeKeys(secret, "nobody@example.org")
	if !bytes.Equal(a.Salt, b.Salt) || a.Iterations != Iterations || len(a.Salt) != saltLen {
		t.Fatalf("fake salts differ or look unlike real ones: %x %x", a.Salt, b.Salt)
	}
	if c := FakeKeys(secret, "other@example.org"); bytes.Equal(a.Salt, c.Salt) {
		t.Fatal("two users share a fake salt")
	}
	fake := func(user string) Keys { return FakeKeys(secret, user) }
	if err := exchange(t, SHA256, nil, fake, client(t, "nobody@example.org", "", "").NewConversation()); !errors.Is(err, ErrProof) {
		t.Fatalf("fake keys: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	k, err := DeriveKeys("pencil", []byte("saltsaltsaltsalt"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	s := k.String()
	if !strings.HasPrefix(s, "{SCRAM-SHA-256}4096,") {
		t.Fatalf("stored form %q", s)
	}
	p, err := ParseKeys(s)
	if err != nil || !bytes.Equal(p.StoredKey, k.StoredKey) || !bytes.Equal(p.ServerKey, k.ServerKey) || !bytes.Equal(p.Salt, k.Salt) {
		t.Fatalf("round trip: %+v, %v", p, err)
	}
	for _, bad := range []string{
		"",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$a2V5",
		strings.Replace(s, "{SCRAM-SHA-256}4096", "{SCRAM-SHA-256}100", 1),       // too few iterations
		strings.Replace(s, "{SCRAM-SHA-256}4096", "{SCRAM-SHA-256}999999999", 1), // too many
		strings.Replace(s, "{SCRAM-SHA-256}", "{SCRAM-SHA-1}", 1),                // other hash
		s + ",x",
		s[:len(s)-4],
	} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
	if _, err := DeriveKeys("pencil", []byte("salt"), 1000); err == nil {
		t.Error("DeriveKeys took 1000 iterations")
	}
	if _, err := NewKeys("ctrl\x07char"); err == nil {
		t.Error("SASLprep let a control character through")
	}
}

// tlsConn completes a TLS handshake over an in-memory pipe and returns
// both sides' states and the server's config.
func tlsConn(t *testing.T, maxVersion uint16) (server, client tls.ConnectionState, cfg *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.example.org"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"mail.example.org"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MaxVersion: maxVersion}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, cfg)
	cl := tls.Client(b, &tls.Config{InsecureSkipVerify: true, MaxVersion: maxVersion})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cl.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return srv.ConnectionState(), cl.ConnectionState(), cfg
}

// TestChannelBinding: SCRAM-SHA-256-PLUS with both binding types the
// independent client computes from its side of the connection, and the
// ways a binding must fail (RFC 5802 §6).
func TestChannelBinding(t *testing.T) {
	keys, err := NewKeys("pencil")
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(string) Keys { return keys }
	scs, ccs, cfg := tlsConn(t, 0)
	b := TLSBindings(scs, cfg)
	if got := strings.Join(b.Types(), " "); got != "tls-exporter tls-server-end-point" {
		t.Fatalf("bindings offered over TLS 1.3: %s", got)
	}
	if got := strings.Join(b.Mechanisms(), " "); got != "SCRAM-SHA-256-PLUS SCRAM-SHA-256" {
		t.Fatalf("mechanisms: %s", got)
	}
	exp, err := xdg.NewTLSExporterBinding(&ccs)
	if err != nil {
		t.Fatal(err)
	}
	sep, err := xdg.NewTLSServerEndpointBinding(&ccs)
	if err != nil {
		t.Fatal(err)
	}
	cl := client(t, "user", "pencil", "")
	for _, cb := range []xdg.ChannelBinding{exp, sep} {
		if err := exchange(t, SHA256Plus, b, lookup, cl.NewConversationWithChannelBinding(cb)); err != nil {
			t.Fatalf("%s: %v", cb.Type, err)
		}
	}
	tampered := xdg.ChannelBinding{Type: exp.Type, Data: append([]byte(nil), exp.Data...)}
	tampered.Data[0] ^= 1
	other, _, _ := tlsConn(t, 0) // the binding of another connection
	for name, tc := range map[string]struct {
		mech string
		conv *xdg.ClientConversation
	}{
		"tampered data":            {SHA256Plus, cl.NewConversationWithChannelBinding(tampered)},
		"unknown type":             {SHA256Plus, cl.NewConversationWithChannelBinding(xdg.ChannelBinding{Type: "tls-unique", Data: exp.Data})},
		"n under -PLUS":            {SHA256Plus, cl.NewConversation()},
		"p under plain mechanism":  {SHA256, cl.NewConversationWithChannelBinding(exp)},
		"y while -PLUS is offered": {SHA256, cl.NewConversationAdvertisingChannelBinding()},
	} {
		if err := exchange(t, tc.mech, b, lookup, tc.conv); !errors.Is(err, ErrChannelBinding) {
			t.Errorf("%s: %v, want ErrChannelBinding", name, err)
		}
	}
	if err := exchange(t, SHA256Plus, TLSBindings(other, cfg), lookup, cl.NewConversationWithChannelBinding(exp)); !errors.Is(err, ErrChannelBinding) {
		t.Errorf("binding of another connection: %v", err)
	}
	// The plain mechanism still works over TLS for a client without binding.
	if err := exchange(t, SHA256, b, lookup, cl.NewConversation()); err != nil {
		t.Fatalf("n over TLS: %v", err)
	}
	if _, err := NewConversation(SHA256Plus, nil); err == nil {
		t.Fatal("-PLUS accepted without TLS")
	}

	// TLS 1.2: tls-exporter only with the extended master secret, which
	// Go always negotiates; tls-server-end-point as before.
	scs, ccs, cfg = tlsConn(t, tls.VersionTLS12)
	b = TLSBindings(scs, cfg)
	if got := strings.Join(b.Types(), " "); got != "tls-exporter tls-server-end-point tls-unique" {
		t.Fatalf("bindings offered over TLS 1.2: %s", got)
	}
	sep, err = xdg.NewTLSServerEndpointBinding(&ccs)
	if err != nil {
		t.Fatal(err)
	}
	exp, err = xdg.NewTLSExporterBinding(&ccs)
	if err != nil {
		t.Fatal(err)
	}
	for _, cb := range []xdg.ChannelBinding{exp, sep, xdg.NewTLSUniqueBinding(ccs.TLSUnique)} {
		if err := exchange(t, SHA256Plus, b, lookup, cl.NewConversationWithChannelBinding(cb)); err != nil {
			t.Fatalf("TLS 1.2 %s: %v", cb.Type, err)
		}
	}
	// Two certificates: the server cannot know which one was sent.
	cfg2 := cfg.Clone()
	cfg2.Certificates = append(cfg2.Certificates, cfg.Certificates[0])
	if _, ok := TLSBindings(scs, cfg2)[TLSServerEndPoint]; ok {
		t.Fatal("tls-server-end-point offered with two certificates")
	}
}

// TestServerEndPointFromCallback: a tls.Config that chooses its
// certificate by callback, as the ACME manager's does (GetCertificate
// gives the current certificate, GetConfigForClient only answers
// TLS-ALPN-01 validations), still offers tls-server-end-point, for the
// certificate the callback serves; the client's binding matches.
func TestServerEndPointFromCallback(t *testing.T) {
	scs, ccs, cfg := tlsConn(t, 0)
	acmeLike := &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cfg.Certificates[0], nil },
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			if slices.Contains(h.SupportedProtos, "acme-tls/1") {
				return nil, errors.New("no challenge")
			}
			return nil, nil
		},
	}
	b := TLSBindings(scs, acmeLike)
	sep, err := xdg.NewTLSServerEndpointBinding(&ccs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[TLSServerEndPoint], sep.Data) {
		t.Fatalf("tls-server-end-point %x, client computes %x", b[TLSServerEndPoint], sep.Data)
	}
	keys, err := NewKeys("pencil")
	if err != nil {
		t.Fatal(err)
	}
	if err := exchange(t, SHA256Plus, b, func(string) Keys { return keys }, client(t, "user", "pencil", "").NewConversationWithChannelBinding(sep)); err != nil {
		t.Fatal(err)
	}
	// A callback that fails: nothing to bind the certificate to.
	failing := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, errors.New("none") }}
	if _, ok := TLSBindings(scs, failing)[TLSServerEndPoint]; ok {
		t.Fatal("tls-server-end-point offered without a certificate")
	}
}

// TestMalformed: messages outside RFC 5802 §7's grammar fail with an
// error, never a panic.
func TestMalformed(t *testing.T) {
	for _, m := range []string{
		"", "n", "n,", "n,,", "n,,n=user", "n,,r=abc", "x,,n=user,r=abc", "n,b=x,n=user,r=abc",
		"n,,n=,r=abc", "n,,n=a=2Xb,r=abc", "n,,n=user,r=", "n,,n=user,r=a b",
		"n,,m=ext,n=user,r=abc", "n,,n=\xff,r=abc", "n,,n=user,r=abc" + strings.Repeat("x", MaxMessage),
	} {
		c, _ := NewConversation(SHA256, nil)
		if _, err := c.ClientFirst([]byte(m)); err == nil {
			t.Errorf("ClientFirst(%q) accepted", m)
		}
	}
	keys, _ := DeriveKeys("pencil", []byte("saltsaltsaltsalt"), 4096)
	for _, m := range []string{
		"", "c=biws", "c=biws,r=x,p=AAAA", "c=!!,r=x,p=AAAA", "r=x,c=biws,p=AAAA",
		"c=biws,r=cnonce,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
	} {
		c, _ := NewConversation(SHA256, nil)
		if _, err := c.ClientFirst([]byte("n,,n=user,r=cnonce")); err != nil {
			t.Fatal(err)
		}
		c.ServerFirst(keys)
		if _, err := c.ClientFinal([]byte(m)); err == nil {
			t.Errorf("ClientFinal(%q) accepted", m)
		}
	}
	c, _ := NewConversation(SHA256, nil)
	if user, err := c.ClientFirst([]byte("n,a=a=2Cb=3D,n=a=2Cb=3D,r=abc")); err != nil || user != "a,b=" {
		t.Fatalf("escaped name: %q, %v", user, err)
	}
	if _, err := c.ClientFinal([]byte("c=biws,r=x,p=AAAA")); err == nil {
		t.Fatal("ClientFinal before ServerFirst accepted")
	}
}

// FuzzConversation: no client message makes the server panic or accept
// a proof it cannot have checked.
func FuzzConversation(f *testing.F) {
	f.Add([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), []byte("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	f.Add([]byte("p=tls-exporter,a=x,n=x,r=y,e=z"), []byte("c=cD10bHMtZXhwb3J0ZXIsLA==,r=y,p=AAAA"))
	keys, _ := DeriveKeys("pencil", []byte("saltsaltsaltsalt"), 4096)
	f.Fuzz(func(t *testing.T, first, final []byte) {
		for _, mech := range []string{SHA256, SHA256Plus} {
			c, err := NewConversation(mech, Bindings{TLSExporter: make([]byte, 32)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.ClientFirst(first); err != nil {
				continue
			}
			c.ServerFirst(keys)
			if _, err := c.ClientFinal(final); err == nil {
				t.Fatalf("fuzzed proof accepted: %q %q", first, final)
			}
		}
	})
}

// TestGSASLMkpasswd: the stored form is GNU SASL's (and Dovecot's):
// gsasl --mkpasswd derives the same verifier from RFC 7677's password,
// salt and iteration count.
func TestGSASLMkpasswd(t *testing.T) {
	out, err := scramtest.GSASL(t, "--mkpasswd", "-m", "SCRAM-SHA-256", "--password", "pencil", "--iteration-count", "4096", "--salt", "W22ZaJ0SNY7soEsUEjb6gQ==")
	if err != nil {
		t.Fatalf("gsasl --mkpasswd: %v\n%s", err, out)
	}
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	k, err := DeriveKeys("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{SCRAM-SHA-256}") {
			line = strings.Join(strings.Split(l, ",")[:4], ",") // --verbose adds the salted password
		}
	}
	if line != k.String() {
		t.Fatalf("gsasl: %q\n ours: %q", line, k.String())
	}
}

// BenchmarkServerExchange measures the server's share of one SCRAM
// login (the client's PBKDF2 is cached by the client and not counted).
func BenchmarkServerExchange(b *testing.B) {
	keys, err := NewKeys("pencil")
	if err != nil {
		b.Fatal(err)
	}
	cl, _ := xdg.SHA256.NewClient("user", "pencil", "")
	for i := 0; i < b.N; i++ {
		conv := cl.NewConversation()
		c, _ := NewConversation(SHA256, nil)
		first, _ := conv.Step("")
		c.ClientFirst([]byte(first))
		final, _ := conv.Step(string(c.ServerFirst(keys)))
		if _, err := c.ClientFinal([]byte(final)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewKeys measures deriving a verifier (user add, passwd, the
// first PLAIN login of an older account): Iterations rounds of PBKDF2.
func BenchmarkNewKeys(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := NewKeys("pencil"); err != nil {
			b.Fatal(err)
		}
	}
}
