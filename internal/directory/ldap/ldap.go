// Package ldap is the account source "ldap": users of an LDAP server
// (OpenLDAP) or of Active Directory. A service account binds and searches
// for the user by a configurable filter in which every %s is the address,
// escaped as RFC 4515 §3 requires (so an address cannot change the
// filter's meaning); the password is checked by binding as the user found
// (RFC 4513 §5.1.3) — pochta never compares nor keeps it. Connections are
// ldap://, ldaps:// or ldap:// with StartTLS (RFC 4513 §3), kept in a
// small pool and re-dialled when the server closed them.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	ldap "github.com/go-ldap/ldap/v3"

	"pochta/internal/directory"
)

// Options configure the source ([auth.ldap] in the config).
type Options struct {
	URL      string // ldap://host:port or ldaps://host:port
	StartTLS bool   // ldap:// upgraded with StartTLS
	// CAFile holds the PEM certificates that sign the server's; empty
	// means the system's roots. InsecureSkipVerify accepts any (tests).
	CAFile             string
	InsecureSkipVerify bool
	BindDN             string // empty: search anonymously
	BindPassword       string // read from bind_password_file by the caller
	BaseDN             string
	// UserFilter finds a user by address; every %s is the escaped address.
	UserFilter string
	// AddressAttributes name the user's addresses, first the one that
	// names the mailbox. AD's proxyAddresses values keep only "smtp:"
	// ones, without the prefix ("SMTP:" marks the primary).
	AddressAttributes []string
	// GroupDN, when set, is a group whose members alone may use mail: the
	// user's memberOf names it, or the group's member / uniqueMember names
	// the user's DN, or its memberUid the user's uid.
	GroupDN string
	// QuotaAttribute, when set, holds the user's quota in bytes.
	QuotaAttribute string
	Timeout        time.Duration // each request (0: 5 s)
	PoolSize       int           // idle connections kept (0: 4)
}

// adDisabled is AD's userAccountControl ACCOUNTDISABLE bit.
const adDisabled = 0x2

// Source is an LDAP or Active Directory server as an account source.
type Source struct {
	opts  Options
	tls   *tls.Config
	attrs []string
	idle  chan *ldap.Conn
}

// New returns the source; it does not connect until asked.
func New(opts Options) (*Source, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 4
	}
	if !strings.Contains(opts.UserFilter, "%s") {
		return nil, errors.New("ldap: user_filter has no %s")
	}
	if len(opts.AddressAttributes) == 0 {
		return nil, errors.New("ldap: no address_attributes")
	}
	host := opts.URL
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	host = strings.TrimSuffix(host, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	tc := &tls.Config{ServerName: host, InsecureSkipVerify: opts.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ldap: ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ldap: ca_file %s: no PEM certificates", opts.CAFile)
		}
	}
	attrs := append([]string{"userAccountControl", "memberOf", "uid"}, opts.AddressAttributes...)
	if opts.QuotaAttribute != "" {
		attrs = append(attrs, opts.QuotaAttribute)
	}
	return &Source{opts: opts, tls: tc, attrs: attrs, idle: make(chan *ldap.Conn, opts.PoolSize)}, nil
}

// Name implements directory.Source.
func (s *Source) Name() string { return "ldap" }

// Close closes the idle connections.
func (s *Source) Close() {
	for {
		select {
		case c := <-s.idle:
			c.Close()
		default:
			return
		}
	}
}

// Check connects and binds as the service account (pochta config
// check): the URL, TLS, CA file and service password are right.
func (s *Source) Check(ctx context.Context) error {
	if err := s.with(ctx, func(*ldap.Conn) error { return nil }); err != nil {
		return unavailable(err)
	}
	return nil
}

// user is a found user: the entry's DN and what it says.
type user struct {
	dn    string
	entry directory.Entry
}

// Lookup implements directory.Source.
func (s *Source) Lookup(ctx context.Context, addr string) (directory.Entry, error) {
	u, err := s.find(ctx, addr)
	return u.entry, err
}

