package ldap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"pochta/internal/directory"
	"pochta/internal/directory/slapdtest"
)

const (
	openLDAPFilter = "(&(objectClass=inetOrgPerson)(|(mail=%s)(mailAlternateAddress=%s)))"
	adFilter       = "(&(objectClass=pochtaUser)(|(userPrincipalName=%s)(proxyAddresses=smtp:%s)))"
	groupDN        = "cn=mail,ou=groups,dc=example,dc=test"
)

func openLDAP(srv *slapdtest.Server) Options {
	return Options{
		URL:               srv.URL,
		BindDN:            "cn=pochta,ou=services,dc=example,dc=test",
		BindPassword:      "service-secret",
		BaseDN:            "ou=people,dc=example,dc=test",
		UserFilter:        openLDAPFilter,
		AddressAttributes: []string{"mail", "mailAlternateAddress"},
		QuotaAttribute:    "mailQuota",
		Timeout:           2 * time.Second,
	}
}

func newSource(t *testing.T, opts Options) *Source {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestOpenLDAP(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.PeopleLDIF)
	s := newSource(t, openLDAP(srv))
	ctx := context.Background()

	want := []string{"kate@example.test", "k.smith@example.test", "sales@example.test"}
	for _, addr := range []string{"kate@example.test", "K.Smith@example.test", "sales@EXAMPLE.test"} {
		e, err := s.Lookup(ctx, addr)
		if err != nil {
			t.Fatalf("Lookup(%s): %v", addr, err)
		}
		if e.Address != "kate@example.test" || !slices.Equal(e.Addresses, want) || !e.Enabled || e.Quota != 5000000 || e.Source != "ldap" {
			t.Errorf("Lookup(%s) = %+v", addr, e)
		}
	}
	if e, err := s.Authenticate(ctx, "k.smith@example.test", "kate-pw"); err != nil || e.Address != "kate@example.test" {
		t.Errorf("Authenticate(alternate address, right password) = %+v, %v", e, err)
	}
	for _, pw := range []string{"wrong", "KATE-PW", ""} {
		if _, err := s.Authenticate(ctx, "kate@example.test", pw); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("Authenticate(password %q) = %v, want ErrInvalid", pw, err)
		}
	}
	if _, err := s.Lookup(ctx, "nobody@example.test"); !errors.Is(err, directory.ErrUnknown) {
		t.Errorf("Lookup(unknown) = %v, want ErrUnknown", err)
	}
	if _, err := s.Authenticate(ctx, "nobody@example.test", "kate-pw"); !errors.Is(err, directory.ErrUnknown) {
		t.Errorf("Authenticate(unknown) = %v, want ErrUnknown", err)
	}
	// The connection pool survives the users' binds: the service account
	// still searches afterwards.
	if _, err := s.Lookup(ctx, "bob@example.test"); err != nil {
		t.Errorf("Lookup after user binds: %v", err)
	}
}

// TestFilterInjection: addresses full of filter metacharacters find
// nothing (RFC 4515 escaping), even where an unescaped filter would match
// every user.
func TestFilterInjection(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.PeopleLDIF)
	s := newSource(t, openLDAP(srv))
	ctx := context.Background()
	for _, addr := range []string{"*)(uid=*", "*", "kate@example.test)(|(mail=*", `*\2a`, "*)(objectClass=*))(|(mail=*", "kate*"} {
		if e, err := s.Lookup(ctx, addr); !errors.Is(err, directory.ErrUnknown) {
			t.Errorf("Lookup(%q) = %+v, %v; want ErrUnknown", addr, e, err)
		}
		if e, err := s.Authenticate(ctx, addr, "kate-pw"); !errors.Is(err, directory.ErrUnknown) {
			t.Errorf("Authenticate(%q) = %+v, %v; want ErrUnknown", addr, e, err)
		}
	}
}

