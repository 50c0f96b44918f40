package system

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"pochta/internal/directory"
)

// hostUser creates a host user with useradd and sets its password with
// chpasswd (extra: chpasswd's flags, e.g. "-c", "SHA512"; none: the host's
// default, yescrypt on Debian 12); userdel -r removes it at the end.
func hostUser(t *testing.T, password string, extra ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates host users with useradd and reads /etc/shadow: run it as root (CI does)")
	}
	b := make([]byte, 8)
	rand.Read(b)
	name := "pz"
	for _, c := range b {
		name += string(rune('a' + c%26))
	}
	run(t, "", "useradd", "-m", "-s", "/usr/sbin/nologin", name)
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", "-r", name).CombinedOutput(); err != nil {
			t.Errorf("userdel -r %s: %v %s", name, err, out)
		}
	})
	run(t, name+":"+password+"\n", "chpasswd", extra...)
	return name
}

func run(t *testing.T, stdin, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func shadowHash(t *testing.T, name string) string {
	t.Helper()
	f, err := findLine("/etc/shadow", name)
	if err != nil || f == nil {
		t.Fatalf("no shadow entry for %s: %v", name, err)
	}
	return f[1]
}

func newSource(t *testing.T) (*Source, *bytes.Buffer) {
	var log bytes.Buffer
	return New(Options{Domain: "Example.TEST", Logger: slog.New(slog.NewTextHandler(&log, nil))}), &log
}

func wantAuth(t *testing.T, s *Source, login, password string, want error) {
	t.Helper()
	e, err := s.Authenticate(context.Background(), login, password)
	if want == nil {
		if err != nil {
			t.Fatalf("Authenticate(%s): %v", login, err)
		}
		if e.Source != "system" || e.Address != strings.ToLower(login) || !e.Enabled || len(e.Addresses) != 1 || e.Addresses[0] != e.Address {
			t.Fatalf("Authenticate(%s) = %+v", login, e)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("Authenticate(%s, %q) = %+v, %v; want %v", login, password, e, err, want)
	}
}

func wantLookup(t *testing.T, s *Source, addr string, enabled bool, want error) {
	t.Helper()
	e, err := s.Lookup(context.Background(), addr)
	if !errors.Is(err, want) || want == nil && (e.Enabled != enabled || e.Address != strings.ToLower(addr)) {
		t.Fatalf("Lookup(%s) = %+v, %v; want enabled=%v err=%v", addr, e, err, enabled, want)
	}
}

// TestSystemUserSHACrypt: users whose passwords chpasswd hashed with
// SHA-512 and SHA-256 log in; a wrong password, a locked or expired
// account (which mail no longer reaches either), an expired password and
// one that must be changed do not; unlocking lets the user in again.
func TestSystemUserSHACrypt(t *testing.T) {
	s, _ := newSource(t)
	for _, method := range []string{"SHA512", "SHA256"} {
		name := hostUser(t, "Kate's pass "+method, "-c", method)
		if h := shadowHash(t, name); !strings.HasPrefix(h, map[string]string{"SHA512": "$6$", "SHA256": "$5$"}[method]) {
			t.Fatalf("chpasswd -c %s wrote %q", method, h)
		}
		addr := name + "@example.test"
		wantLookup(t, s, addr, true, nil)
		wantLookup(t, s, strings.ToUpper(addr), true, nil)
		wantAuth(t, s, addr, "Kate's pass "+method, nil)
		wantAuth(t, s, addr, "Kate's pass", directory.ErrInvalid)
		wantAuth(t, s, addr, "", directory.ErrInvalid)
		wantAuth(t, s, name+"@elsewhere.test", "Kate's pass "+method, directory.ErrUnknown)
		wantAuth(t, s, name, "Kate's pass "+method, directory.ErrUnknown)
	}

	name := hostUser(t, "pw-of-lena", "-c", "SHA512")
	addr := name + "@example.test"
	wantAuth(t, s, addr, "pw-of-lena", nil)

	run(t, "", "usermod", "-L", name)
	wantAuth(t, s, addr, "pw-of-lena", directory.ErrInvalid)
	wantLookup(t, s, addr, false, nil)
	run(t, "", "usermod", "-U", name)
	wantAuth(t, s, addr, "pw-of-lena", nil)

	run(t, "", "chage", "-E", "2001-01-01", name) // account expired
	wantAuth(t, s, addr, "pw-of-lena", directory.ErrInvalid)
	wantLookup(t, s, addr, false, nil)
	run(t, "", "chage", "-E", "-1", name)
	wantAuth(t, s, addr, "pw-of-lena", nil)

	run(t, "", "chage", "-d", "2001-01-01", "-M", "30", name) // password past its maximum age
	wantAuth(t, s, addr, "pw-of-lena", directory.ErrInvalid)
	wantLookup(t, s, addr, true, nil) // mail still reaches her
	run(t, "", "chage", "-M", "-1", name)
	wantAuth(t, s, addr, "pw-of-lena", nil)
	run(t, "", "chage", "-d", "0", name) // must change at next login
	wantAuth(t, s, addr, "pw-of-lena", directory.ErrInvalid)
	wantLookup(t, s, addr, true, nil)

	run(t, "", "passwd", "-d", name) // no password at all
	wantAuth(t, s, addr, "", directory.ErrInvalid)
	wantAuth(t, s, addr, "x", directory.ErrInvalid)
	wantLookup(t, s, addr, true, nil)
}

// TestSystemUserYescrypt: the host's default, yescrypt. The PAM build
// logs the user in; the pure-Go one refuses with a log line that tells
// the admin what to do.
func TestSystemUserYescrypt(t *testing.T) {
	s, log := newSource(t)
	name := hostUser(t, "yes-Crypt-pw")
	if h := shadowHash(t, name); !strings.HasPrefix(h, "$y$") {
		t.Fatalf("the host's default chpasswd wrote %q, not yescrypt", h)
	}
	addr := name + "@example.test"
	wantLookup(t, s, addr, true, nil)
	wantAuth(t, s, addr, "yes-Crypt-pw-wrong", directory.ErrInvalid)
	if pamBuild {
		wantAuth(t, s, addr, "yes-Crypt-pw", nil)
		return
	}
	wantAuth(t, s, addr, "yes-Crypt-pw", directory.ErrInvalid)
	if !strings.Contains(log.String(), "-tags pam") || !strings.Contains(log.String(), name) || !strings.Contains(log.String(), "$y$") {
		t.Fatalf("no helpful log line:\n%s", log.String())
	}
}

// TestSystemNotMailUsers: root, daemons, nobody, unknown names and other
// domains are not mail users, and odd local parts find nothing.
func TestSystemNotMailUsers(t *testing.T) {
	s, _ := newSource(t)
	for _, addr := range []string{"root@example.test", "daemon@example.test", "nobody@example.test", "www-data@example.test",
		"no-such-user-here@example.test", "root:x@example.test", "*@example.test", "@example.test", "example.test", "",
		"../etc@example.test", "root\n@example.test"} {
		wantLookup(t, s, addr, false, directory.ErrUnknown)
		wantAuth(t, s, addr, "x", directory.ErrUnknown)
	}
	// A name that is a prefix of another's is not that user.
	name := hostUser(t, "pw", "-c", "SHA512")
	wantLookup(t, s, name[:len(name)-1]+"@example.test", false, directory.ErrUnknown)
	// Without a domain the source knows nobody.
	wantLookup(t, New(Options{}), name+"@example.test", false, directory.ErrUnknown)
	// A raised MinUID excludes the user.
	wantLookup(t, New(Options{Domain: "example.test", MinUID: 59999}), name+"@example.test", false, directory.ErrUnknown)
	// An unreadable shadow file is "unavailable", never "unknown".
	_, err := New(Options{Domain: "example.test", ShadowFile: "/nonexistent/shadow"}).Lookup(context.Background(), name+"@example.test")
	if !errors.Is(err, directory.ErrUnavailable) {
		t.Fatalf("missing shadow file: %v", err)
	}
}
