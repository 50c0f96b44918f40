package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"pochta/internal/app"
	"pochta/internal/config"
)

// configFlag adds --config to fs and returns a loader for it.
func configFlag(fs *flag.FlagSet) func() (*config.Config, bool, error) {
	def := os.Getenv("POCHTA_CONFIG")
	explicit := def != ""
	if def == "" {
		def = "pochta.toml"
	}
	path := fs.String("config", def, "configuration file")
	return func() (*config.Config, bool, error) {
		explicit := explicit
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "config" {
				explicit = true
			}
		})
		return loadConfig(*path, explicit)
	}
}

// loadConfig loads path. When no file was named and ./pochta.toml does not
// exist, it returns the demo configuration (demo = true).
func loadConfig(path string, explicit bool) (*config.Config, bool, error) {
	if _, err := os.Stat(path); err != nil && !explicit && os.IsNotExist(err) {
		c, err := demoConfig()
		return c, true, err
	}
	c, err := config.Load(path)
	return c, false, err
}

// demoConfig is the embedded default: domain "localhost", data in ./data,
// every service on unprivileged loopback ports.
func demoConfig() (*config.Config, error) {
	c := config.Default()
	c.Hostname = "localhost"
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	c.DataDir = filepath.Join(wd, "data")
	c.Listen = config.Listen{
		SMTP:        []string{"127.0.0.1:2525"},
		Submission:  []string{"127.0.0.1:2587"},
		Submissions: []string{"127.0.0.1:2465"},
		IMAP:        []string{"127.0.0.1:2143"},
		IMAPS:       []string{"127.0.0.1:2993"},
		POP3:        []string{"127.0.0.1:2110"},
		POP3S:       []string{"127.0.0.1:2995"},
		HTTP:        []string{"127.0.0.1:2080"},
		ManageSieve: []string{"127.0.0.1:24190"},
	}
	return c, c.Validate()
}

func (c *cli) configCheck(args []string) error {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	load := configFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := want("config check", pos, 0, "no arguments"); err != nil {
		return err
	}
	cfg, demo, err := load()
	if err != nil {
		return err
	}
	if demo {
		fmt.Fprintln(c.stdout, "no configuration file: the demo configuration is valid")
		return nil
	}
	checked, err := app.CheckSources(context.Background(), cfg)
	if err != nil {
		return err
	}
	for _, line := range checked {
		fmt.Fprintln(c.stdout, line)
	}
	fmt.Fprintf(c.stdout, "configuration OK (hostname %s, data_dir %s)\n", cfg.Hostname, cfg.DataDir)
	return nil
}
