package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// idleConn is one IMAP connection logged in, INBOX selected, in IDLE.
type idleConn struct {
	c  net.Conn
	br *bufio.Reader
}

// runIdle opens -conns IMAP connections (at most -parallel logging in at
// once), each logged in with INBOX selected and in IDLE (RFC 2177), holds
// them for -hold, and prints the server's memory before and after: the
// resident set (VmRSS) and proportional set (Pss) summed over -pid and
// its direct children (Dovecot runs one imap process per connection).
// Connections spread over -sources loopback source addresses so that
// 10,000 of them do not run out of ephemeral ports.
func runIdle(args []string) {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:143", "IMAP server (loopback only)")
	user := fs.String("user", "", "login name")
	pass := fs.String("pass", "", "password")
	conns := fs.Int("conns", 1000, "connections to hold (bounded)")
	parallel := fs.Int("parallel", 4, "logins at once")
	sources := fs.Int("sources", 1, "loopback source addresses to spread over (127.0.1.1, 127.0.1.2, ...)")
	pid := fs.Int("pid", 0, "server process to measure (and its direct children)")
	hold := fs.Duration("hold", 3*time.Second, "time to hold the connections before measuring")
	maxTime := fs.Duration("max-time", 5*time.Minute, "stop after this long in any case")
	until := fs.String("until", "idle", "how far each connection goes: greeting, login, select or idle")
	fs.Parse(args)
	mustLoopback(*addr)
	if *pid <= 0 || *conns <= 0 || *conns > 100000 || *parallel <= 0 || *sources <= 0 || *sources > 250 {
		fmt.Fprintln(os.Stderr, "mailbench idle: need -pid, 0 < -conns <= 100000, -parallel > 0, 0 < -sources <= 250")
		os.Exit(2)
	}
	raiseFileLimit(*conns + 100)
	deadline := time.Now().Add(*maxTime)
	// One connection first, closed again, so that what the server sets up
	// once (the first password hash: argon2id's 19 MiB at pochta, the
	// auth and imap processes at Dovecot) does not count per connection.
	warm, err := dialIdle(*addr, nil, *user, *pass, *until, deadline)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailbench idle: warm-up connection:", err)
		os.Exit(1)
	}
	warm.c.Close()
	time.Sleep(*hold)
	before := memKiB(*pid)
	open := make([]*idleConn, *conns)
	errs := make([]error, *conns)
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < *parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				src := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i%*sources))}
				open[i], errs[i] = dialIdle(*addr, src, *user, *pass, *until, deadline)
			}
		}()
	}
	for i := 0; i < *conns && time.Now().Before(deadline); i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	ok, failed := 0, 0
	var firstErr error
	for i := range open {
		switch {
		case open[i] != nil:
			ok++
		case errs[i] != nil:
			failed++
			if firstErr == nil {
				firstErr = errs[i]
			}
		}
	}
	time.Sleep(*hold)
	after := memKiB(*pid)
	// Every connection must still be in IDLE: a server that dropped one
	// would look cheaper than it is.
	alive := 0
	for _, c := range open {
		if c == nil {
			continue
		}
		c.c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.br.Peek(1); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				alive++
			}
		} else {
			alive++ // an untagged update; still connected
		}
	}
	for _, c := range open {
		if c != nil {
			c.c.Close()
		}
	}
	per := func(a, b int) float64 {
		if alive == 0 {
			return 0
		}
		return float64(a-b) / float64(alive)
	}
	fmt.Printf("addr=%s conns=%d idle=%d alive=%d failed=%d login_elapsed=%.2fs rss_before_kib=%d rss_after_kib=%d rss_per_conn_kib=%.1f pss_before_kib=%d pss_after_kib=%d pss_per_conn_kib=%.1f\n",
		*addr, *conns, ok, alive, failed, elapsed.Seconds(), before.rss, after.rss, per(after.rss, before.rss),
		before.pss, after.pss, per(after.pss, before.pss))
	if failed > 0 || alive != *conns {
		if firstErr != nil {
			fmt.Fprintln(os.Stderr, "mailbench idle: first failure:", firstErr)
		}
		os.Exit(1)
	}
}

// dialIdle logs in, selects INBOX and enters IDLE.
// With until it stops after the greeting, the login or the SELECT
// instead, to tell what each step costs the server.
func dialIdle(addr string, src *net.TCPAddr, user, pass, until string, deadline time.Time) (*idleConn, error) {
	d := net.Dialer{LocalAddr: src, Deadline: deadline}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(deadline)
	ic := &idleConn{c: c, br: bufio.NewReaderSize(c, 512)}
	steps := []struct{ name, send, want string }{
		{"greeting", "", "* OK"},
		{"login", "a LOGIN " + imapQuote(user) + " " + imapQuote(pass) + "\r\n", "a OK"},
		{"select", "b SELECT INBOX\r\n", "b OK"},
		{"idle", "c IDLE\r\n", "+"},
	}
	for i, st := range steps {
		if i > 0 && steps[i-1].name == until {
			break
		}
		if st.send != "" {
			if _, err := c.Write([]byte(st.send)); err != nil {
				c.Close()
				return nil, err
			}
		}
		if err := ic.readUntil(st.want); err != nil {
			c.Close()
			return nil, fmt.Errorf("waiting for %q: %w", st.want, err)
		}
	}
	c.SetDeadline(time.Time{})
	return ic, nil
}

// readUntil reads lines until one starts with prefix; a tagged NO or BAD
// is an error. Literals do not occur in the replies read here.
func (ic *idleConn) readUntil(prefix string) error {
	for {
		line, err := ic.br.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, prefix) {
			return nil
		}
		if f := strings.Fields(line); len(f) > 1 && f[0] != "*" && (f[1] == "NO" || f[1] == "BAD") {
			return errors.New(strings.TrimSpace(line))
		}
	}
}

func imapQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// raiseFileLimit lifts the soft limit on open files to n (or the hard
// limit, if lower).
func raiseFileLimit(n int) {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return
	}
	if uint64(n) > l.Cur {
		l.Cur = min(uint64(n), l.Max)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// mem is a process tree's memory in KiB.
type mem struct{ rss, pss int }

// memKiB sums VmRSS and Pss of pid and of its direct children.
func memKiB(pid int) mem {
	m := procMem(pid)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The fields after the parenthesised command name: state, ppid.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			cm := procMem(child)
			m.rss += cm.rss
			m.pss += cm.pss
		}
	}
	return m
}

func procMem(pid int) mem {
	var m mem
	m.rss = kibField("/proc/"+strconv.Itoa(pid)+"/status", "VmRSS:")
	m.pss = kibField("/proc/"+strconv.Itoa(pid)+"/smaps_rollup", "Pss:")
	return m
}

// kibField reads a "Name:   123 kB" line of a /proc file.
func kibField(path, name string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name) {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
	}
	return 0
}
