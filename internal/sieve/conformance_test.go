package sieve

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The conformance table lives in testdata/*.txt. Each file holds cases:
//
//	=== name
//	--- script
//	(the Sieve script)
//	--- from sender@example.org       (envelope sender; "--- from" alone = null sender)
//	--- to user@example.com           (envelope recipient)
//	--- mailboxes Work Lists          (folders that exist, for mailboxexists)
//	--- message
//	(the message; LF is turned into CRLF; absent = defaultMessage)
//	--- expect
//	(one action per line, see render) or "error: TEXT" for a parse error
//	containing TEXT, or "runtime-error: TEXT" followed by the actions.
const defaultMessage = `Return-Path: <alice@example.org>
From: Alice <alice@example.org>
To: Bob <bob@example.com>
Cc: carol@example.net, "Dave D." <dave@Example.NET>
Subject: Hello world
Message-ID: <m1@example.org>
List-Id: <dev.lists.example.org>
Content-Type: text/plain; charset=utf-8

This is the body of the message.
It has two lines.
`

type conformanceCase struct {
	name, file            string
	script, message, want string
	from, to              string
	mailboxes             []string
}

func readCases(t *testing.T) []conformanceCase {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance files: %v", err)
	}
	var cases []conformanceCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range strings.Split(string(data), "\n=== ")[1:] {
			lines := strings.Split(chunk, "\n")
			c := conformanceCase{name: strings.TrimSpace(lines[0]), file: f, from: "alice@example.org", to: "bob@example.com", message: defaultMessage}
			section := ""
			var buf []string
			flush := func() {
				text := strings.Join(buf, "\n")
				switch section {
				case "script":
					c.script = text
				case "message":
					c.message = text
				case "expect":
					c.want = strings.TrimSpace(text)
				}
				buf = nil
			}
			for _, l := range lines[1:] {
				if strings.HasPrefix(l, "--- ") {
					flush()
					f := strings.Fields(l[4:])
					section = f[0]
					switch section {
					case "from":
						c.from = strings.Join(f[1:], "")
					case "to":
						c.to = strings.Join(f[1:], "")
					case "mailboxes":
						c.mailboxes = f[1:]
					}
					continue
				}
				buf = append(buf, l)
			}
			flush()
			cases = append(cases, c)
		}
	}
	return cases
}

// render writes an action in the table's form.
func render(a Action) string {
	s := a.Kind.String()
	switch a.Kind {
	case ActFileInto:
		s += " " + a.Mailbox
	case ActRedirect:
		s += " " + a.Address
	case ActReject:
		s += " " + a.Reason
	case ActVacation:
		v := a.Vacation
		s += fmt.Sprintf(" period=%s subject=%q from=%q addresses=%q mime=%v reason=%q", v.Period, v.Subject, v.From, v.Addresses, v.MIME, v.Reason)
		if v.Handle != defaultHandle(v) {
			s += " handle=" + v.Handle
		}
	}
	if len(a.Flags) > 0 {
		s += " flags=" + strings.Join(a.Flags, ",")
	}
	if a.Copy {
		s += " copy"
	}
	if a.Create {
		s += " create"
	}
	return s
}

func TestConformance(t *testing.T) {
	cases := readCases(t)
	if len(cases) < 80 {
		t.Errorf("only %d conformance cases", len(cases))
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.file)+"/"+c.name, func(t *testing.T) {
			s, err := Parse(c.script)
			if strings.HasPrefix(c.want, "error:") {
				want := strings.TrimSpace(strings.TrimPrefix(c.want, "error:"))
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("Parse error = %v, want one containing %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			in := &Input{From: c.from, To: c.to, Content: []byte(strings.ReplaceAll(c.message, "\n", "\r\n")),
				MailboxExists: func(name string) bool {
					for _, m := range c.mailboxes {
						if m == name {
							return true
						}
					}
					return false
				}}
			res := s.Run(in)
			var got []string
			if res.Err != nil {
				got = append(got, "runtime-error: "+res.Err.Error())
			}
			for _, a := range res.Actions {
				got = append(got, render(a))
			}
			if g := strings.Join(got, "\n"); g != c.want {
				t.Errorf("script:\n%s\ngot:\n%s\nwant:\n%s", c.script, g, c.want)
			}
		})
	}
}
