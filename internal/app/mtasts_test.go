package app

import (
	"io"
	"net/http"
	"testing"

	"pochta/internal/mtasts"
)

// TestServeMTASTSPolicy: the http listener serves our MTA-STS policy for
// Host mta-sts.DOMAIN of a served domain (any port), and nothing for
// other names; the policy is the one `pochta dns records` announces.
func TestServeMTASTSPolicy(t *testing.T) {
	a := startApp(t)
	addr := a.Addrs()["http"][0]
	get := func(host string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+addr+"/.well-known/mta-sts.txt", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := get("mta-sts.example.test:8443")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p, err := mtasts.Parse(body)
	if err != nil {
		t.Fatalf("%v in %q", err, body)
	}
	if p.Mode != "testing" || !p.Matches("mx.example.test") || len(p.MX) != 1 {
		t.Fatalf("policy %+v", p)
	}
	if want := mtasts.Published("testing", "mx.example.test"); p.ID() != want.ID() {
		t.Fatalf("served policy differs from the announced one:\n%s", body)
	}
	for _, host := range []string{"mta-sts.other.test", "example.test", "www.example.test"} {
		if resp, _ := get(host); resp.StatusCode != 404 {
			t.Errorf("Host %s: %d", host, resp.StatusCode)
		}
	}
}
