package sieve

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"pochta/internal/message"
)

// Limits of one execution (RFC 5228 §10 asks implementations to bound
// what a script can make the server do).
const (
	MaxRedirects = 4    // redirect actions per message (ManageSieve MAXREDIRECTS)
	maxActions   = 32   // actions of all kinds per message
	matchBudget  = 50e6 // characters compared per message
	maxVarLen    = 4096 // bytes kept in one variable (RFC 5229 §6 allows truncation)
	maxVars      = 256  // distinct variables
	maxFlagVar   = 100  // flags in one flag variable
	defaultDays  = 7    // vacation period when :days is absent
	maxDays      = 90   // longest vacation period
	minSeconds   = 0    // vacation-seconds allows 0: answer every message
	maxSeconds   = 90 * 86400
)

// ActionKind says what an Action does.
type ActionKind int

const (
	ActKeep     ActionKind = iota // store into INBOX
	ActFileInto                   // store into Mailbox
	ActRedirect                   // forward to Address
	ActDiscard                    // drop silently
	ActReject                     // refuse with Reason (reject or ereject)
	ActVacation                   // send an auto-reply
)

func (k ActionKind) String() string {
	return [...]string{"keep", "fileinto", "redirect", "discard", "reject", "vacation"}[k]
}

// Action is one thing the script decided to do with the message.
type Action struct {
	Kind     ActionKind
	Mailbox  string   // fileinto
	Flags    []string // keep, fileinto (imap4flags)
	Create   bool     // fileinto :create (the MDA creates missing folders anyway)
	Copy     bool     // :copy: does not cancel the implicit keep
	Address  string   // redirect
	Reason   string   // reject
	Vacation *Vacation
}

// Vacation holds the arguments of one vacation action (RFC 5230).
type Vacation struct {
	Reason    string
	Subject   string
	From      string
	Addresses []string
	MIME      bool
	Handle    string
	Period    time.Duration
}

// Input is the message a script runs on and what it can ask about it.
type Input struct {
	From    string // envelope sender ("" = null sender)
	To      string // envelope recipient this delivery is for
	Content []byte
	// MailboxExists answers the mailboxexists test (RFC 5490); nil = no
	// mailbox exists.
	MailboxExists func(name string) bool
}

// Result is the outcome of running a script.
type Result struct {
	// Actions to perform, in order; an implicit keep is included as an
	// ActKeep action.
	Actions []Action
	// Err is a runtime error; Actions then hold only the implicit keep
	// (RFC 5228 §2.10.6).
	Err error
}

var errStop = errors.New("stop")

type runtimeError struct{ msg string }

func (e *runtimeError) Error() string { return e.msg }

func rtErr(format string, args ...any) error {
	return &runtimeError{fmt.Sprintf(format, args...)}
}

type run struct {
	s          *Script
	in         *Input
	msg        *message.Message
	vars       map[string]string
	match      []string
	flags      []string // the internal variable of imap4flags
	actions    []Action
	cancelKeep bool
	budget     int
	redirects  int
	text       []string // decoded body text, computed once
}

// Run executes the script on one message.
func (s *Script) Run(in *Input) Result {
	r := &run{s: s, in: in, msg: message.Parse(in.Content), vars: map[string]string{}, budget: matchBudget}
	err := r.block(s.Commands)
	if err != nil && !errors.Is(err, errStop) {
		return Result{Actions: []Action{{Kind: ActKeep}}, Err: err}
	}
	if !r.cancelKeep {
		r.actions = append(r.actions, Action{Kind: ActKeep, Flags: r.flags})
	}
	return Result{Actions: r.actions}
}

