package app

import (
	"crypto/tls"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"pochta/internal/config"
	"pochta/internal/jmap"
	"pochta/internal/mtasts"
)

// newHTTPServer serves the small HTTP side of pochta: a health check and
// the Thunderbird-style autoconfig document (so mail clients find the
// servers from an address alone), and JMAP.
func newHTTPServer(a *App, cfg *config.Config, mail *jmap.Server) *http.Server {
	mux := http.NewServeMux()
	mail.Register(mux)
	if a.admin != nil {
		a.admin.Register(mux)
	}
	a.addHealth(mux)
	mux.Handle("GET /metrics", loopbackOnly(a.Metrics.Handler()))
	autoconfig := func(w http.ResponseWriter, r *http.Request) {
		if email := r.URL.Query().Get("emailaddress"); email != "" && !a.servedAddress(r, email) {
			http.NotFound(w, r) // answer for the domains served here only
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Write([]byte(xml.Header))
		writeAutoconfig(w, cfg, r.URL.Query().Get("emailaddress"))
	}
	mux.HandleFunc("GET /mail/config-v1.1.xml", autoconfig)
	mux.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", autoconfig)
	autodiscover := func(w http.ResponseWriter, r *http.Request) { a.serveAutodiscover(w, r, cfg) }
	for _, p := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"} {
		mux.HandleFunc("GET "+p, autodiscover)
		mux.HandleFunc("POST "+p, autodiscover)
	}
	mux.HandleFunc("GET /apple/profile.mobileconfig", func(w http.ResponseWriter, r *http.Request) {
		a.serveMobileconfig(w, r, cfg)
	})
	if a.ACME != nil {
		mux.Handle("GET /.well-known/acme-challenge/", a.ACME.HTTPHandler())
	}
	mux.HandleFunc("GET /.well-known/mta-sts.txt", func(w http.ResponseWriter, r *http.Request) {
		serveMTASTS(w, r, a, cfg)
	})
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// httpsServer is the HTTP service over TLS ([listen] https).
type httpsServer struct{ *http.Server }

func (s httpsServer) Serve(l net.Listener) error { return s.ServeTLS(l, "", "") }

func newHTTPSServer(a *App, cfg *config.Config, tlsConfig *tls.Config, mail *jmap.Server) httpsServer {
	s := newHTTPServer(a, cfg, mail)
	s.TLSConfig = tlsConfig.Clone()
	return httpsServer{s}
}

// serveMTASTS answers https://mta-sts.DOMAIN/.well-known/mta-sts.txt
// (RFC 8461 §3.2) for each domain served here; the Host is matched
// without its port.
func serveMTASTS(w http.ResponseWriter, r *http.Request, a *App, cfg *config.Config) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	domain, ok := strings.CutPrefix(strings.ToLower(strings.TrimSuffix(host, ".")), "mta-sts.")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if _, err := a.Store.GetDomain(r.Context(), domain); err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, mtasts.Published(cfg.TLS.MTASTSMode, cfg.Hostname).String())
}

func writeAutoconfig(w http.ResponseWriter, cfg *config.Config, email string) {
	domain := cfg.Hostname
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		domain = email[i+1:]
	}
	type server struct {
		Type       string `xml:"type,attr"`
		Hostname   string `xml:"hostname"`
		Port       string `xml:"port"`
		SocketType string `xml:"socketType"`
		Username   string `xml:"username"`
		Auth       string `xml:"authentication"`
	}
	var in, out []server
	conv := func(list []clientServer) []server {
		var out []server
		for _, c := range list {
			socket := "STARTTLS"
			if c.implicit {
				socket = "SSL"
			}
			out = append(out, server{c.proto, cfg.Hostname, strconv.Itoa(c.port), socket, "%EMAILADDRESS%", "password-cleartext"})
		}
		return out
	}
	cin, cout := clientServers(cfg)
	in, out = conv(cin), conv(cout)
	doc := struct {
		XMLName  xml.Name `xml:"clientConfig"`
		Version  string   `xml:"version,attr"`
		Provider struct {
			ID       string   `xml:"id,attr"`
			Domain   string   `xml:"domain"`
			Display  string   `xml:"displayName"`
			Incoming []server `xml:"incomingServer"`
			Outgoing []server `xml:"outgoingServer"`
		} `xml:"emailProvider"`
	}{Version: "1.1"}
	doc.Provider.ID = domain
	doc.Provider.Domain = domain
	doc.Provider.Display = domain + " (pochta)"
	doc.Provider.Incoming = in
	doc.Provider.Outgoing = out
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	enc.Encode(doc)
}
