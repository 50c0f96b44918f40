// Package config holds pochta's configuration: typed structs that mirror the
// TOML file, their defaults, and validation whose errors name the offending
// key, so that `pochta config check` can tell an admin exactly what to fix.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration file.
type Config struct {
	// Hostname is this server's name: used in the SMTP greeting, EHLO,
	// Received headers, Message-IDs and bounces.
	Hostname string `toml:"hostname"`
	// DataDir holds the store, the queue and generated keys.
	DataDir string `toml:"data_dir"`

	Listen     Listen     `toml:"listen"`
	TLS        TLS        `toml:"tls"`
	DNS        DNS        `toml:"dns"`
	Delivery   Delivery   `toml:"delivery"`
	Auth       Auth       `toml:"auth"`
	Limits     Limits     `toml:"limits"`
	Submission Submission `toml:"submission"`
	Queue      Queue      `toml:"queue"`
	Relay      Relay      `toml:"relay"`
	Log        Log        `toml:"log"`
	Store      Store      `toml:"store"`
	SRS        SRS        `toml:"srs"`
	Checks     Checks     `toml:"checks"`
	Spam       Spam       `toml:"spam"`
	JMAP       JMAP       `toml:"jmap"`
	Webmail    Webmail    `toml:"webmail"`
}

// Webmail configures the webmail served at / on the http listeners.
type Webmail struct {
	// Enabled serves it (default true).
	Enabled bool `toml:"enabled"`
	// SessionTTL is how long a login lasts in a browser (default 7 days).
	SessionTTL Duration `toml:"session_ttl"`
}

// JMAP configures the JMAP API (RFC 8620, 8621) served on the http
// listener under /jmap/ and /.well-known/jmap.
type JMAP struct {
	// CORSOrigins are the web origins ("https://mail.example.com") whose
	// pages may call the API from a browser; "*" allows any.
	CORSOrigins []string `toml:"cors_origins"`
}

// SRS configures the Sender Rewriting Scheme for forwarded mail.
type SRS struct {
	// Enabled rewrites the envelope sender of mail forwarded to other
	// domains and accepts bounces to the rewritten addresses.
	Enabled bool `toml:"enabled"`
	// SecretFile holds the secrets, one per line (the first signs, all
	// verify); "" keeps them in the store (generated at first start,
	// shared by every node; an older data_dir/srs/secret is imported).
	SecretFile string `toml:"secret_file"`
	// MaxAgeDays is how long a rewritten address accepts bounces.
	MaxAgeDays int `toml:"max_age_days"`
}

// Listen lists the addresses ("ip:port") of each service. An empty list
// disables the service.
type Listen struct {
	SMTP        []string `toml:"smtp"`
	Submission  []string `toml:"submission"`
	Submissions []string `toml:"submissions"`
	IMAP        []string `toml:"imap"`
	IMAPS       []string `toml:"imaps"`
	POP3        []string `toml:"pop3"`
	POP3S       []string `toml:"pop3s"`
	HTTP        []string `toml:"http"`
	// HTTPS serves the same as HTTP over TLS with the server's
	// certificate: the MTA-STS policy (https://mta-sts.DOMAIN/…) needs it.
	HTTPS []string `toml:"https"`
	// ManageSieve (RFC 5804): users manage their Sieve filters.
	ManageSieve []string `toml:"managesieve"`
	// Metrics serves Prometheus /metrics, /healthz and /readyz to anyone
	// who reaches it (default off; the http listeners answer /metrics to
	// loopback clients only).
	Metrics []string `toml:"metrics"`
}

// TLS names the certificate; when both files are empty a self-signed
// certificate for Hostname is generated in DataDir.
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// MTASTSMode is the mode of the MTA-STS policy (RFC 8461) served for
	// each of our domains at https://mta-sts.DOMAIN/.well-known/mta-sts.txt:
	// "testing" (default), "enforce" or "none".
	MTASTSMode string `toml:"mta_sts_mode"`

	// ACME obtains and renews the certificate (RFC 8555) for Hostname and
	// each domain's ACMEDomainNames that resolve; HTTP-01 on
	// the http listener, TLS-ALPN-01 on every TLS listener.
	ACME            bool     `toml:"acme"`
	ACMEDirectory   string   `toml:"acme_directory"`
	ACMEEmail       string   `toml:"acme_email"`
	ACMECAFile      string   `toml:"acme_ca_file"`      // extra PEM roots for the ACME server
	ACMERenewBefore Duration `toml:"acme_renew_before"` // renew when less than this remains
	// ACMEDomainNames are the labels put before each served domain for
	// the certificate ("mta-sts" → mta-sts.DOMAIN), besides Hostname; a
	// name that does not resolve is skipped, one that fails validation
	// is left out for a day without holding up the others.
	ACMEDomainNames []string `toml:"acme_domain_names"`
}

