package app

import (
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"pochta/internal/config"
	"pochta/internal/envelope"
)

// This file tells mail clients where the servers are, from an address
// alone: Thunderbird's autoconfig (writeAutoconfig), Microsoft's
// Autodiscover (POX) and an Apple configuration profile.

// clientServer is one service a mail client may use.
type clientServer struct {
	proto    string // imap, pop3, smtp
	port     int
	implicit bool // TLS from the start (else STARTTLS)
}

// clientServers lists the configured client services, preferred first:
// implicit TLS before STARTTLS (RFC 8314 §5.1), IMAP before POP3.
func clientServers(cfg *config.Config) (incoming, outgoing []clientServer) {
	add := func(list *[]clientServer, proto string, addrs []string, implicit bool) {
		for _, a := range addrs {
			if _, p, err := net.SplitHostPort(a); err == nil {
				if n, err := strconv.Atoi(p); err == nil {
					*list = append(*list, clientServer{proto, n, implicit})
					return
				}
			}
		}
	}
	add(&incoming, "imap", cfg.Listen.IMAPS, true)
	add(&incoming, "imap", cfg.Listen.IMAP, false)
	add(&incoming, "pop3", cfg.Listen.POP3S, true)
	add(&incoming, "pop3", cfg.Listen.POP3, false)
	add(&outgoing, "smtp", cfg.Listen.Submissions, true)
	add(&outgoing, "smtp", cfg.Listen.Submission, false)
	return incoming, outgoing
}

// servedAddress reports whether email is an address in a domain served
// here (the answers below are for those only).
func (a *App) servedAddress(r *http.Request, email string) bool {
	if !strings.Contains(email, "@") {
		return false
	}
	_, err := a.Store.GetDomain(r.Context(), strings.ToLower(envelope.Domain(email)))
	return err == nil
}

// serveAutodiscover answers Outlook's Autodiscover POX request
// ([MS-OXDSCLI] §2.2.4): POST with the address in the XML body, or GET
// with ?email= (some clients probe that way).
func (a *App) serveAutodiscover(w http.ResponseWriter, r *http.Request, cfg *config.Config) {
	email := r.URL.Query().Get("email")
	if r.Method == http.MethodPost {
		var err error
		if email, err = parseAutodiscoverRequest(io.LimitReader(r.Body, 16<<10)); err != nil {
			http.Error(w, "bad autodiscover request", http.StatusBadRequest)
			return
		}
	}
	email = strings.TrimSpace(email)
	if !a.servedAddress(r, email) {
		http.NotFound(w, r)
		return
	}
	type protocol struct {
		Type           string `xml:"Type"`
		Server         string `xml:"Server"`
		Port           int    `xml:"Port"`
		LoginName      string `xml:"LoginName"`
		DomainRequired string `xml:"DomainRequired"`
		SPA            string `xml:"SPA"`
		SSL            string `xml:"SSL"`
		Encryption     string `xml:"Encryption,omitempty"`
		AuthRequired   string `xml:"AuthRequired"`
	}
	var protos []protocol
	in, out := clientServers(cfg)
	for _, s := range append(in, out...) {
		p := protocol{Type: strings.ToUpper(s.proto), Server: cfg.Hostname, Port: s.port, LoginName: email,
			DomainRequired: "off", SPA: "off", SSL: "on", AuthRequired: "on"}
		if !s.implicit {
			p.SSL, p.Encryption = "off", "TLS" // STARTTLS
		}
		protos = append(protos, p)
	}
	type account struct {
		AccountType string     `xml:"AccountType"`
		Action      string     `xml:"Action"`
		Protocol    []protocol `xml:"Protocol"`
	}
	doc := struct {
		XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
		Response struct {
			XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
			Account account  `xml:"Account"`
		}
	}{}
	doc.Response.Account = account{AccountType: "email", Action: "settings", Protocol: protos}
	w.Header().Set("Content-Type", "application/xml")
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	enc.Encode(doc)
}

