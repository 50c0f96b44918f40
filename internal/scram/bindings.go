package scram

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"hash"
	"net"
	"slices"
)

// Channel-binding types a connection can offer.
const (
	// TLSExporter is RFC 9266's binding: 32 bytes of keying material
	// exported under the label "EXPORTER-Channel-Binding", no context.
	TLSExporter = "tls-exporter"
	// TLSServerEndPoint is RFC 5929 §4's binding: a hash of the server's
	// certificate.
	TLSServerEndPoint = "tls-server-end-point"
	// TLSUnique is RFC 5929 §3's binding, the first Finished message,
	// which RFC 5802 makes mandatory and TLS 1.2 clients (GNU SASL) still
	// choose; TLS 1.3 has none (RFC 9266 §4).
	TLSUnique = "tls-unique"
)

// Bindings maps a channel-binding type to this connection's data. It is
// empty without TLS; then only SHA256 is offered.
type Bindings map[string][]byte

// Mechanisms lists the SCRAM mechanisms to advertise on a connection
// with these bindings, best first: -PLUS only where there is a channel
// to bind to (RFC 5802 §6).
func (b Bindings) Mechanisms() []string {
	if len(b) == 0 {
		return []string{SHA256}
	}
	return []string{SHA256Plus, SHA256}
}

// Types lists the offered binding types, sorted.
func (b Bindings) Types() []string {
	var t []string
	for k := range b {
		t = append(t, k)
	}
	slices.Sort(t)
	return t
}

// TLSBindings returns the channel bindings of a server-side TLS
// connection whose handshake is complete; cfg is the tls.Config it was
// made with. tls-exporter is there whenever the connection can export
// keying material (TLS 1.3; TLS 1.2 only with the extended master
// secret, which crypto/tls enforces, as RFC 9266 §3 asks); tls-unique
// on TLS 1.2 where crypto/tls gives it (not on a resumed session
// without the extended master secret: the triple-handshake attack).
// tls-server-end-point needs the certificate the server sent, which
// crypto/tls does not report on the server side: it is the one cfg
// chooses for this connection's server name (servedCertificate), e.g.
// the ACME certificate; when that cannot be told, it is not offered.
func TLSBindings(cs tls.ConnectionState, cfg *tls.Config) Bindings {
	b := Bindings{}
	if !cs.HandshakeComplete {
		return b
	}
	if data, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32); err == nil {
		b[TLSExporter] = data
	}
	if len(cs.TLSUnique) > 0 { // crypto/tls leaves it out where unsafe
		b[TLSUnique] = cs.TLSUnique
	}
	if cert := servedCertificate(cs, cfg, 2); cert != nil {
		if data := serverEndPoint(*cert); data != nil {
			b[TLSServerEndPoint] = data
		}
	}
	return b
}

// servedCertificate is the certificate cfg serves on a connection with
// state cs, asked again the way crypto/tls chose it: GetConfigForClient
// (ACME's answers only TLS-ALPN-01 validations), then Certificates
// without SNI or when they are the only source, else GetCertificate
// (ACME's returns the current certificate). nil when it cannot be told
// (several static certificates). A certificate renewed between the
// handshake and the login makes this one differ from the one sent; the
// client's -PLUS exchange with tls-server-end-point then fails, a safe
// failure (tls-exporter, which TLS 1.3 clients choose, is unaffected).
func servedCertificate(cs tls.ConnectionState, cfg *tls.Config, depth int) *tls.Certificate {
	if cfg == nil || depth == 0 {
		return nil
	}
	hello := &tls.ClientHelloInfo{ServerName: cs.ServerName}
	if cs.NegotiatedProtocol != "" {
		hello.SupportedProtos = []string{cs.NegotiatedProtocol}
	}
	if cfg.GetConfigForClient != nil {
		c, err := cfg.GetConfigForClient(hello)
		if err != nil {
			return nil
		}
		if c != nil {
			return servedCertificate(cs, c, depth-1)
		}
	}
	if cfg.GetCertificate != nil && (len(cfg.Certificates) == 0 || cs.ServerName != "") {
		c, err := cfg.GetCertificate(hello)
		if err != nil {
			return nil
		}
		if c != nil {
			return c
		}
	}
	if len(cfg.Certificates) == 1 {
		return &cfg.Certificates[0]
	}
	return nil
}

// ConnBindings is TLSBindings for a server's connection: empty unless
// conn is a *tls.Conn, made with cfg.
func ConnBindings(conn net.Conn, cfg *tls.Config) Bindings {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return Bindings{}
	}
	return TLSBindings(tc.ConnectionState(), cfg)
}

// serverEndPoint hashes the certificate as RFC 5929 §4.1 says: with the
// hash of its signature algorithm, SHA-256 when that is MD5 or SHA-1. An
// algorithm without a single hash (Ed25519) has no binding defined.
func serverEndPoint(cert tls.Certificate) []byte {
	if len(cert.Certificate) == 0 {
		return nil
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil
		}
	}
	var h func() hash.Hash
	switch leaf.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256, x509.DSAWithSHA256:
		h = sha256.New
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = sha512.New384
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = sha512.New
	default:
		return nil
	}
	d := h()
	d.Write(cert.Certificate[0])
	return d.Sum(nil)
}