// DNS configures the resolver every package uses.
type DNS struct {
	// Servers are "ip:port" addresses; empty means the system resolver.
	Servers []string `toml:"servers"`
	// Timeout bounds one DNS query.
	Timeout Duration `toml:"timeout"`
}

// Checks configures the sender-authentication checks of the inbound
// (port 25) service; submission, authenticated sessions and
// submission.trusted_networks skip them. Each is "off", "score" (its
// result weighs in the spam score) or "reject" (a failure refuses the
// message); see internal/checks.
type Checks struct {
	SPF  string `toml:"spf"`  // off | score | reject
	DKIM string `toml:"dkim"` // off | score | reject
	// DMARC "enforce" applies the sender domain's policy: p=reject is
	// refused, p=quarantine goes to Junk.
	DMARC string `toml:"dmarc"` // off | score | enforce
	// IPRev "strict" also refuses a client whose confirmed PTR name is
	// not in the sender's domain.
	IPRev string   `toml:"iprev"` // off | score | reject | strict
	DNSBL []string `toml:"dnsbl"` // blocklist zones asked about the client IP
}

// Delivery configures outbound connections to other mail servers.
type Delivery struct {
	// RemotePort is the TCP port used to reach other mail servers (25).
	RemotePort int `toml:"remote_port"`
	// ConnectTimeout bounds one TCP connect to a remote server.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// RequireTLS refuses to deliver without STARTTLS (default: opportunistic).
	RequireTLS bool `toml:"require_tls"`
	// VerifyTLS requires valid certificates from remote servers; the
	// default is opportunistic TLS that does not verify, as most MTAs do.
	VerifyTLS bool `toml:"verify_tls"`
	// LocalAddr is the source IP for outbound connections ("" = any).
	LocalAddr string `toml:"local_addr"`
	// MTASTS honours recipient domains' MTA-STS policies (RFC 8461).
	MTASTS bool `toml:"mta_sts"`
	// DANE honours DNSSEC-authenticated TLSA records of MX hosts
	// (RFC 7672); it needs [dns] servers naming a validating resolver
	// (the system resolver cannot tell authenticated answers).
	DANE bool `toml:"dane"`
	// TLSReports sends recipient domains that publish `_smtp._tls` a
	// daily report of our TLS sessions with them (RFC 8460).
	TLSReports bool `toml:"tls_reports"`
}

// Auth configures logins for every protocol.
type Auth struct {
	// PlaintextOnLoopback lets loopback connections log in without TLS.
	PlaintextOnLoopback bool `toml:"plaintext_on_loopback"`
	// FailureDelay is the base delay after a failed login; it doubles with
	// each further failure from the same IP, up to MaxFailureDelay.
	FailureDelay    Duration `toml:"failure_delay"`
	MaxFailureDelay Duration `toml:"max_failure_delay"`
	// CacheTTL is how long a successful password verification is
	// remembered in memory (keyed by an HMAC of user and password, never
	// the password), so a client that reconnects does not cost an argon2id
	// hash each time; a password change or removed account takes effect
	// at once. 0 disables the cache. Failures are never cached.
	CacheTTL Duration `toml:"cache_ttl"`
	// CacheSize bounds the remembered verifications.
	CacheSize int `toml:"cache_size"`
	// MaxConcurrentHashes bounds the argon2id verifications computed at
	// once (19 MiB of memory each); further logins wait. 0 means the
	// number of CPUs.
	MaxConcurrentHashes int `toml:"max_concurrent_hashes"`

	// System configures the "system" account source (the host's users).
	System AuthSystem `toml:"system"`
	// Sources are the places accounts come from, asked in this order for
	// logins and recipients: "internal" (the store), "ldap", "system".
	Sources []string `toml:"sources"`
	LDAP    LDAP     `toml:"ldap"`
}

// AuthSystem configures the machine's own users as mail users: host user
// kate is kate@Domain (package directory/system).
type AuthSystem struct {
	Domain string `toml:"domain"`
	// MinUID and MaxUID bound the host users that are mail users, so
	// root, daemons and nobody never are (Debian's UID_MIN and UID_MAX).
	MinUID int `toml:"min_uid"`
	MaxUID int `toml:"max_uid"`
	// PAMService is the PAM service of the pam build (go build -tags pam).
	PAMService string `toml:"pam_service"`
}

