// Command pochta is a complete mail server: SMTP (inbound and submission),
// the outbound queue, local delivery, IMAP and POP3, in one binary. This
// file only dispatches subcommands; the components are built in
// internal/app.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `pochta — a complete mail server in one binary.

Usage: pochta COMMAND [flags] [arguments]

  serve                          run the server (no config file: a local demo server)
  config check                   validate the configuration file
  domain add|list|remove NAME    manage served domains
  domain catchall NAME ADDRESS   deliver unknown recipients of NAME to ADDRESS
  domain catchall --clear NAME   reject unknown recipients again (the default)
  user add|list|remove|passwd    manage accounts (add/passwd: --password-stdin or a generated password)
  user quota ADDRESS SIZE        set a quota (bytes, or with K/M/G suffix; 0 = none)
  user admin ADDRESS on|off      allow the web admin (/admin/) to an account (or add --admin)
  user disable|enable ADDRESS    refuse every login of an account (its mail is still delivered)
  user app-password add|list|remove ADDRESS [NAME] [--protocols imap,pop3,smtp,managesieve]
                                 generated passwords for mail clients, shown once
  user main-password allow|refuse ADDRESS   refuse: only app passwords log in
  alias add ADDRESS TARGET...    deliver ADDRESS to one or more targets
  alias list|remove              list or remove aliases
  sieve set ADDRESS FILE         install and activate a Sieve script (--name NAME; FILE - = stdin)
  sieve get|list ADDRESS         print the active script, or list the scripts
  import maildir DIR ADDRESS     import a Maildir (Dovecot/Postfix) into an account
  export maildir ADDRESS DIR     export an account as a Maildir
  queue list|show|retry|drop|flush [ID]   inspect and steer the outbound queue
  dkim keygen DOMAIN             create a DKIM key and print its DNS record
  dns records DOMAIN             print every DNS record DOMAIN needs
  tls status                     certificates (names, issuer, expiry) and cached MTA-STS policies
  spam train ADDRESS --spam|--ham FILE|MAILDIR   teach ADDRESS's spam filter
  store migrate --to URL         copy the whole store into an empty postgres://... or sqlite:DATA_DIR, and verify it
  version                        print the version

Every command takes --config FILE (default $POCHTA_CONFIG or ./pochta.toml).
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "pochta: %v\n\n%s", err, usage)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "pochta: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// cli carries the standard streams to the subcommands.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, rest := args[0], args[1:]
	sub := func() (string, []string, error) {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return "", nil, usagef("%s needs a subcommand", cmd)
		}
		return rest[0], rest[1:], nil
	}
	switch cmd {
	case "serve":
		return c.serve(rest)
	case "version", "--version":
		fmt.Fprintln(stdout, "pochta", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "config", "domain", "user", "alias", "sieve", "import", "export", "queue", "dkim", "dns", "spam", "tls", "store":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return c.dispatch(cmd, s, r)
	}
	return usagef("unknown command %q", cmd)
}

func (c *cli) dispatch(cmd, sub string, args []string) error {
	switch cmd + " " + sub {
	case "config check":
		return c.configCheck(args)
	case "domain add", "domain list", "domain remove", "domain catchall":
		return c.domain(sub, args)
	case "user add", "user list", "user remove", "user passwd", "user quota", "user admin", "user disable", "user enable":
		return c.user(sub, args)
	case "user app-password":
		return c.appPassword(args)
	case "user main-password":
		return c.mainPassword(args)
	case "alias add", "alias list", "alias remove":
		return c.alias(sub, args)
	case "sieve set", "sieve get", "sieve list":
		return c.sieveCmd(sub, args)
	case "import maildir":
		return c.importMaildir(args)
	case "export maildir":
		return c.exportMaildir(args)
	case "queue list", "queue show", "queue retry", "queue drop", "queue flush":
		return c.queue(sub, args)
	case "dkim keygen":
		return c.dkimKeygen(args)
	case "dns records":
		return c.dnsRecords(args)
	case "spam train":
		return c.spamTrain(args)
	case "tls status":
		return c.tlsStatus(args)
	case "store migrate":
		return c.storeMigrate(args)
	}
	return usagef("unknown command %q", cmd+" "+sub)
}

// parseFlags parses fs from args, allowing flags before, between and after
// positional arguments, and returns the positional ones.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// want checks the number of positional arguments.
func want(name string, pos []string, n int, names string) error {
	if len(pos) != n {
		return usagef("%s takes %s", name, names)
	}
	return nil
}
