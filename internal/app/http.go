package app

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"pochta/internal/config"
	"pochta/internal/jmap"
	"pochta/internal/mtasts"
	"pochta/internal/web"
)

// newHTTPServer serves the small HTTP side of pochta: a health check and
// the Thunderbird-style autoconfig document (so mail clients find the
// servers from an address alone), JMAP and the webmail (nil: none).
func newHTTPServer(a *App, cfg *config.Config, mail *jmap.Server, webmail *web.Server) *http.Server {
	mux := http.NewServeMux()
	mail.Register(mux)
	if webmail != nil {
		webmail.Register(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		// The store's database answers (with PostgreSQL: this node
		// reaches it).
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := a.Store.Ping(ctx); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	autoconfig := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.Write([]byte(xml.Header))
		writeAutoconfig(w, cfg, r.URL.Query().Get("emailaddress"))
	}
	mux.HandleFunc("GET /mail/config-v1.1.xml", autoconfig)
	mux.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", autoconfig)
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

func newHTTPSServer(a *App, cfg *config.Config, tlsConfig *tls.Config, mail *jmap.Server, webmail *web.Server) httpsServer {
	s := newHTTPServer(a, cfg, mail, webmail)
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
	add := func(list *[]server, typ string, addrs []string, socket string) {
		for _, a := range addrs {
			if _, port, err := net.SplitHostPort(a); err == nil {
				*list = append(*list, server{typ, cfg.Hostname, port, socket, "%EMAILADDRESS%", "password-cleartext"})
				return
			}
		}
	}
	add(&in, "imap", cfg.Listen.IMAPS, "SSL")
	add(&in, "imap", cfg.Listen.IMAP, "STARTTLS")
	add(&in, "pop3", cfg.Listen.POP3S, "SSL")
	add(&in, "pop3", cfg.Listen.POP3, "STARTTLS")
	add(&out, "smtp", cfg.Listen.Submissions, "SSL")
	add(&out, "smtp", cfg.Listen.Submission, "STARTTLS")
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

// firstPort is the port of the first listen address ("" when none).
func firstPort(addrs []string) string {
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a); err == nil {
			return port
		}
	}
	return ""
}
