package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLimitsWithDefaults(t *testing.T) {
	d := Default().Limits
	if got := (Limits{}).WithDefaults(); !reflect.DeepEqual(got, d) {
		t.Fatalf("zero Limits.WithDefaults() = %+v, want %+v", got, d)
	}
	if got := (Limits{MaxErrors: -1, CommandTimeout: D(-time.Second)}).WithDefaults(); !reflect.DeepEqual(got, d) {
		t.Fatalf("negative limits not replaced: %+v", got)
	}
	set := Limits{
		MaxMessageSize: 1, MaxRecipients: 2, MaxLineLength: 3, MaxConnections: 4,
		MaxConnectionsPerIP: 5, CommandTimeout: D(6), DataTimeout: D(7),
		MaxErrors: 8, IMAPIdleTimeout: D(9), IMAPLiteralSize: 10, MaxJunkCommands: 11,
		ConnectionLimitExceptions: []string{},
		ConnectionsPerMinutePerIP: 12, MessagesPerMinutePerIP: 13, MessagesPerMinutePerAccount: 14,
		AuthFailuresPerHourPerIP: 15, OutgoingMessagesPerDay: 16, OutgoingRecipientsPerDay: 17,
		AuthFailuresPerHourPerUser: 18, LoginsPerMinutePerAccount: 19, MaxHops: 20,
	}
	if got := set.WithDefaults(); !reflect.DeepEqual(got, set) {
		t.Fatalf("set limits changed: %+v, want %+v", got, set)
	}
}

func TestConnectionLimitExceptions(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if got := (Limits{}).PerIPExempt(); !reflect.DeepEqual(got, loopback) {
		t.Fatalf("unset: %v, want loopback %v", got, loopback)
	}
	dir := t.TempDir()
	load := func(body string) (*Config, error) {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte("data_dir = \"d\"\n[limits]\n"+body), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(p)
	}
	c, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Limits.PerIPExempt(); !reflect.DeepEqual(got, loopback) {
		t.Fatalf("default file: %v, want loopback", got)
	}
	if c.Limits.MaxJunkCommands != 100 {
		t.Fatalf("max_junk_commands default %d, want 100", c.Limits.MaxJunkCommands)
	}
	c, err = load("connection_limit_exceptions = []\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Limits.WithDefaults().PerIPExempt(); len(got) != 0 {
		t.Fatalf("[] means no exceptions, got %v", got)
	}
	c, err = load("connection_limit_exceptions = [\"10.1.2.3/8\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Limits.PerIPExempt(); !reflect.DeepEqual(got, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}) {
		t.Fatalf("got %v", got)
	}
	_, err = load("connection_limit_exceptions = [\"10.1.2.3\"]\nmax_junk_commands = 0\n")
	for _, key := range []string{"limits.connection_limit_exceptions[0]", "limits.max_junk_commands"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Fatalf("error %v does not name %s", err, key)
		}
	}
}

func TestAuthCacheKeys(t *testing.T) {
	d := Default().Auth
	if d.CacheTTL.Duration != 5*time.Minute || d.CacheSize != 10000 || d.MaxConcurrentHashes != 0 {
		t.Fatalf("defaults %+v", d)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "c.toml")
	write := func(body string) {
		if err := os.WriteFile(p, []byte("data_dir = \"d\"\n[auth]\n"+body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cache_ttl = \"0s\"\ncache_size = 5\nmax_concurrent_hashes = 3\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.CacheTTL.Duration != 0 || c.Auth.CacheSize != 5 || c.Auth.MaxConcurrentHashes != 3 {
		t.Fatalf("loaded %+v", c.Auth)
	}
	write("cache_ttl = \"-1s\"\ncache_size = 0\nmax_concurrent_hashes = -1\n")
	_, err = Load(p)
	for _, key := range []string{"auth.cache_ttl", "auth.cache_size", "auth.max_concurrent_hashes"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Fatalf("error %v does not name %s", err, key)
		}
	}
}