// parseAutodiscoverRequest reads the address from a POX request
// ([MS-OXDSCLI] §2.2.3: Autodiscover/Request/EMailAddress).
func parseAutodiscoverRequest(body io.Reader) (string, error) {
	var req struct {
		XMLName xml.Name `xml:"Autodiscover"`
		Request struct {
			EMailAddress string `xml:"EMailAddress"`
		} `xml:"Request"`
	}
	if err := xml.NewDecoder(body).Decode(&req); err != nil {
		return "", err
	}
	email := strings.TrimSpace(req.Request.EMailAddress)
	if email == "" {
		return "", errors.New("autodiscover: no EMailAddress")
	}
	return email, nil
}

// serveMobileconfig returns an Apple configuration profile (an unsigned
// .mobileconfig property list) with one mail account (payload type
// com.apple.mail.managed) for ?email=; the password is asked on the
// device, never put in the file.
func (a *App) serveMobileconfig(w http.ResponseWriter, r *http.Request, cfg *config.Config) {
	email := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("email")))
	in, out := clientServers(cfg)
	if !a.servedAddress(r, email) || len(in) == 0 || len(out) == 0 || in[0].proto != "imap" {
		http.NotFound(w, r)
		return
	}
	host := strings.ToLower(strings.TrimSuffix(cfg.Hostname, "."))
	reverse := reverseDNS(host)
	var b strings.Builder
	str := func(k, v string) { fmt.Fprintf(&b, "<key>%s</key><string>%s</string>\n", k, xmlEscape(v)) }
	num := func(k string, v int) { fmt.Fprintf(&b, "<key>%s</key><integer>%d</integer>\n", k, v) }
	boolean := func(k string, v bool) { fmt.Fprintf(&b, "<key>%s</key><%t/>\n", k, v) }
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString("<plist version=\"1.0\">\n<dict>\n<key>PayloadContent</key>\n<array>\n<dict>\n")
	str("EmailAccountDescription", email)
	str("EmailAccountType", "EmailTypeIMAP")
	str("EmailAddress", email)
	str("IncomingMailServerAuthentication", "EmailAuthPassword")
	str("IncomingMailServerHostName", host)
	num("IncomingMailServerPortNumber", in[0].port)
	boolean("IncomingMailServerUseSSL", in[0].implicit)
	str("IncomingMailServerUsername", email)
	str("OutgoingMailServerAuthentication", "EmailAuthPassword")
	str("OutgoingMailServerHostName", host)
	num("OutgoingMailServerPortNumber", out[0].port)
	boolean("OutgoingMailServerUseSSL", out[0].implicit)
	str("OutgoingMailServerUsername", email)
	boolean("OutgoingPasswordSameAsIncomingPassword", true)
	str("PayloadDisplayName", "Mail: "+email)
	str("PayloadIdentifier", reverse+".mail."+profileUUID("account", email))
	str("PayloadType", "com.apple.mail.managed")
	str("PayloadUUID", profileUUID("account", email))
	num("PayloadVersion", 1)
	b.WriteString("</dict>\n</array>\n")
	str("PayloadDisplayName", email+" ("+host+")")
	str("PayloadIdentifier", reverse+".profile."+profileUUID("profile", email))
	boolean("PayloadRemovalDisallowed", false)
	str("PayloadType", "Configuration")
	str("PayloadUUID", profileUUID("profile", email))
	num("PayloadVersion", 1)
	b.WriteString("</dict>\n</plist>\n")
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="`+strings.NewReplacer(`"`, "", "\\", "").Replace(email)+`.mobileconfig"`)
	io.WriteString(w, b.String())
}

// profileUUID is a stable UUID for one payload of one address, so that
// installing the profile again replaces the old one.
func profileUUID(kind, email string) string {
	h := sha256.Sum256([]byte("pochta mobileconfig " + kind + " " + email))
	h[6] = h[6]&0x0f | 0x50 // name-based form (RFC 9562 §5.5 layout)
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func reverseDNS(host string) string {
	parts := strings.Split(host, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".")
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
