// Package system is the "system" account source: the machine's own users
// (as Dovecot's passdb shadow/PAM). A host user kate with a UID in the
// configured range is kate@<domain>; her password is the one the host
// checks at login.
//
// The default (pure Go) build reads /etc/passwd and /etc/shadow itself
// (so pochta must run as root, or with read access to /etc/shadow) and
// verifies SHA-crypt ("$6$", "$5$", shacrypt.go) and bcrypt ("$2b$")
// hashes. yescrypt ("$y$", Debian 12's default) and the other schemes are
// refused with a log line naming the PAM build: `go build -tags pam`
// (pam.go, cgo and libpam0g-dev) hands the password check to the host's
// PAM stack, which covers every scheme the host uses.
//
// Either way the account's state comes from shadow(5): a locked password
// ("!" or "*" first) or an expired account (field 8) may not use mail at
// all (Lookup says not Enabled); an empty password, one past its maximum
// age (fields 3 and 5) or one the host forces to change (field 3 is 0)
// may not log in, but mail still reaches the user.
package system

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"pochta/internal/directory"
)

// Options configure the system source.
type Options struct {
	// Domain: host user kate is kate@Domain; other domains are unknown here.
	Domain string
	// MinUID and MaxUID bound the users that are mail users (Debian's
	// UID_MIN 1000 and UID_MAX 60000 by default), so root, daemons and
	// nobody (65534) never are.
	MinUID, MaxUID int
	// PAMService is the PAM service the pam build authenticates with
	// ("pochta" by default; without /etc/pam.d/pochta PAM uses "other").
	PAMService string
	// PasswdFile and ShadowFile default to /etc/passwd and /etc/shadow.
	PasswdFile, ShadowFile string
	Logger                 *slog.Logger
}

// Source is the "system" account source.
type Source struct {
	opts Options
	now  func() time.Time
	pam  chan struct{} // PAM transactions running (pam build)
}

