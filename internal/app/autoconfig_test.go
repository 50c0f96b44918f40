package app

import (
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
)

// get fetches url (POST with body when body != "") and returns the
// status and body.
func get(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	var resp *http.Response
	var err error
	if body == "" {
		resp, err = http.Get(url)
	} else {
		resp, err = http.Post(url, "text/xml", strings.NewReader(body))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestClientAutoconfiguration: Thunderbird autoconfig (both paths),
// Outlook Autodiscover (POST and GET) and the Apple profile answer for a
// served domain with the configured ports, parsed as XML; an unknown
// domain gets 404.
func TestClientAutoconfiguration(t *testing.T) {
	a := startApp(t)
	base := "http://" + a.Addrs()["http"][0]
	// The listeners are configured as 127.0.0.1:0: clients are told the
	// configured port (0 here), as they would be 993 in production.
	type server struct {
		Type       string `xml:"type,attr"`
		Hostname   string `xml:"hostname"`
		Port       string `xml:"port"`
		SocketType string `xml:"socketType"`
		Username   string `xml:"username"`
	}
	var tb struct {
		Provider struct {
			Domain   string   `xml:"domain"`
			Incoming []server `xml:"incomingServer"`
			Outgoing []server `xml:"outgoingServer"`
		} `xml:"emailProvider"`
	}
	for _, path := range []string{"/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"} {
		code, b := get(t, base+path+"?emailaddress=kate@example.test", "")
		tb.Provider.Incoming, tb.Provider.Outgoing = nil, nil
		if code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
		if err := xml.Unmarshal(b, &tb); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, b)
		}
		p := tb.Provider
		if p.Domain != "example.test" || len(p.Incoming) != 4 || len(p.Outgoing) != 2 ||
			p.Incoming[0] != (server{"imap", "mx.example.test", "0", "SSL", "%EMAILADDRESS%"}) ||
			p.Outgoing[1].SocketType != "STARTTLS" {
			t.Fatalf("%s: %+v", path, p)
		}
		if code, _ := get(t, base+path+"?emailaddress=kate@unknown.test", ""); code != 404 {
			t.Fatalf("%s for an unknown domain: %d", path, code)
		}
	}

	type protocol struct {
		Type, Server, LoginName, SSL, Encryption string
		Port                                     int
	}
	var ad struct {
		XMLName  xml.Name
		Response struct {
			XMLName xml.Name
			Account struct {
				AccountType, Action string
				Protocol            []protocol
			}
		}
	}
	req := `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request><EMailAddress>kate@example.test</EMailAddress>
  <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request>
</Autodiscover>`
	for _, try := range []struct{ url, body string }{
		{base + "/autodiscover/autodiscover.xml", req},
		{base + "/Autodiscover/Autodiscover.xml", req},
		{base + "/autodiscover/autodiscover.xml?email=kate@example.test", ""},
	} {
		code, b := get(t, try.url, try.body)
		ad.Response.Account.Protocol = nil
		if code != 200 {
			t.Fatalf("%s: %d %s", try.url, code, b)
		}
		if err := xml.Unmarshal(b, &ad); err != nil {
			t.Fatalf("%s: %v\n%s", try.url, err, b)
		}
		acct := ad.Response.Account
		if ad.XMLName.Space != "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006" ||
			ad.Response.XMLName.Space != "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a" ||
			acct.AccountType != "email" || acct.Action != "settings" || len(acct.Protocol) != 6 {
			t.Fatalf("%s: %+v\n%s", try.url, ad, b)
		}
		first, smtp := acct.Protocol[0], acct.Protocol[5]
		if first != (protocol{Type: "IMAP", Server: "mx.example.test", LoginName: "kate@example.test", SSL: "on"}) ||
			smtp.Type != "SMTP" || smtp.SSL != "off" || smtp.Encryption != "TLS" {
			t.Fatalf("%s: protocols %+v", try.url, acct.Protocol)
		}
	}
	if code, _ := get(t, base+"/autodiscover/autodiscover.xml", strings.Replace(req, "example.test", "unknown.test", 1)); code != 404 {
		t.Fatalf("autodiscover for an unknown domain: %d", code)
	}
	if code, _ := get(t, base+"/autodiscover/autodiscover.xml", "not xml"); code != 400 {
		t.Fatalf("autodiscover with a broken body: %d", code)
	}

	code, b := get(t, base+"/apple/profile.mobileconfig?email=Kate@example.test", "")
	if code != 200 {
		t.Fatalf("mobileconfig: %d", code)
	}
	// The plist parses, and its keys are followed by their values.
	var plist struct {
		Dict struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(b, &plist); err != nil {
		t.Fatalf("mobileconfig: %v\n%s", err, b)
	}
	for _, want := range []string{
		"<key>EmailAddress</key><string>kate@example.test</string>",
		"<key>IncomingMailServerHostName</key><string>mx.example.test</string>",
		"<key>IncomingMailServerUseSSL</key><true/>",
		"<key>OutgoingMailServerPortNumber</key><integer>0</integer>",
		"<key>PayloadType</key><string>com.apple.mail.managed</string>",
		"<key>PayloadType</key><string>Configuration</string>",
	} {
		if !strings.Contains(string(plist.Dict.Inner), want) {
			t.Errorf("mobileconfig lacks %s:\n%s", want, b)
		}
	}
	if code, _ := get(t, base+"/apple/profile.mobileconfig?email=kate@unknown.test", ""); code != 404 {
		t.Fatalf("mobileconfig for an unknown domain: %d", code)
	}
}
