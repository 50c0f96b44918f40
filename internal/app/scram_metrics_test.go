package app

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"

	"pochta/internal/config"
	"pochta/internal/scram/scramtest"
)

// TestSCRAMLoginsCounted: SCRAM-SHA-256 logins move pochta_logins_total
// as PLAIN and LOGIN do — a wrong password over IMAP and SMTP submission
// as failed, a right one as ok — under the protocol's label.
func TestSCRAMLoginsCounted(t *testing.T) {
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.Listen.Metrics = []string{"127.0.0.1:0"}
		c.Auth.FailureDelay, c.Auth.MaxFailureDelay = config.D(time.Millisecond), config.D(time.Millisecond)
	})
	// The SCRAM verifier comes with a password set through manage.
	if _, err := a.Manager().SetPassword(context.Background(), "kate@example.test", "pw"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.Addrs()["metrics"][0]
	before := scrape(t, base+"/metrics")

	imapSCRAM := func(pass string) error {
		c, err := imapclient.DialInsecure(a.Addrs()["imap"][0], nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Authenticate(scramtest.New(t, "kate@example.test", pass, scramtest.Binding{}))
	}
	if err := imapSCRAM("wrong"); err == nil {
		t.Fatal("IMAP SCRAM with a wrong password succeeded")
	}
	if err := imapSCRAM("pw"); err != nil {
		t.Fatalf("IMAP SCRAM: %v", err)
	}
	c, err := gosmtp.Dial(a.Addrs()["submission"][0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(scramtest.New(t, "kate@example.test", "wrong", scramtest.Binding{})); err == nil {
		t.Fatal("SMTP SCRAM with a wrong password succeeded")
	}

	after := scrape(t, base+"/metrics")
	for _, w := range []struct {
		proto, result string
	}{{"imap", "failed"}, {"imap", "ok"}, {"smtp", "failed"}} {
		labels := map[string]string{"protocol": w.proto, "result": w.result}
		if d := sample(after, "pochta_logins_total", labels) - sample(before, "pochta_logins_total", labels); d != 1 {
			t.Errorf("pochta_logins_total%v moved by %v, want 1", labels, d)
		}
	}
}