// New returns the system source.
func New(opts Options) *Source {
	opts.Domain = strings.ToLower(strings.TrimSpace(opts.Domain))
	if opts.MinUID == 0 {
		opts.MinUID = 1000
	}
	if opts.MaxUID == 0 {
		opts.MaxUID = 60000
	}
	if opts.PAMService == "" {
		opts.PAMService = "pochta"
	}
	if opts.PasswdFile == "" {
		opts.PasswdFile = "/etc/passwd"
	}
	if opts.ShadowFile == "" {
		opts.ShadowFile = "/etc/shadow"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Source{opts: opts, now: time.Now, pam: make(chan struct{}, pamSlots)}
}

// Name implements directory.Source.
func (s *Source) Name() string { return "system" }

// user is what the host says about one user.
type user struct {
	name    string
	address string
	hash    string // shadow's password field
	// disabled says why the account may not use mail at all (locked,
	// expired); noLogin why its password may not log in now (expired,
	// must be changed, empty), though mail still reaches it.
	disabled, noLogin string
}

// Lookup implements directory.Source: an address of the domain whose
// local part is a host user in the UID range. A user whose account may not
// log in (locked, expired) is known but not Enabled.
func (s *Source) Lookup(ctx context.Context, addr string) (directory.Entry, error) {
	u, err := s.user(addr)
	if err != nil {
		return directory.Entry{}, err
	}
	return s.entry(u), nil
}

// Authenticate implements directory.Source.
func (s *Source) Authenticate(ctx context.Context, login, password string) (directory.Entry, error) {
	u, err := s.user(login)
	if err != nil {
		return directory.Entry{}, err
	}
	if why := u.disabled + u.noLogin; why != "" {
		return directory.Entry{}, fmt.Errorf("%w: system user %s: %s", directory.ErrInvalid, u.name, why)
	}
	if password == "" {
		return directory.Entry{}, fmt.Errorf("%w: empty password", directory.ErrInvalid)
	}
	if err := s.verify(ctx, u, password); err != nil {
		return directory.Entry{}, err
	}
	return s.entry(u), nil
}

func (s *Source) entry(u user) directory.Entry {
	return directory.Entry{Source: s.Name(), Address: u.address, Addresses: []string{u.address}, Enabled: u.disabled == ""}
}

// verifyHash checks password against a shadow hash in pure Go.
func (s *Source) verifyHash(u user, password string) error {
	var ok bool
	var err error
	switch {
	case strings.HasPrefix(u.hash, "$5$"), strings.HasPrefix(u.hash, "$6$"):
		ok, err = shaCryptVerify(u.hash, password)
	case strings.HasPrefix(u.hash, "$2a$"), strings.HasPrefix(u.hash, "$2b$"), strings.HasPrefix(u.hash, "$2y$"):
		ok = bcrypt.CompareHashAndPassword([]byte(u.hash), []byte(password)) == nil
	default:
		err = errUnsupportedHash
	}
	if errors.Is(err, errUnsupportedHash) {
		scheme := u.hash
		if i := strings.IndexByte(scheme[1:], '$'); scheme != "" && scheme[0] == '$' && i >= 0 {
			scheme = scheme[:i+2]
		} else {
			scheme = "DES/unknown"
		}
		s.opts.Logger.Warn("system user's password hash scheme is not supported by this build; set the password with `chpasswd -c SHA512`, or use the PAM build (go build -tags pam ./cmd/pochta)",
			"user", u.name, "scheme", scheme)
		return fmt.Errorf("%w: system user %s: %v %s", directory.ErrInvalid, u.name, errUnsupportedHash, scheme)
	}
	if err != nil {
		return fmt.Errorf("%w: system user %s: %v", directory.ErrInvalid, u.name, err)
	}
	if !ok {
		return fmt.Errorf("%w: system user %s: wrong password", directory.ErrInvalid, u.name)
	}
	return nil
}

// user finds the host user an address names.
func (s *Source) user(addr string) (user, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if s.opts.Domain == "" || at <= 0 || addr[at+1:] != s.opts.Domain {
		return user{}, directory.ErrUnknown
	}
	name := addr[:at]
	if !validName(name) {
		return user{}, directory.ErrUnknown
	}
	pw, err := findLine(s.opts.PasswdFile, name)
	if err != nil {
		return user{}, err
	}
	if pw == nil || len(pw) < 7 {
		return user{}, directory.ErrUnknown
	}
	uid, err := strconv.Atoi(pw[2])
	if err != nil || uid < s.opts.MinUID || uid > s.opts.MaxUID {
		return user{}, directory.ErrUnknown
	}
	sh, err := findLine(s.opts.ShadowFile, name)
	if err != nil {
		return user{}, err
	}
	u := user{name: name, address: addr}
	switch {
	case sh == nil || len(sh) < 8:
		u.disabled = "no shadow entry"
	default:
		u.hash = sh[1]
		u.disabled, u.noLogin = s.shadowState(sh)
	}
	return u, nil
}

// shadowState says why a shadow(5) entry's account is disabled, and why
// its password may not log in; "" when it may.
func (s *Source) shadowState(f []string) (disabled, noLogin string) {
	today := s.now().Unix() / 86400
	day := func(i int) (int64, bool) {
		if i >= len(f) || f[i] == "" {
			return 0, false
		}
		n, err := strconv.ParseInt(f[i], 10, 64)
		return n, err == nil
	}
	if f[1] != "" && (f[1][0] == '!' || f[1][0] == '*') {
		return "locked", ""
	}
	if exp, ok := day(7); ok && exp > 0 && today >= exp {
		return "account expired", ""
	}
	last, hasLast := day(2)
	maxAge, hasMax := day(4)
	switch {
	case f[1] == "":
		return "", "no password"
	case hasLast && last == 0:
		return "", "password must be changed"
	case hasMax && hasLast && maxAge >= 0 && maxAge < 99999 && today >= last+maxAge:
		return "", "password expired"
	}
	return "", ""
}

// validName: the user names useradd accepts (Debian's NAME_REGEX, ASCII).
func validName(n string) bool {
	if n == "" || len(n) > 32 || n[0] == '-' {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == '$' && i == len(n)-1) {
			return false
		}
	}
	return true
}

// findLine returns the colon-separated fields of the line of a
// passwd-style file whose first field is name, or nil. The file is read
// at every call (both are small), so a change by usermod, chage or
// passwd counts at once.
func findLine(path, name string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", directory.ErrUnavailable, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+":") {
			return strings.Split(line, ":"), nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", directory.ErrUnavailable, path, err)
	}
	return nil, nil
}
