// Package pgtest runs a real PostgreSQL server for tests: initdb and
// postgres from Debian's postgresql package, in a temporary folder, on a
// loopback port, as the unprivileged "postgres" user when the tests run as
// root (PostgreSQL refuses to run as root). Nothing is installed as a
// system service; the server is stopped by PID when the test ends.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is one running PostgreSQL.
type Server struct {
	// Addr is "127.0.0.1:port".
	Addr string
	dir  string
	cmd  *exec.Cmd
	n    atomic.Int64
}

// binDir finds the newest installed PostgreSQL's programs.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("pgtest: no PostgreSQL server in /usr/lib/postgresql/*/bin: install Debian's postgresql package (.ci/run does)")
}

// command runs a PostgreSQL program, as the postgres user when we are root.
func command(prog string, args ...string) (*exec.Cmd, error) {
	if os.Geteuid() != 0 {
		return exec.Command(prog, args...), nil
	}
	if _, err := user.Lookup("postgres"); err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs the postgres user (Debian's postgresql package makes it): %w", err)
	}
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", prog}, args...)...), nil
}

// Start starts a fresh server for the test (and its subtests); it is
// stopped and its folder removed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "pgtest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb, err := command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	var s *Server
	for tries := 0; tries < 20 && s == nil; tries++ {
		port := 20000 + rand.IntN(12000)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			continue
		} else {
			l.Close()
		}
		cmd, err := command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-h", "127.0.0.1", "-p", strconv.Itoa(port),
			"-c", "max_connections=300", "-c", "shared_buffers=32MB", "-c", "logging_collector=off")
		if err != nil {
			t.Fatal(err)
		}
		logf, err := os.Create(filepath.Join(dir, "server.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("pgtest: starting postgres: %v", err)
		}
		cand := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, cmd: cmd}
		if cand.waitReady(15 * time.Second) {
			s = cand
			break
		}
		cand.kill()
		logf.Close()
	}
	if s == nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		t.Fatalf("pgtest: postgres did not start:\n%s", log)
	}
	t.Cleanup(s.kill)
	return s
}

// waitReady waits until the server accepts a connection, or the process
// exits, or d has passed.
func (s *Server) waitReady(d time.Duration) bool {
	exited := make(chan struct{})
	go func() { s.cmd.Process.Wait(); close(exited) }() //nolint:errcheck
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, s.SuperuserURL("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// kill stops the server (its process group) at once.
func (s *Server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck
		s.cmd.Process.Kill()                              //nolint:errcheck
	}
}

// Stop stops the server, as a crash of the database machine would; the
// test's cleanup does it anyway.
func (s *Server) Stop() { s.kill() }

// SuperuserURL is a connection URL to database db as the superuser.
func (s *Server) SuperuserURL(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", s.Addr, db)
}

// NewDatabase creates a role and a database it owns (the role is not a
// superuser, as in production) and returns the role's connection URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	n := s.n.Add(1)
	name := fmt.Sprintf("pochta%d", n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.SuperuserURL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer c.Close(ctx)
	for _, q := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN", name),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", name, name),
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("pgtest: %s: %v", q, err)
		}
	}
	// pg_trgm is a trusted extension (PostgreSQL 13+): the owner of the
	// database may create it; nothing else needs a superuser.
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", name, s.Addr, name)
}

// Log returns the server's log so far (for failure messages).
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return strings.TrimSpace(string(b))
}
