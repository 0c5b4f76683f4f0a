// Command sluice is a desktop system-tray forward proxy.
//
// Run `sluice help` for the commands; commands (in this file) is the one
// list of them, and the usage text is made from it.
//
// This package holds only flag parsing, dispatch and printing; the work
// is in app.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand, or a group of them (sysproxy on, off, ...).
type command struct {
	name string
	// args is the argument synopsis for the usage text.
	args string
	// help is one line for the usage text.
	help string
	// run gets the arguments after the name. A group has subs instead.
	run  func(args []string) error
	subs []command
	// hidden commands are left out of the usage text (the watchdog the
	// app starts).
	hidden bool
}

// commands is every command; main dispatches from it and usage prints it.
// Set in init, as cmdHelp refers back to it.
var commands []command

func init() {
	commands = []command{
		{name: "run", args: "[--headless] [--config FILE] [--listen HOST:PORT] [--system-proxy]", help: "start the proxy, with the tray unless --headless (the default command)", run: cmdRun},
		{name: "config", args: "path|init|check [--config FILE]", help: "where config.toml is, write the defaults, check it", run: cmdConfig},
		{name: "sysproxy", subs: sysproxyCommands},
		{name: "logs", subs: logsCommands},
		{name: "stats", args: "[--json] [--config FILE]", help: "the running proxy's live counters", run: cmdStats},
		{name: "route", subs: routeCommands},
		{name: "ca", subs: caCommands},
		{name: "capture", args: "--har FILE [--host PATTERN] [--duration D] [--config FILE]", help: "record the running proxy's inspected and plain-HTTP exchanges into a HAR file until D passes or Ctrl-C", run: cmdCapture},
		{name: "cache", subs: cacheCommands},
		{name: "access", args: "hash-password < password", help: "read a password from stdin, print its hash for [access.users]", run: cmdAccess},
		{name: "version", help: "the version, commit and platform", run: cmdVersion},
		{name: "help", help: "this text", run: cmdHelp},
	}
}

func main() {
	args := os.Args[1:]
	name := "run"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	if name == "-h" || name == "--help" {
		name = "help"
	}
	err := dispatch(commands, "", name, args)
	var unknown *unknownCommandError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &unknown):
		fmt.Fprintf(os.Stderr, "sluice: %v\n\n", err)
		printUsage(os.Stderr)
		os.Exit(2)
	default:
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintf(os.Stderr, "sluice: %v\n", err)
		os.Exit(1)
	}
}

// dispatch runs the command called name in cmds, under group (the
// enclosing command's name, "" at the top).
func dispatch(cmds []command, group, name string, args []string) error {
	for _, c := range cmds {
		if c.name != name {
			continue
		}
		if c.subs == nil {
			return c.run(args)
		}
		if len(args) == 0 {
			return fmt.Errorf("%s needs one of: %s", c.name, strings.Join(visibleNames(c.subs), ", "))
		}
		return dispatch(c.subs, c.name, args[0], args[1:])
	}
	return &unknownCommandError{group: group, name: name, known: visibleNames(cmds)}
}

// unknownCommandError is a name that no command in the table has.
type unknownCommandError struct {
	group, name string
	known       []string
}

func (e *unknownCommandError) Error() string {
	what := "command"
	if e.group != "" {
		what = e.group + " command"
	}
	return fmt.Sprintf("unknown %s %q (want one of: %s)", what, e.name, strings.Join(e.known, ", "))
}

func visibleNames(cmds []command) []string {
	var names []string
	for _, c := range cmds {
		if !c.hidden {
			names = append(names, c.name)
		}
	}
	return names
}

// printUsage writes the usage text, one line per command from the table.
func printUsage(w io.Writer) {
	type line struct{ synopsis, help string }
	lines := []line{{"sluice", "start the tray app (headless if there is no tray)"}}
	var add func(prefix string, cmds []command)
	add = func(prefix string, cmds []command) {
		for _, c := range cmds {
			if c.hidden {
				continue
			}
			if c.subs != nil {
				add(prefix+c.name+" ", c.subs)
				continue
			}
			s := prefix + c.name
			if c.args != "" {
				s += " " + c.args
			}
			lines = append(lines, line{s, c.help})
		}
	}
	add("sluice ", commands)
	fmt.Fprint(w, "Sluice, a fast local forward proxy.\n\nUsage:\n")
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l.synopsis)
		if l.help != "" {
			fmt.Fprintf(w, "      %s\n", l.help)
		}
	}
}

// exitCode ends the process with a status and no further message (the
// command has printed what it had to say).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func cmdHelp([]string) error {
	printUsage(os.Stdout)
	return nil
}

// newFlags returns a flag set that prints its usage under the command's
// name and reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("sluice "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}
