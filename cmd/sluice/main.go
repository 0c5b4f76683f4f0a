// Command sluice is a desktop system-tray forward proxy.
//
// Usage:
//
//	sluice                       start the tray app
//	sluice run [--headless] [--config FILE] [--listen HOST:PORT] [--system-proxy]
//	sluice config path|init|check [--config FILE]
//	sluice sysproxy on|off|status|restore [--config FILE]
//	sluice logs path|tail [-f] [--config FILE]
//	sluice stats [--json] [--config FILE]
//	sluice access hash-password < password
//	sluice version
//
// This file holds only flag parsing and dispatch; the work is in app.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

// commands maps each subcommand to its handler. Handlers get the arguments
// after the subcommand name.
var commands = map[string]func(args []string) error{
	"run":      cmdRun,
	"config":   cmdConfig,
	"version":  cmdVersion,
	"sysproxy": cmdSysproxy,
	"logs":     cmdLogs,
	"stats":    cmdStats,
	"access":   cmdAccess,
	"help":     cmdHelp,
}

const usage = `Sluice, a fast local forward proxy.

Usage:
  sluice                       start the tray app (headless if there is no tray)
  sluice run [--headless] [--config FILE] [--listen HOST:PORT] [--system-proxy]
  sluice config path|init|check [--config FILE]
  sluice sysproxy on|off|status|restore [--config FILE]
  sluice logs path|tail [-f] [--config FILE]
  sluice stats [--json] [--config FILE]
  sluice access hash-password  read a password from stdin, print its hash for [access.users]
  sluice version
`

func main() {
	args := os.Args[1:]
	name := "run"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		if name == "-h" || name == "--help" {
			cmd = cmdHelp
		} else {
			fmt.Fprintf(os.Stderr, "sluice: unknown command %q\n\n%s", name, usage)
			os.Exit(2)
		}
	}
	if err := cmd(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintf(os.Stderr, "sluice: %v\n", err)
		os.Exit(1)
	}
}

// exitCode ends the process with a status and no further message (the
// command has printed what it had to say).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func cmdHelp([]string) error {
	fmt.Print(usage)
	return nil
}

// newFlags returns a flag set that prints its usage under the command's
// name and reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("sluice "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}
