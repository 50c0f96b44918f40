package config

import (
	"testing"
	"time"
)

func TestLimitsWithDefaults(t *testing.T) {
	d := Default().Limits
	if got := (Limits{}).WithDefaults(); got != d {
		t.Fatalf("zero Limits.WithDefaults() = %+v, want %+v", got, d)
	}
	if got := (Limits{MaxErrors: -1, CommandTimeout: D(-time.Second)}).WithDefaults(); got != d {
		t.Fatalf("negative limits not replaced: %+v", got)
	}
	set := Limits{
		MaxMessageSize: 1, MaxRecipients: 2, MaxLineLength: 3, MaxConnections: 4,
		MaxConnectionsPerIP: 5, CommandTimeout: D(6), DataTimeout: D(7),
		MaxErrors: 8, IMAPIdleTimeout: D(9), IMAPLiteralSize: 10,
	}
	if got := set.WithDefaults(); got != set {
		t.Fatalf("set limits changed: %+v, want %+v", got, set)
	}
}