// LDAP configures the account source "ldap" (OpenLDAP, Active Directory).
type LDAP struct {
	URL                string `toml:"url"`      // ldap://host:389 or ldaps://host:636
	StartTLS           bool   `toml:"starttls"` // with ldap://
	CAFile             string `toml:"ca_file"`  // PEM roots for the server's certificate; "" = the system's
	InsecureSkipVerify bool   `toml:"insecure_skip_verify"`
	BindDN             string `toml:"bind_dn"` // the service account; "" searches anonymously
	BindPasswordFile   string `toml:"bind_password_file"`
	BaseDN             string `toml:"base_dn"`
	// UserFilter finds a user; every %s is the address, RFC 4515-escaped.
	UserFilter        string   `toml:"user_filter"`
	AddressAttributes []string `toml:"address_attributes"` // the first value of the first names the mailbox
	GroupDN           string   `toml:"group_dn"`           // when set, only members may use mail
	QuotaAttribute    string   `toml:"quota_attribute"`    // bytes; "" = the store's quota
	// CacheSeconds is how long what the directory said about an address
	// is used without asking again.
	CacheSeconds int      `toml:"cache_seconds"`
	Timeout      Duration `toml:"timeout"` // each directory request
}

// Limits bound every resource a client can consume.
type Limits struct {
	MaxMessageSize      int64    `toml:"max_message_size"` // bytes
	MaxRecipients       int      `toml:"max_recipients"`   // RCPT commands per transaction
	MaxLineLength       int      `toml:"max_line_length"`  // bytes, in DATA/BDAT
	MaxConnections      int      `toml:"max_connections"`  // per service, total
	MaxConnectionsPerIP int      `toml:"max_connections_per_ip"`
	CommandTimeout      Duration `toml:"command_timeout"`   // wait for one command
	DataTimeout         Duration `toml:"data_timeout"`      // whole DATA/BDAT transfer
	MaxErrors           int      `toml:"max_errors"`        // bad commands before disconnect
	IMAPIdleTimeout     Duration `toml:"imap_idle_timeout"` // authenticated idle connection
	IMAPLiteralSize     int64    `toml:"imap_max_literal"`  // bytes, largest APPEND
	// MaxJunkCommands is how many NOOP, RSET, VRFY, EXPN, HELP, repeated
	// EHLO/HELO and RCPT beyond max_recipients an SMTP session may send
	// between two delivered messages before it is closed with 421, as
	// Postfix's smtpd_junk_command_limit.
	MaxJunkCommands int `toml:"max_junk_commands"`
	// ConnectionLimitExceptions (CIDR) are not held to
	// max_connections_per_ip, only to max_connections, as Postfix's
	// smtpd_client_connection_limit_exceptions. Unset means loopback
	// (127.0.0.0/8 and ::1), where webmail, a local relay or a load
	// test open many sessions from one address; [] means none.
	// submission.trusted_networks are not implied: that key grants
	// relaying, this one only lifts a limit.
	ConnectionLimitExceptions []string `toml:"connection_limit_exceptions"`

	// Abuse limits (internal/ratelimit). The per-IP and per-minute ones
	// spare connection_limit_exceptions; the daily outgoing ones apply to
	// every account, so a stolen password cannot make a spam source.
	ConnectionsPerMinutePerIP   int `toml:"connections_per_minute_per_ip"`   // SMTP, then 421
	MessagesPerMinutePerIP      int `toml:"messages_per_minute_per_ip"`      // SMTP MAIL, then 421
	MessagesPerMinutePerAccount int `toml:"messages_per_minute_per_account"` // authenticated MAIL, then 421
	AuthFailuresPerHourPerIP    int `toml:"auth_failures_per_hour_per_ip"`   // every protocol; then logins fail at once
	AuthFailuresPerHourPerUser  int `toml:"auth_failures_per_hour_per_user"` // from any IPs; then failures wait auth.max_failure_delay
	LoginsPerMinutePerAccount   int `toml:"logins_per_minute_per_account"`   // successful logins (new connections) per account, every protocol; then a temporary failure
	OutgoingMessagesPerDay      int `toml:"outgoing_messages_per_day"`       // per account, to remote recipients, then 451
	OutgoingRecipientsPerDay    int `toml:"outgoing_recipients_per_day"`     // per account, distinct remote recipients, then 451

	// MaxHops is the most Received fields a message may carry, ours
	// included (RFC 5321 §6.3: loop detection by counting them, with a
	// large threshold, "normally at least 100"). More: refused at DATA
	// with 554 5.4.6, or bounced when forwarded or relayed by the queue.
	MaxHops int `toml:"max_hops"`
}

// defaultConnectionLimitExceptions: loopback, IPv4 and IPv6.
var defaultConnectionLimitExceptions = []string{"127.0.0.0/8", "::1/128"}

