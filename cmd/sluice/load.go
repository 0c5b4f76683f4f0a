package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/sluiceproxy/sluice/app"
)

// configFor loads the config at path (the default location when "") for
// a command that reads only what needs says. An invalid config does not
// stop it: `sluice stats` and `sluice logs` are what a user reaches for
// to see what is wrong, so it says on stderr why the file is invalid and
// goes on with the defaults. Other errors (an unreadable file) are
// returned. A config written from the defaults just now is reported.
func configFor(path, needs string) (*app.Config, error) {
	if path == "" {
		p, err := app.ConfigPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	_, statErr := os.Stat(path)
	cfg, err := configAt(path)
	var invalid *app.ConfigError
	switch {
	case errors.As(err, &invalid):
		fmt.Fprintf(os.Stderr, "sluice: the config is invalid, so this uses the default %s: %v\n", needs, err)
		return app.DefaultConfig(), nil
	case err != nil:
		return nil, err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "sluice: wrote the default config to %s\n", path)
	}
	return cfg, nil
}

// parseNoArgs parses fs from args and refuses arguments left over.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", strings.TrimPrefix(fs.Name(), "sluice "), fs.Arg(0))
	}
	return nil
}
