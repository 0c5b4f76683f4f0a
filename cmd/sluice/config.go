package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/sluiceproxy/sluice/app"
)

// cmdConfig implements `sluice config path|init|check`.
func cmdConfig(args []string) error {
	if len(args) == 0 {
		return errors.New("config needs one of: path, init, check")
	}
	sub := args[0]
	fs := newFlags("config " + sub)
	path := fs.String("config", "", "config file (default: the user config dir)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *path == "" {
		p, err := app.ConfigPath()
		if err != nil {
			return err
		}
		*path = p
	}
	switch sub {
	case "path":
		fmt.Println(*path)
		return nil
	case "init":
		if err := app.InitConfig(*path); err != nil {
			return err // an existing file: the error says how to see or replace it
		}
		fmt.Println("wrote", *path)
		return nil
	case "check":
		if _, err := os.Stat(*path); err != nil {
			return fmt.Errorf("%s: %w (create it with: sluice config init --config %s)", *path, errors.Unwrap(err), *path)
		}
		cfg, err := app.LoadConfig(*path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return exitCode(1)
		}
		fmt.Printf("%s: ok\n\n# effective values (file, then environment overrides, marked \"# from\")\n", *path)
		return cfg.WriteEffective(os.Stdout)
	}
	return fmt.Errorf("unknown config command %q (want path, init or check)", sub)
}

// configAt loads the config at path, or at the default location when
// path is empty.
func configAt(path string) (*app.Config, error) {
	if path == "" {
		p, err := app.ConfigPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	return app.LoadConfig(path)
}