// PerIPExempt returns the parsed ConnectionLimitExceptions (the loopback
// default when unset). Entries that do not parse are skipped; Validate
// reports them.
func (l Limits) PerIPExempt() []netip.Prefix {
	list := l.ConnectionLimitExceptions
	if list == nil {
		list = defaultConnectionLimitExceptions
	}
	var out []netip.Prefix
	for _, n := range list {
		if p, err := netip.ParsePrefix(n); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// WithDefaults returns l with every zero or negative limit replaced by its
// value in Default.
func (l Limits) WithDefaults() Limits {
	d := Default().Limits
	orDefault(&l.MaxMessageSize, d.MaxMessageSize)
	orDefault(&l.MaxRecipients, d.MaxRecipients)
	orDefault(&l.MaxLineLength, d.MaxLineLength)
	orDefault(&l.MaxConnections, d.MaxConnections)
	orDefault(&l.MaxConnectionsPerIP, d.MaxConnectionsPerIP)
	orDefault(&l.CommandTimeout.Duration, d.CommandTimeout.Duration)
	orDefault(&l.DataTimeout.Duration, d.DataTimeout.Duration)
	orDefault(&l.MaxErrors, d.MaxErrors)
	orDefault(&l.IMAPIdleTimeout.Duration, d.IMAPIdleTimeout.Duration)
	orDefault(&l.IMAPLiteralSize, d.IMAPLiteralSize)
	orDefault(&l.MaxJunkCommands, d.MaxJunkCommands)
	orDefault(&l.ConnectionsPerMinutePerIP, d.ConnectionsPerMinutePerIP)
	orDefault(&l.MessagesPerMinutePerIP, d.MessagesPerMinutePerIP)
	orDefault(&l.MessagesPerMinutePerAccount, d.MessagesPerMinutePerAccount)
	orDefault(&l.AuthFailuresPerHourPerIP, d.AuthFailuresPerHourPerIP)
	orDefault(&l.AuthFailuresPerHourPerUser, d.AuthFailuresPerHourPerUser)
	orDefault(&l.LoginsPerMinutePerAccount, d.LoginsPerMinutePerAccount)
	orDefault(&l.OutgoingMessagesPerDay, d.OutgoingMessagesPerDay)
	orDefault(&l.OutgoingRecipientsPerDay, d.OutgoingRecipientsPerDay)
	orDefault(&l.MaxHops, d.MaxHops)
	if l.ConnectionLimitExceptions == nil {
		l.ConnectionLimitExceptions = d.ConnectionLimitExceptions
	}
	return l
}

// orDefault sets *v to def unless it is positive.
func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Submission configures the MSA on submission and submissions.
type Submission struct {
	// TrustedNetworks (CIDR) may relay through the smtp service without AUTH.
	TrustedNetworks []string `toml:"trusted_networks"`
	// EnforceSender allows an authenticated user to send only from its own
	// addresses and aliases (envelope and From header).
	EnforceSender bool `toml:"enforce_sender"`
	// BeforeSMTP allows relaying for IPs that logged in over POP3/IMAP
	// within BeforeSMTPWindow.
	BeforeSMTP       bool     `toml:"pop_imap_before_smtp"`
	BeforeSMTPWindow Duration `toml:"pop_imap_before_smtp_window"`
}

// Queue configures the outbound spool.
type Queue struct {
	// Expire is how long a message is retried before it bounces.
	Expire Duration `toml:"expire"`
	// FirstRetry is the first retry interval; later intervals grow.
	FirstRetry Duration `toml:"first_retry"`
	// MaxRetry caps the retry interval.
	MaxRetry Duration `toml:"max_retry"`
	// DelayWarning sends a delay DSN once after this long (0 = never).
	DelayWarning Duration `toml:"delay_warning"`
	// Workers is the total number of concurrent deliveries.
	Workers int `toml:"workers"`
	// PerDomain is the number of concurrent deliveries to one domain.
	PerDomain int `toml:"per_domain"`
	// Lease is how long a node holds a message of a queue shared on
	// PostgreSQL without renewing it; after it another node takes over.
	Lease Duration `toml:"lease"`
}

// Relay configures smarthosts and transport rules.
type Relay struct {
	// Smarthost, when set, receives all remote mail.
	Smarthost *Smarthost `toml:"smarthost"`
	// Transports map a destination domain to a smarthost.
	Transports map[string]Smarthost `toml:"transports"`
}

// Smarthost is a relay: host:port with optional AUTH and TLS.
type Smarthost struct {
	Address  string `toml:"address"` // host:port
	Username string `toml:"username"`
	Password string `toml:"password"`
	// TLS is "starttls" (default: opportunistic), "tls" (implicit) or "none".
	TLS string `toml:"tls"`
}

// Store chooses where mailboxes, accounts and (with PostgreSQL) the
// queue live.
type Store struct {
	// Backend is "sqlite" (the default: SQLite and files in data_dir) or
	// "postgres" (everything in one PostgreSQL database, shared by any
	// number of pochta nodes).
	Backend string `toml:"backend"`
	// PostgresURL is the database, e.g.
	// "postgres://pochta@127.0.0.1:5432/pochta?sslmode=disable"; the role
	// must own the database, it need not be a superuser.
	PostgresURL string `toml:"postgres_url"`
}

// validate checks [store].
func (s Store) validate(bad func(key, format string, a ...any)) {
	switch s.Backend {
	case "sqlite":
		if s.PostgresURL != "" {
			bad("store.postgres_url", "is only used with store.backend = \"postgres\"")
		}
	case "postgres":
		if !strings.HasPrefix(s.PostgresURL, "postgres://") && !strings.HasPrefix(s.PostgresURL, "postgresql://") {
			bad("store.postgres_url", "%q is not a postgres:// URL", s.PostgresURL)
		}
	default:
		bad("store.backend", "%q is not one of sqlite, postgres", s.Backend)
	}
}

// Log configures structured logging.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// Duration is a time.Duration written as "10s", "5m", "120h" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// D wraps a time.Duration.
func D(v time.Duration) Duration { return Duration{v} }

// Default returns a configuration with every default filled in and
// production listeners on the well-known ports.
func Default() *Config {
	return &Config{
		Hostname: hostnameOr("localhost"),
		DataDir:  "/var/lib/pochta",
		Listen: Listen{
			SMTP:        []string{"0.0.0.0:25"},
			Submission:  []string{"0.0.0.0:587"},
			Submissions: []string{"0.0.0.0:465"},
			IMAP:        []string{"0.0.0.0:143"},
			IMAPS:       []string{"0.0.0.0:993"},
			POP3:        []string{"0.0.0.0:110"},
			POP3S:       []string{"0.0.0.0:995"},
			HTTP:        []string{"127.0.0.1:8080"},
			ManageSieve: []string{"127.0.0.1:4190"},
		},
		DNS:      DNS{Timeout: D(5 * time.Second)},
		Delivery: Delivery{RemotePort: 25, ConnectTimeout: D(30 * time.Second), MTASTS: true, DANE: true, TLSReports: true},
		TLS: TLS{MTASTSMode: "testing", ACMEDirectory: "https://acme-v02.api.letsencrypt.org/directory",
			ACMERenewBefore: D(720 * time.Hour), ACMEDomainNames: []string{"mail", "mta-sts", "autoconfig"}},
		Auth: Auth{
			PlaintextOnLoopback: true,
			FailureDelay:        D(500 * time.Millisecond),
			MaxFailureDelay:     D(8 * time.Second),
			CacheTTL:            D(5 * time.Minute),
			CacheSize:           10000,
			System:              AuthSystem{MinUID: 1000, MaxUID: 60000, PAMService: "pochta"},
			Sources:             []string{"internal"},
			LDAP: LDAP{
				UserFilter:        "(&(objectClass=inetOrgPerson)(|(mail=%s)(mailAlternateAddress=%s)))",
				AddressAttributes: []string{"mail", "mailAlternateAddress"},
				CacheSeconds:      60,
				Timeout:           D(5 * time.Second),
			},
		},
		Limits: Limits{
			MaxMessageSize:      50 << 20,
			MaxRecipients:       100,
			MaxLineLength:       10000,
			MaxConnections:      1000,
			MaxConnectionsPerIP: 50,
			CommandTimeout:      D(5 * time.Minute),
			DataTimeout:         D(10 * time.Minute),
			MaxErrors:           10,
			IMAPIdleTimeout:     D(30 * time.Minute),
			IMAPLiteralSize:     50 << 20,
			MaxJunkCommands:     100,

			ConnectionLimitExceptions: slices.Clone(defaultConnectionLimitExceptions),

			ConnectionsPerMinutePerIP:   120,
			MessagesPerMinutePerIP:      120,
			MessagesPerMinutePerAccount: 60,
			AuthFailuresPerHourPerIP:    30,
			AuthFailuresPerHourPerUser:  100,
			LoginsPerMinutePerAccount:   120,
			OutgoingMessagesPerDay:      1000, // as mox's MaxOutgoingMessagesPerDay
			OutgoingRecipientsPerDay:    500,
			MaxHops:                     100,
		},
		Submission: Submission{
			EnforceSender:    true,
			BeforeSMTPWindow: D(10 * time.Minute),
		},
		Queue: Queue{
			Expire:       D(5 * 24 * time.Hour),
			FirstRetry:   D(5 * time.Minute),
			MaxRetry:     D(4 * time.Hour),
			DelayWarning: D(4 * time.Hour),
			Workers:      20,
			PerDomain:    4,
			Lease:        D(time.Minute),
		},
		Log:    Log{Level: "info", Format: "text"},
		Store:  Store{Backend: "sqlite"},
		SRS:    SRS{Enabled: true, MaxAgeDays: 21},
		Checks: Checks{SPF: "score", DKIM: "score", DMARC: "enforce", IPRev: "score"},
		Spam: Spam{
			JunkScore:   5,
			RejectScore: 15,
		},
		Webmail: Webmail{Enabled: true, SessionTTL: D(7 * 24 * time.Hour)},
	}
}

func hostnameOr(def string) string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return def
	}
	return h
}