func TestGroup(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.PeopleLDIF)
	opts := openLDAP(srv)
	opts.GroupDN = groupDN
	s := newSource(t, opts)
	ctx := context.Background()
	if e, err := s.Lookup(ctx, "kate@example.test"); err != nil || !e.Enabled {
		t.Errorf("member: Lookup = %+v, %v", e, err)
	}
	if _, err := s.Authenticate(ctx, "kate@example.test", "kate-pw"); err != nil {
		t.Errorf("member: Authenticate = %v", err)
	}
	if e, err := s.Lookup(ctx, "bob@example.test"); err != nil || e.Enabled {
		t.Errorf("not a member: Lookup = %+v, %v; want a disabled entry", e, err)
	}
	if _, err := s.Authenticate(ctx, "bob@example.test", "bob-pw"); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("not a member: Authenticate = %v, want ErrInvalid", err)
	}
	srv.Modify("dn: " + groupDN + "\nchangetype: modify\ndelete: member\nmember: uid=kate,ou=people,dc=example,dc=test\n")
	if e, err := s.Lookup(ctx, "kate@example.test"); err != nil || e.Enabled {
		t.Errorf("removed from the group: Lookup = %+v, %v; want a disabled entry", e, err)
	}
}

func TestActiveDirectory(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.PeopleLDIF)
	opts := openLDAP(srv)
	opts.UserFilter = adFilter
	opts.AddressAttributes = []string{"proxyAddresses"}
	opts.QuotaAttribute = ""
	opts.GroupDN = groupDN // through memberOf
	s := newSource(t, opts)
	ctx := context.Background()
	for _, addr := range []string{"ann@example.test", "a.lee@example.test", "ann@corp.example.test"} {
		e, err := s.Lookup(ctx, addr)
		if err != nil || e.Address != "ann@example.test" || !slices.Equal(e.Addresses, []string{"ann@example.test", "a.lee@example.test"}) || !e.Enabled {
			t.Errorf("Lookup(%s) = %+v, %v", addr, e, err)
		}
	}
	if _, err := s.Authenticate(ctx, "a.lee@example.test", "ann-pw"); err != nil {
		t.Errorf("Authenticate(ann) = %v", err)
	}
	if _, err := s.Lookup(ctx, "x500:/o=example/ou=exchange/cn=recipients/cn=ann"); !errors.Is(err, directory.ErrUnknown) {
		t.Errorf("Lookup(an X500 proxy address) = %v, want ErrUnknown", err)
	}
	// userAccountControl bit 2: disabled.
	if e, err := s.Lookup(ctx, "dave@example.test"); err != nil || e.Enabled {
		t.Errorf("disabled: Lookup = %+v, %v; want a disabled entry", e, err)
	}
	if _, err := s.Authenticate(ctx, "dave@example.test", "dave-pw"); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("disabled: Authenticate = %v, want ErrInvalid", err)
	}
}

// TestUnavailable: a stopped server is ErrUnavailable, never ErrUnknown;
// the pool reconnects when it is back.
func TestUnavailable(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.PeopleLDIF)
	s := newSource(t, openLDAP(srv))
	ctx := context.Background()
	if _, err := s.Lookup(ctx, "kate@example.test"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := s.Lookup(ctx, "kate@example.test"); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("stopped: Lookup = %v, want ErrUnavailable", err)
	}
	if _, err := s.Authenticate(ctx, "kate@example.test", "kate-pw"); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("stopped: Authenticate = %v, want ErrUnavailable", err)
	}
	srv.Restart()
	if _, err := s.Authenticate(ctx, "kate@example.test", "kate-pw"); err != nil {
		t.Errorf("restarted: Authenticate = %v", err)
	}
	// A wrong service password is the directory's failure, not the user's.
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	opts := openLDAP(srv)
	opts.BindPassword = "wrong"
	bad := newSource(t, opts)
	if _, err := bad.Lookup(ctx, "kate@example.test"); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("bad service password: Lookup = %v, want ErrUnavailable", err)
	}
	if err := bad.Check(ctx); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("bad service password: Check = %v, want ErrUnavailable", err)
	}
}