// Authenticate implements directory.Source: the user is found by login,
// then the password is checked by a bind as the user's DN.
func (s *Source) Authenticate(ctx context.Context, login, password string) (directory.Entry, error) {
	if password == "" { // a simple bind with an empty password is anonymous (RFC 4513 §5.1.2)
		return directory.Entry{}, directory.ErrInvalid
	}
	u, err := s.find(ctx, login)
	if err != nil {
		return directory.Entry{}, err
	}
	if !u.entry.Enabled {
		return u.entry, directory.ErrInvalid
	}
	err = s.with(ctx, func(c *ldap.Conn) error {
		berr := c.Bind(u.dn, password)
		// Give the connection back to the service account whatever
		// the user's bind said; if that fails, it is dropped.
		if rerr := s.bindService(c); rerr != nil {
			c.Close()
		}
		return berr
	})
	switch {
	case err == nil:
		return u.entry, nil
	case ldap.IsErrorAnyOf(err, ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInappropriateAuthentication,
		ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultConstraintViolation, ldap.LDAPResultInsufficientAccessRights):
		return directory.Entry{}, directory.ErrInvalid // wrong password; AD/ppolicy: locked, expired
	}
	return directory.Entry{}, unavailable(err)
}

// find searches for the user an address belongs to.
func (s *Source) find(ctx context.Context, addr string) (user, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" {
		return user{}, directory.ErrUnknown
	}
	filter := strings.ReplaceAll(s.opts.UserFilter, "%s", ldap.EscapeFilter(addr))
	var u user
	err := s.with(ctx, func(c *ldap.Conn) error {
		res, err := c.Search(ldap.NewSearchRequest(s.opts.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			2, int(s.opts.Timeout/time.Second), false, filter, s.attrs, nil))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || (err == nil && len(res.Entries) > 1) {
			return fmt.Errorf("%w: ldap: more than one entry matches %s", directory.ErrInvalid, addr)
		}
		if err != nil {
			return err
		}
		if len(res.Entries) == 0 {
			return directory.ErrUnknown
		}
		u, err = s.entry(c, res.Entries[0])
		return err
	})
	if err != nil && !errors.Is(err, directory.ErrUnknown) && !errors.Is(err, directory.ErrInvalid) {
		return user{}, unavailable(err)
	}
	return u, err
}

// entry turns a found LDAP entry into a directory.Entry.
func (s *Source) entry(c *ldap.Conn, e *ldap.Entry) (user, error) {
	u := user{dn: e.DN, entry: directory.Entry{Source: s.Name(), Enabled: true}}
	seen := map[string]bool{}
	for _, attr := range s.opts.AddressAttributes {
		for _, a := range addresses(e.GetEqualFoldAttributeValues(attr)) {
			if !seen[a] {
				seen[a] = true
				u.entry.Addresses = append(u.entry.Addresses, a)
			}
		}
	}
	if len(u.entry.Addresses) == 0 {
		return user{}, fmt.Errorf("%w: ldap: %s has no address in %v", directory.ErrInvalid, e.DN, s.opts.AddressAttributes)
	}
	u.entry.Address = u.entry.Addresses[0]
	if v := e.GetEqualFoldAttributeValue("userAccountControl"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n&adDisabled != 0 {
			u.entry.Enabled = false
		}
	}
	if s.opts.QuotaAttribute != "" {
		if n, err := strconv.ParseInt(e.GetEqualFoldAttributeValue(s.opts.QuotaAttribute), 10, 64); err == nil && n > 0 {
			u.entry.Quota = n
		}
	}
	if u.entry.Enabled && s.opts.GroupDN != "" {
		member, err := s.member(c, e)
		if err != nil {
			return user{}, err
		}
		u.entry.Enabled = member
	}
	return u, nil
}

// addresses returns the mail addresses among an attribute's values, lower
// case. Values with a type prefix (AD's proxyAddresses: "SMTP:primary",
// "smtp:other", "X500:...", "sip:...") count only when the type is smtp,
// the primary ("SMTP:") first.
func addresses(values []string) []string {
	var out []string
	for _, v := range values {
		v = strings.TrimSpace(v)
		if i := strings.IndexByte(v, ':'); i >= 0 && !strings.Contains(v[:i], "@") {
			if !strings.EqualFold(v[:i], "smtp") {
				continue
			}
			if v[:i] == "SMTP" {
				out = append([]string{strings.ToLower(v[i+1:])}, out...)
				continue
			}
			v = v[i+1:]
		}
		if strings.Contains(v, "@") {
			out = append(out, strings.ToLower(v))
		}
	}
	return out
}

