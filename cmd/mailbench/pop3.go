package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runPOP3 measures POP3 retrieval (RFC 1939): -sessions concurrent
// sessions, session i logged in as -user with %d replaced by i (POP3
// locks a maildrop for one session), each retrieving its messages with
// RETR in turn, over and over, until -messages retrievals in all; it
// prints messages and bytes per second. Nothing is deleted.
func runPOP3(args []string) {
	fs := flag.NewFlagSet("pop3", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:110", "POP3 server (loopback only)")
	user := fs.String("user", "", "login name; %d is replaced by the session number (1, 2, ...)")
	pass := fs.String("pass", "", "password")
	sessions := fs.Int("sessions", 1, "concurrent sessions")
	total := fs.Int("messages", 1000, "retrievals in all (bounded)")
	maxTime := fs.Duration("max-time", 5*time.Minute, "stop after this long in any case")
	fs.Parse(args)
	mustLoopback(*addr)
	if *sessions <= 0 || *sessions > 1000 || *total <= 0 {
		fmt.Fprintln(os.Stderr, "mailbench pop3: need 0 < -sessions <= 1000, -messages > 0")
		os.Exit(2)
	}
	deadline := time.Now().Add(*maxTime)
	var next, done, bytes atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for i := 1; i <= *sessions; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := strings.ReplaceAll(*user, "%d", strconv.Itoa(i))
			if err := pop3Session(*addr, name, *pass, deadline, func() bool { return next.Add(1) <= int64(*total) }, &done, &bytes); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		}(i)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	fmt.Printf("addr=%s sessions=%d retrieved=%d failed=%d elapsed=%.2fs rate=%.0f msg/s mib_per_s=%.1f\n",
		*addr, *sessions, done.Load(), failed.Load(), el, float64(done.Load())/el, float64(bytes.Load())/el/(1<<20))
	if failed.Load() > 0 || done.Load() < int64(*total) {
		fmt.Fprintln(os.Stderr, "mailbench pop3: first failure:", firstErr.Load())
		os.Exit(1)
	}
}

// pop3Session logs in and retrieves messages 1..n (n from STAT) in turn
// while more() says so.
func pop3Session(addr, user, pass string, deadline time.Time, more func() bool, done, bytes *atomic.Int64) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	br := bufio.NewReaderSize(c, 64<<10)
	cmd := func(s string) (string, error) {
		if s != "" {
			if _, err := io.WriteString(c, s+"\r\n"); err != nil {
				return "", err
			}
		}
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(line, "+OK") {
			return "", fmt.Errorf("%q: %s", s, strings.TrimSpace(line))
		}
		return line, nil
	}
	if _, err := cmd(""); err != nil {
		return err
	}
	if _, err := cmd("USER " + user); err != nil {
		return err
	}
	if _, err := cmd("PASS " + pass); err != nil {
		return err
	}
	stat, err := cmd("STAT")
	if err != nil {
		return err
	}
	f := strings.Fields(stat)
	n := 0
	if len(f) > 1 {
		n, _ = strconv.Atoi(f[1])
	}
	if n == 0 {
		return errors.New("empty maildrop: " + user)
	}
	for i := 0; more(); i = (i + 1) % n {
		if _, err := cmd(fmt.Sprintf("RETR %d", i+1)); err != nil {
			return err
		}
		// The message, dot-stuffed, up to a line with a single dot.
		for {
			line, err := br.ReadSlice('\n')
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return err
			}
			bytes.Add(int64(len(line)))
			if string(line) == ".\r\n" {
				break
			}
		}
		done.Add(1)
	}
	_, err = cmd("QUIT")
	return err
}