func TestAddresses(t *testing.T) {
	got := addresses([]string{"smtp:b@x", "X400:c=US;a= ;p=Org", "SMTP:A@X", "plain@x", "sip:s@x", "nolocal"})
	if want := []string{"a@x", "b@x", "plain@x"}; !slices.Equal(got, want) {
		t.Errorf("addresses = %v, want %v", got, want)
	}
}

// TestTLS: StartTLS on ldap:// and implicit TLS on ldaps://, with the
// server's certificate checked against ca_file (refused without it).
func TestTLS(t *testing.T) {
	srv := slapdtest.StartTLS(t, slapdtest.PeopleLDIF)
	ctx := context.Background()
	cases := []struct {
		name string
		edit func(*Options)
		ok   bool
	}{
		{"starttls", func(o *Options) { o.StartTLS, o.CAFile = true, srv.CAFile }, true},
		{"ldaps", func(o *Options) { o.URL, o.CAFile = srv.LDAPSURL, srv.CAFile }, true},
		{"ldaps, unknown certificate", func(o *Options) { o.URL = srv.LDAPSURL }, false},
		{"starttls, unknown certificate", func(o *Options) { o.StartTLS = true }, false},
		{"ldaps, insecure_skip_verify", func(o *Options) { o.URL, o.InsecureSkipVerify = srv.LDAPSURL, true }, true},
	}
	for _, tc := range cases {
		opts := openLDAP(srv)
		tc.edit(&opts)
		_, err := newSource(t, opts).Authenticate(ctx, "kate@example.test", "kate-pw")
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, directory.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", tc.name, err)
		}
	}
}

// TestHungServer: a server that accepts connections and never answers
// costs one Timeout and is ErrUnavailable, never a hang.
func TestHungServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, unanswered, until the listener closes
		}
	}()
	s := newSource(t, Options{
		URL: "ldap://" + l.Addr().String(), BindDN: "cn=x", BindPassword: "y", BaseDN: "dc=x",
		UserFilter: "(mail=%s)", AddressAttributes: []string{"mail"}, Timeout: 200 * time.Millisecond,
	})
	done := make(chan error, 1)
	go func() {
		_, err := s.Lookup(context.Background(), "kate@example.test")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, directory.ErrUnavailable) {
			t.Errorf("Lookup = %v, want ErrUnavailable", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Lookup still waiting after 30 s with a 200 ms timeout")
	}
}

// TestConcurrent: many logins and look-ups at once share the pool (run
// with -race).
func TestConcurrent(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.PeopleLDIF)
	s := newSource(t, openLDAP(srv))
	ctx := context.Background()
	errs := make(chan error, 20*10)
	var wg sync.WaitGroup
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				pw, want := "kate-pw", error(nil)
				if (g+i)%3 == 0 {
					pw, want = "wrong", directory.ErrInvalid
				}
				if _, err := s.Authenticate(ctx, "kate@example.test", pw); !errors.Is(err, want) {
					errs <- fmt.Errorf("Authenticate(%s) = %v, want %v", pw, err, want)
				}
				if e, err := s.Lookup(ctx, "lena@example.test"); err != nil || e.Address != "lena@example.test" {
					errs <- fmt.Errorf("Lookup = %+v, %v", e, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(s.idle); n > cap(s.idle) {
		t.Errorf("%d idle connections, pool holds %d", n, cap(s.idle))
	}
}

// BenchmarkAuthenticate: a search and a bind as the user (and back to
// the service account) on a pooled connection.
func BenchmarkAuthenticate(b *testing.B) {
	srv := slapdtest.Start(b, slapdtest.PeopleLDIF)
	s, err := New(openLDAP(srv))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Authenticate(ctx, "kate@example.test", "kate-pw"); err != nil {
			b.Fatal(err)
		}
	}
}