// member reports whether the user e belongs to GroupDN: by its memberOf,
// or by the group's member, uniqueMember or memberUid.
func (s *Source) member(c *ldap.Conn, e *ldap.Entry) (bool, error) {
	group, err := ldap.ParseDN(s.opts.GroupDN)
	if err != nil {
		return false, fmt.Errorf("ldap: group_dn: %w", err)
	}
	for _, v := range e.GetEqualFoldAttributeValues("memberOf") {
		if dn, err := ldap.ParseDN(v); err == nil && dn.EqualFold(group) {
			return true, nil
		}
	}
	f := "(|(member=" + ldap.EscapeFilter(e.DN) + ")(uniqueMember=" + ldap.EscapeFilter(e.DN) + ")"
	if uid := e.GetAttributeValue("uid"); uid != "" {
		f += "(memberUid=" + ldap.EscapeFilter(uid) + ")"
	}
	res, err := c.Search(ldap.NewSearchRequest(s.opts.GroupDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, int(s.opts.Timeout/time.Second), false, f+")", []string{"1.1"}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return false, nil // no such group: nobody is a member
	}
	if err != nil {
		return false, err
	}
	return len(res.Entries) > 0, nil
}

// with runs fn on a pooled connection bound as the service account. A
// pooled connection the server has closed meanwhile is replaced by a new
// one and fn tried once more.
func (s *Source) with(ctx context.Context, fn func(*ldap.Conn) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, pooled, err := s.get(ctx)
		if err != nil {
			return err
		}
		if d, ok := ctx.Deadline(); ok {
			c.SetTimeout(min(s.opts.Timeout, max(time.Until(d), time.Millisecond)))
		}
		err = fn(c)
		if err != nil && ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
			c.Close()
			if pooled && attempt == 0 {
				continue
			}
			return err
		}
		s.put(c)
		return err
	}
}

// get returns an idle connection (pooled = true) or a new one.
func (s *Source) get(ctx context.Context) (*ldap.Conn, bool, error) {
	for {
		select {
		case c := <-s.idle:
			if c.IsClosing() {
				c.Close()
				continue
			}
			c.SetTimeout(s.opts.Timeout)
			return c, true, nil
		default:
		}
		c, err := s.dial(ctx)
		return c, false, err
	}
}

// put keeps a connection for the next request, or closes it when the pool
// is full or the connection is closing.
func (s *Source) put(c *ldap.Conn) {
	if c.IsClosing() {
		c.Close()
		return
	}
	select {
	case s.idle <- c:
	default:
		c.Close()
	}
}

// dial connects, upgrades with StartTLS when configured and binds as the
// service account.
func (s *Source) dial(ctx context.Context) (*ldap.Conn, error) {
	timeout := s.opts.Timeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(d), time.Millisecond))
	}
	c, err := ldap.DialURL(s.opts.URL, ldap.DialWithDialer(&net.Dialer{Timeout: timeout}), ldap.DialWithTLSConfig(s.tls))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(timeout)
	if s.opts.StartTLS {
		if err := c.StartTLS(s.tls); err != nil {
			c.Close()
			return nil, fmt.Errorf("starttls: %w", err)
		}
	}
	if err := s.bindService(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("service bind as %q: %w", s.opts.BindDN, err)
	}
	return c, nil
}

// bindService binds c as the service account (or anonymously when no
// bind_dn is configured).
func (s *Source) bindService(c *ldap.Conn) error {
	if s.opts.BindDN == "" {
		return c.UnauthenticatedBind("")
	}
	return c.Bind(s.opts.BindDN, s.opts.BindPassword)
}

// unavailable marks an error as the server's inability to answer.
func unavailable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, directory.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: ldap: %w", directory.ErrUnavailable, err)
}