// Load reads a TOML file over the defaults and validates the result.
// Unknown keys are errors, so a typo is never silently ignored.
func Load(path string) (*Config, error) {
	c := Default()
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("config %s: unknown key(s): %s", path, strings.Join(keys, ", "))
	}
	if c.DataDir != "" && !filepath.IsAbs(c.DataDir) {
		c.DataDir = filepath.Join(filepath.Dir(path), c.DataDir)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// KeyError is a validation error for one key.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// Validate checks every key and returns all problems joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, &KeyError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	if c.Hostname == "" {
		bad("hostname", "must not be empty")
	} else if strings.ContainsAny(c.Hostname, " \t\r\n/@") {
		bad("hostname", "%q is not a host name", c.Hostname)
	}
	for i, o := range c.JMAP.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			bad(fmt.Sprintf("jmap.cors_origins[%d]", i), "%q is not \"*\" or an http(s) origin", o)
		}
	}
	if c.Webmail.SessionTTL.Duration < time.Minute {
		bad("webmail.session_ttl", "must be at least 1m")
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	for key, list := range map[string][]string{
		"listen.smtp": c.Listen.SMTP, "listen.submission": c.Listen.Submission,
		"listen.submissions": c.Listen.Submissions, "listen.imap": c.Listen.IMAP,
		"listen.imaps": c.Listen.IMAPS, "listen.pop3": c.Listen.POP3,
		"listen.pop3s": c.Listen.POP3S, "listen.http": c.Listen.HTTP,
		"listen.https":       c.Listen.HTTPS,
		"listen.managesieve": c.Listen.ManageSieve,
		"listen.metrics":     c.Listen.Metrics,
		"dns.servers":        c.DNS.Servers,
	} {
		for i, a := range list {
			if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
				bad(fmt.Sprintf("%s[%d]", key, i), "%q is not ip:port", a)
			}
		}
	}
	switch c.TLS.MTASTSMode {
	case "enforce", "testing", "none":
	default:
		bad("tls.mta_sts_mode", "%q is not enforce, testing or none", c.TLS.MTASTSMode)
	}
	if c.TLS.ACME {
		if u, err := url.Parse(c.TLS.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("tls.acme_directory", "%q is not an https URL", c.TLS.ACMEDirectory)
		}
		if c.TLS.ACMERenewBefore.Duration <= 0 {
			bad("tls.acme_renew_before", "must be positive")
		}
		if c.TLS.ACMECAFile != "" {
			if _, err := os.Stat(c.TLS.ACMECAFile); err != nil {
				bad("tls.acme_ca_file", "%v", err)
			}
		}
		for _, l := range c.TLS.ACMEDomainNames {
			if !validLabels(l) {
				bad("tls.acme_domain_names", "%q is not a DNS label (like \"mta-sts\")", l)
			}
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls.cert_file", "cert_file and key_file must be given together")
	}
	for _, f := range []struct{ key, path string }{{"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				bad(f.key, "cannot read %s: %v", f.path, errors.Unwrap(err))
			}
		}
	}
	if c.Delivery.RemotePort < 1 || c.Delivery.RemotePort > 65535 {
		bad("delivery.remote_port", "%d is not a TCP port", c.Delivery.RemotePort)
	}
	if c.Delivery.LocalAddr != "" {
		if _, err := netip.ParseAddr(c.Delivery.LocalAddr); err != nil {
			bad("delivery.local_addr", "%q is not an IP address", c.Delivery.LocalAddr)
		}
	}
	positive := []struct {
		key string
		v   int64
	}{
		{"limits.max_message_size", c.Limits.MaxMessageSize},
		{"limits.max_recipients", int64(c.Limits.MaxRecipients)},
		{"limits.max_connections", int64(c.Limits.MaxConnections)},
		{"limits.max_connections_per_ip", int64(c.Limits.MaxConnectionsPerIP)},
		{"limits.max_errors", int64(c.Limits.MaxErrors)},
		{"limits.max_junk_commands", int64(c.Limits.MaxJunkCommands)},
		{"limits.imap_max_literal", c.Limits.IMAPLiteralSize},
		{"limits.command_timeout", int64(c.Limits.CommandTimeout.Duration)},
		{"limits.data_timeout", int64(c.Limits.DataTimeout.Duration)},
		{"limits.imap_idle_timeout", int64(c.Limits.IMAPIdleTimeout.Duration)},
		{"limits.connections_per_minute_per_ip", int64(c.Limits.ConnectionsPerMinutePerIP)},
		{"limits.messages_per_minute_per_ip", int64(c.Limits.MessagesPerMinutePerIP)},
		{"limits.messages_per_minute_per_account", int64(c.Limits.MessagesPerMinutePerAccount)},
		{"limits.auth_failures_per_hour_per_ip", int64(c.Limits.AuthFailuresPerHourPerIP)},
		{"limits.auth_failures_per_hour_per_user", int64(c.Limits.AuthFailuresPerHourPerUser)},
		{"limits.logins_per_minute_per_account", int64(c.Limits.LoginsPerMinutePerAccount)},
		{"limits.outgoing_messages_per_day", int64(c.Limits.OutgoingMessagesPerDay)},
		{"limits.outgoing_recipients_per_day", int64(c.Limits.OutgoingRecipientsPerDay)},
		{"queue.expire", int64(c.Queue.Expire.Duration)},
		{"queue.first_retry", int64(c.Queue.FirstRetry.Duration)},
		{"queue.max_retry", int64(c.Queue.MaxRetry.Duration)},
		{"queue.workers", int64(c.Queue.Workers)},
		{"queue.per_domain", int64(c.Queue.PerDomain)},
		{"queue.lease", int64(c.Queue.Lease.Duration)},
		{"dns.timeout", int64(c.DNS.Timeout.Duration)},
		{"delivery.connect_timeout", int64(c.Delivery.ConnectTimeout.Duration)},
		{"srs.max_age_days", int64(c.SRS.MaxAgeDays)},
	}
	for _, p := range positive {
		if p.v <= 0 {
			bad(p.key, "must be greater than zero")
		}
	}
	if c.Auth.CacheTTL.Duration < 0 {
		bad("auth.cache_ttl", "must not be negative (0 disables the cache)")
	}
	if c.Auth.CacheSize <= 0 {
		bad("auth.cache_size", "must be greater than zero")
	}
	if c.Auth.MaxConcurrentHashes < 0 {
		bad("auth.max_concurrent_hashes", "must not be negative (0 means the number of CPUs)")
	}
	if sys := c.Auth.System; sys.Domain != "" && (strings.ContainsAny(sys.Domain, "@ \t/") || !strings.Contains(sys.Domain, ".")) {
		bad("auth.system.domain", "%q is not a domain name", sys.Domain)
	}
	if sys := c.Auth.System; sys.MinUID < 1 || sys.MaxUID < sys.MinUID {
		bad("auth.system.min_uid", "must be at least 1 (root is never a mail user) and not above auth.system.max_uid")
	}
	if c.Auth.System.PAMService == "" {
		bad("auth.system.pam_service", "must not be empty")
	}
	c.validateSources(bad)
	if c.Limits.MaxHops < 10 {
		bad("limits.max_hops", "must be at least 10 (RFC 5321 §6.3 suggests at least 100)")
	}
	if c.Limits.MaxLineLength < 1000 {
		bad("limits.max_line_length", "must be at least 1000 (RFC 5321 §4.5.3.1.6)")
	}
	for key, list := range map[string][]string{
		"submission.trusted_networks":        c.Submission.TrustedNetworks,
		"limits.connection_limit_exceptions": c.Limits.ConnectionLimitExceptions,
	} {
		for i, n := range list {
			if _, err := netip.ParsePrefix(n); err != nil {
				bad(fmt.Sprintf("%s[%d]", key, i), "%q is not a CIDR prefix", n)
			}
		}
	}
	checkHost := func(key string, s Smarthost) {
		if _, _, err := net.SplitHostPort(s.Address); err != nil {
			bad(key+".address", "%q is not host:port", s.Address)
		}
		switch s.TLS {
		case "", "starttls", "tls", "none":
		default:
			bad(key+".tls", "%q is not one of starttls, tls, none", s.TLS)
		}
	}
	if c.Relay.Smarthost != nil {
		checkHost("relay.smarthost", *c.Relay.Smarthost)
	}
	for d, s := range c.Relay.Transports {
		checkHost("relay.transports."+d, s)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	c.validateChecks(bad)
	c.Spam.validate(bad)
	c.Store.validate(bad)
	return errors.Join(errs...)
}

