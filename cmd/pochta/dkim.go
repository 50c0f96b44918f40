package main

import (
	"flag"
	"fmt"

	"pochta/internal/config"
	"pochta/internal/manage"
)

func (c *cli) dkimKeygen(args []string) error {
	fs := flag.NewFlagSet("dkim keygen", flag.ContinueOnError)
	selector := fs.String("selector", "pochta", "DKIM selector")
	algo := fs.String("algo", "ed25519", "ed25519 or rsa")
	cfg, d, err := domainCommand(fs, args)
	if err != nil {
		return err
	}
	record, err := (&manage.Manager{Config: cfg}).DKIMKeygen(d, *selector, *algo)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, record)
	fmt.Fprintln(c.stdout, "(restart pochta to start signing)")
	return nil
}

func (c *cli) dnsRecords(args []string) error {
	fs := flag.NewFlagSet("dns records", flag.ContinueOnError)
	cfg, d, err := domainCommand(fs, args)
	if err != nil {
		return err
	}
	records, err := (&manage.Manager{Config: cfg}).DNSRecords(d)
	if err != nil {
		return err
	}
	fmt.Fprint(c.stdout, records)
	return nil
}

// domainCommand parses the flags of a command that takes one DOMAIN and
// loads the configuration.
func domainCommand(fs *flag.FlagSet, args []string) (*config.Config, string, error) {
	load := configFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, "", err
	}
	if err := want(fs.Name(), pos, 1, "DOMAIN"); err != nil {
		return nil, "", err
	}
	cfg, _, err := load()
	if err != nil {
		return nil, "", err
	}
	d, err := normDomain(pos[0])
	return cfg, d, err
}
