package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"time"
)

// runMbox times the commands a client sends to a large mailbox, over one
// IMAP connection: SELECT, UID FETCH 1:* (FLAGS), UID SEARCH SUBJECT and
// UID SEARCH BODY, -rounds times each, and prints the median of each
// with the server's resident memory before, after, and at its peak
// (VmHWM) — "memory flat" means after ≈ before.
func runMbox(args []string) {
	fs := flag.NewFlagSet("mbox", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:143", "IMAP server (loopback only)")
	user := fs.String("user", "", "login name")
	pass := fs.String("pass", "", "password")
	mailbox := fs.String("mailbox", "INBOX", "mailbox")
	subject := fs.String("subject", "subject0042", "UID SEARCH SUBJECT argument")
	body := fs.String("body", "token0042", "UID SEARCH BODY argument")
	rounds := fs.Int("rounds", 3, "times each command runs (bounded: at most 20)")
	pid := fs.Int("pid", 0, "server process to measure")
	maxTime := fs.Duration("max-time", 5*time.Minute, "stop after this long in any case")
	fs.Parse(args)
	mustLoopback(*addr)
	if *pid <= 0 || *rounds <= 0 || *rounds > 20 {
		fmt.Fprintln(os.Stderr, "mailbench mbox: need -pid, 0 < -rounds <= 20")
		os.Exit(2)
	}
	c, err := net.DialTimeout("tcp", *addr, 10*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailbench mbox:", err)
		os.Exit(1)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(*maxTime))
	s := &imapSession{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	if _, err := s.br.ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, "mailbench mbox: greeting:", err)
		os.Exit(1)
	}
	if _, err := s.cmd("LOGIN " + imapQuote(*user) + " " + imapQuote(*pass)); err != nil {
		fmt.Fprintln(os.Stderr, "mailbench mbox: login:", err)
		os.Exit(1)
	}
	rssBefore := procMem(*pid).rss
	cmds := []struct{ key, cmd string }{
		{"select", "SELECT " + imapQuote(*mailbox)},
		{"fetch_flags", "UID FETCH 1:* (FLAGS)"},
		{"search_subject", "UID SEARCH SUBJECT " + imapQuote(*subject)},
		{"search_body", "UID SEARCH BODY " + imapQuote(*body)},
	}
	times := make(map[string][]time.Duration)
	var fetched, hitsSubject, hitsBody int
	for r := 0; r < *rounds; r++ {
		for _, k := range cmds {
			t0 := time.Now()
			lines, err := s.cmd(k.cmd)
			if err != nil {
				fmt.Fprintf(os.Stderr, "mailbench mbox: %s: %v\n", k.cmd, err)
				os.Exit(1)
			}
			times[k.key] = append(times[k.key], time.Since(t0))
			switch k.key {
			case "fetch_flags":
				fetched = lines
			case "search_subject":
				hitsSubject = s.hits
			case "search_body":
				hitsBody = s.hits
			}
		}
	}
	s.cmd("LOGOUT")
	m := fmt.Sprintf("addr=%s messages=%d", *addr, fetched)
	for _, k := range cmds {
		m += fmt.Sprintf(" %s_ms=%.1f", k.key, median(times[k.key]).Seconds()*1000)
	}
	fmt.Printf("%s hits_subject=%d hits_body=%d rss_before_kib=%d rss_after_kib=%d rss_peak_kib=%d\n",
		m, hitsSubject, hitsBody, rssBefore, procMem(*pid).rss, kibField(fmt.Sprintf("/proc/%d/status", *pid), "VmHWM:"))
}

// imapSession is one IMAP connection that sends tagged commands and reads
// their responses line by line (the responses read here hold no literals).
type imapSession struct {
	c    net.Conn
	br   *bufio.Reader
	tag  int
	hits int // numbers in the last command's SEARCH responses
}

// cmd sends one command and reads to its tagged response; it returns how
// many untagged lines came before it.
func (s *imapSession) cmd(command string) (int, error) {
	s.tag++
	tag := fmt.Sprintf("m%d", s.tag)
	if _, err := fmt.Fprintf(s.c, "%s %s\r\n", tag, command); err != nil {
		return 0, err
	}
	n := 0
	s.hits = 0
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			return n, err
		}
		if strings.HasPrefix(line, "* SEARCH") {
			s.hits += len(strings.Fields(line)) - 2
		}
		if strings.HasPrefix(line, tag+" ") {
			if !strings.HasPrefix(line, tag+" OK") {
				return n, errors.New(strings.TrimSpace(line))
			}
			return n, nil
		}
		n++
	}
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