// validateChecks checks the [checks] section.
func (c *Config) validateChecks(bad func(key, format string, a ...any)) {
	for _, k := range []struct {
		key, v  string
		allowed []string
	}{
		{"checks.spf", c.Checks.SPF, []string{"off", "score", "reject"}},
		{"checks.dkim", c.Checks.DKIM, []string{"off", "score", "reject"}},
		{"checks.dmarc", c.Checks.DMARC, []string{"off", "score", "enforce"}},
		{"checks.iprev", c.Checks.IPRev, []string{"off", "score", "reject", "strict"}},
	} {
		if !slices.Contains(k.allowed, k.v) {
			bad(k.key, "%q is not one of %s", k.v, strings.Join(k.allowed, ", "))
		}
	}
	for i, z := range c.Checks.DNSBL {
		if z == "" || strings.ContainsAny(z, " \t/@:") || strings.Trim(z, ".") == "" {
			bad(fmt.Sprintf("checks.dnsbl[%d]", i), "%q is not a DNS zone", z)
		}
	}
}

// Spam configures the spam judgement of mail arriving on the inbound
// service from outside (internal/spam).
type Spam struct {
	// RspamdURL is the base URL of Rspamd's normal worker, e.g.
	// "http://127.0.0.1:11333" (pochta posts to /checkv2); "" uses the
	// built-in classifier.
	RspamdURL string `toml:"rspamd_url"`
	// JunkScore: at or above, the message gets "X-Spam: Yes" and goes
	// to Junk. RejectScore: at or above, 550 5.7.1 and nothing stored.
	JunkScore   float64 `toml:"junk_score"`
	RejectScore float64 `toml:"reject_score"`
}