func (r *run) block(cmds []*Command) error {
	skipElse := false
	for _, c := range cmds {
		switch c.Name {
		case "require":
			continue
		case "if":
			skipElse = false
			fallthrough
		case "elsif":
			if c.Name == "elsif" && skipElse {
				continue
			}
			ok, err := r.test(c.Test)
			if err != nil {
				return err
			}
			if ok {
				skipElse = true
				if err := r.block(c.Block); err != nil {
					return err
				}
			}
			continue
		case "else":
			if !skipElse {
				if err := r.block(c.Block); err != nil {
					return err
				}
			}
			skipElse = false
			continue
		}
		skipElse = false
		if err := r.command(c); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) add(a Action) error {
	if len(r.actions) >= maxActions {
		return rtErr("too many actions (at most %d)", maxActions)
	}
	for _, b := range r.actions {
		if (a.Kind == ActReject || b.Kind == ActReject) && a.Kind != ActDiscard && b.Kind != ActDiscard {
			// RFC 5429 §2.2: reject excludes delivering actions, vacation and a second reject.
			return rtErr("reject cannot be combined with %s", map[bool]ActionKind{true: a.Kind, false: b.Kind}[a.Kind != ActReject])
		}
		if a.Kind == ActVacation && b.Kind == ActVacation {
			return rtErr("only one vacation action per message (RFC 5230 §4)")
		}
	}
	r.actions = append(r.actions, a)
	return nil
}

func (r *run) str(a Arg) string {
	if len(a.Strs) == 0 {
		return ""
	}
	return r.expand(a.Strs[0])
}

func (r *run) strs(a Arg) []string {
	out := make([]string, len(a.Strs))
	for i, s := range a.Strs {
		out[i] = r.expand(s)
	}
	return out
}

func (r *run) flagList(a Arg) []string {
	var out []string
	for _, s := range r.strs(a) {
		for _, f := range strings.Fields(s) {
			out = addFlag(out, f)
		}
	}
	return out
}

func addFlag(list []string, f string) []string {
	for _, g := range list {
		if strings.EqualFold(g, f) {
			return list
		}
	}
	if len(list) >= maxFlagVar {
		return list
	}
	return append(list, f)
}

func (r *run) command(c *Command) error {
	switch c.Name {
	case "stop":
		return errStop
	case "keep":
		flags := r.flags
		if f, ok := c.tags["flags"]; ok {
			flags = r.flagList(f)
		}
		r.cancelKeep = true
		return r.add(Action{Kind: ActKeep, Flags: flags})
	case "discard":
		r.cancelKeep = true
		return r.add(Action{Kind: ActDiscard})
	case "fileinto":
		flags := r.flags
		if f, ok := c.tags["flags"]; ok {
			flags = r.flagList(f)
		}
		_, cp := c.tags["copy"]
		_, create := c.tags["create"]
		name := r.str(c.pos[0])
		if name == "" || !utf8.ValidString(name) {
			return rtErr("fileinto: invalid mailbox name %q", name)
		}
		if !cp {
			r.cancelKeep = true
		}
		return r.add(Action{Kind: ActFileInto, Mailbox: name, Flags: flags, Create: create, Copy: cp})
	case "redirect":
		addr := r.str(c.pos[0])
		a, err := mail.ParseAddress(addr)
		if err != nil {
			return rtErr("redirect: invalid address %q", addr)
		}
		_, cp := c.tags["copy"]
		for _, b := range r.actions { // RFC 5228 §2.10.3: the same address once
			if b.Kind == ActRedirect && strings.EqualFold(b.Address, a.Address) {
				if !cp {
					r.cancelKeep = true
				}
				return nil
			}
		}
		r.redirects++
		if r.redirects > MaxRedirects {
			return rtErr("too many redirects (at most %d)", MaxRedirects)
		}
		if !cp {
			r.cancelKeep = true
		}
		return r.add(Action{Kind: ActRedirect, Address: a.Address, Copy: cp})
	case "reject", "ereject":
		r.cancelKeep = true
		return r.add(Action{Kind: ActReject, Reason: r.str(c.pos[0])})
	case "setflag", "addflag", "removeflag":
		name := ""
		if c.pos[0].Strs != nil {
			name = strings.ToLower(r.str(c.pos[0]))
		}
		list := r.flagList(c.pos[1])
		cur := r.getFlags(name)
		switch c.Name {
		case "setflag":
			cur = list
		case "addflag":
			for _, f := range list {
				cur = addFlag(cur, f)
			}
		case "removeflag":
			var keep []string
			for _, f := range cur {
				if !containsFold(list, f) {
					keep = append(keep, f)
				}
			}
			cur = keep
		}
		r.setFlags(name, cur)
		return nil
	case "set":
		return r.set(c)
	case "vacation":
		return r.vacation(c)
	}
	return rtErr("command %q not implemented", c.Name)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// set implements the variables extension's set command with its
// modifiers applied in the order of RFC 5229 §4.1.
func (r *run) set(c *Command) error {
	name := strings.ToLower(c.pos[0].Strs[0])
	if !validVarName(name) {
		return rtErr("set: invalid variable name %q", name)
	}
	v := r.str(c.pos[1])
	if m, ok := c.tags["case"]; ok {
		if m.Tag == "lower" {
			v = strings.ToLower(v)
		} else {
			v = strings.ToUpper(v)
		}
	}
	if m, ok := c.tags["first"]; ok && v != "" {
		rn, n := utf8.DecodeRuneInString(v)
		if m.Tag == "lowerfirst" {
			v = string(unicode.ToLower(rn)) + v[n:]
		} else {
			v = string(unicode.ToUpper(rn)) + v[n:]
		}
	}
	if _, ok := c.tags["quotewildcard"]; ok {
		v = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(v)
	}
	if _, ok := c.tags["length"]; ok {
		v = fmt.Sprint(utf8.RuneCountInString(v))
	}
	r.setVar(name, v)
	return nil
}

// getFlags returns a flag list: the internal variable of imap4flags ("")
// or a named variable holding space-separated flags (RFC 5232 §3).
func (r *run) getFlags(name string) []string {
	if name == "" {
		return r.flags
	}
	var out []string
	for _, f := range strings.Fields(r.vars[name]) {
		out = addFlag(out, f)
	}
	return out
}

func (r *run) setFlags(name string, list []string) {
	if name == "" {
		r.flags = list
		return
	}
	r.setVar(name, strings.Join(list, " "))
}

func (r *run) setVar(name, v string) {
	if len(v) > maxVarLen {
		v = v[:maxVarLen]
		for !utf8.ValidString(v) {
			v = v[:len(v)-1]
		}
	}
	if _, ok := r.vars[name]; !ok && len(r.vars) >= maxVars {
		return
	}
	r.vars[name] = v
}

func validVarName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlpha(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// expand replaces ${name} and ${N} when the script requires variables
// (RFC 5229 §3); unknown variables expand to "".
func (r *run) expand(s string) string {
	if !r.s.Requires["variables"] || !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		name := strings.ToLower(s[i+2 : i+end])
		switch {
		case name != "" && strings.Trim(name, "0123456789") == "":
			n := 0
			fmt.Sscan(name, &n)
			if n < len(r.match) {
				b.WriteString(r.match[n])
			}
		case validVarName(name):
			b.WriteString(r.vars[name])
		default:
			b.WriteString(s[i : i+end+1])
		}
		s = s[i+end+1:]
		if b.Len() > 1<<20 {
			break
		}
	}
	return b.String()
}

func (r *run) vacation(c *Command) error {
	v := &Vacation{Reason: r.str(c.pos[0]), Period: defaultDays * 24 * time.Hour}
	if p, ok := c.tags["period"]; ok {
		if p.Tag == "days" {
			d := min(max(p.Num, 1), maxDays)
			v.Period = time.Duration(d) * 24 * time.Hour
		} else {
			v.Period = time.Duration(min(max(p.Num, minSeconds), maxSeconds)) * time.Second
		}
	}
	if t, ok := c.tags["subject"]; ok {
		v.Subject = r.str(t)
	}
	if t, ok := c.tags["from"]; ok {
		v.From = r.str(t)
	}
	if t, ok := c.tags["addresses"]; ok {
		v.Addresses = r.strs(t)
	}
	_, v.MIME = c.tags["mime"]
	if t, ok := c.tags["handle"]; ok {
		v.Handle = r.str(t)
	} else {
		v.Handle = defaultHandle(v)
	}
	return r.add(Action{Kind: ActVacation, Vacation: v})
}
