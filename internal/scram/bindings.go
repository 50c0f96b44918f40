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
// crypto/tls does not report on the server side: it is offered when cfg
// holds exactly one certificate and no callback that could choose
// another.
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
	if cfg != nil && len(cfg.Certificates) == 1 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil {
		if data := serverEndPoint(cfg.Certificates[0]); data != nil {
			b[TLSServerEndPoint] = data
		}
	}
	return b
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