func (s Spam) validate(bad func(key, format string, a ...any)) {
	if s.RspamdURL != "" {
		u, err := url.Parse(s.RspamdURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			bad("spam.rspamd_url", "%q is not an http(s) base URL like http://127.0.0.1:11333", s.RspamdURL)
		}
	}
	if s.JunkScore <= 0 {
		bad("spam.junk_score", "must be greater than zero")
	}
	if s.RejectScore <= s.JunkScore {
		bad("spam.reject_score", "must be greater than spam.junk_score (%g)", s.JunkScore)
	}
}

// TrustedPrefixes returns the parsed submission.trusted_networks.
func (c *Config) TrustedPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range c.Submission.TrustedNetworks {
		if p, err := netip.ParsePrefix(n); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// validateSources checks [auth] sources and, when "ldap" is one of
// them, [auth.ldap].
func (c *Config) validateSources(bad func(key, format string, a ...any)) {
	if len(c.Auth.Sources) == 0 {
		bad("auth.sources", "must name at least one source")
	}
	seen := map[string]bool{}
	for i, s := range c.Auth.Sources {
		switch {
		case s != "internal" && s != "ldap" && s != "system":
			bad(fmt.Sprintf("auth.sources[%d]", i), "%q is not one of internal, ldap, system", s)
		case seen[s]:
			bad(fmt.Sprintf("auth.sources[%d]", i), "%q is listed twice", s)
		}
		seen[s] = true
	}
	if seen["system"] && c.Auth.System.Domain == "" {
		bad("auth.system.domain", "must be set when auth.sources lists \"system\"")
	}
	if !seen["ldap"] {
		return
	}
	l := c.Auth.LDAP
	switch {
	case !strings.HasPrefix(l.URL, "ldap://") && !strings.HasPrefix(l.URL, "ldaps://"):
		bad("auth.ldap.url", "%q is not an ldap:// or ldaps:// URL", l.URL)
	case l.StartTLS && !strings.HasPrefix(l.URL, "ldap://"):
		bad("auth.ldap.starttls", "needs an ldap:// url (ldaps:// is TLS already)")
	}
	if l.BindDN != "" && l.BindPasswordFile == "" {
		bad("auth.ldap.bind_password_file", "must be set with bind_dn")
	}
	if l.BaseDN == "" {
		bad("auth.ldap.base_dn", "must not be empty")
	}
	if !strings.Contains(l.UserFilter, "%s") || !strings.HasPrefix(l.UserFilter, "(") ||
		strings.Count(l.UserFilter, "(") != strings.Count(l.UserFilter, ")") {
		bad("auth.ldap.user_filter", "%q must be a parenthesised LDAP filter with %%s for the address", l.UserFilter)
	}
	if len(l.AddressAttributes) == 0 {
		bad("auth.ldap.address_attributes", "must name at least one attribute")
	}
	if l.CacheSeconds < 0 {
		bad("auth.ldap.cache_seconds", "must not be negative")
	}
	if l.Timeout.Duration <= 0 {
		bad("auth.ldap.timeout", "must be greater than zero")
	}
}

// validLabels reports whether s is one or more DNS labels (RFC 1035
// §2.3.1: letters, digits, inner hyphens; 63 bytes each) without a
// leading or trailing dot.
func validLabels(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
