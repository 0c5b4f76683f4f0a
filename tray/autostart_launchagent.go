package tray

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// launchAgentLabel names Sluice's LaunchAgent; launchd requires it to be
// unique, so it is the reverse-DNS name of the project.
const launchAgentLabel = "org.sluiceproxy.sluice"

// LaunchAgent is the macOS mechanism: a property list in
// ~/Library/LaunchAgents that launchd runs when the user logs in.
type LaunchAgent struct {
	// Dir is the LaunchAgents directory, normally ~/Library/LaunchAgents.
	// Required.
	Dir string
	// Exec is the command line to run: the executable's absolute path,
	// then its arguments. Required for Enable.
	Exec []string
}

// NewLaunchAgent returns the LaunchAgent in the user's home for the given
// command line.
func NewLaunchAgent(exec []string) (*LaunchAgent, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, fmt.Errorf("find the home dir for the LaunchAgent: %w", err)
	}
	return &LaunchAgent{Dir: filepath.Join(home, "Library", "LaunchAgents"), Exec: exec}, nil
}

// Path is the plist Enable writes.
func (l *LaunchAgent) Path() string { return filepath.Join(l.Dir, launchAgentLabel+".plist") }

// Enabled reports whether the plist exists.
func (l *LaunchAgent) Enabled() (bool, error) { return fileExists(l.Path()) }

// Enable writes the plist. It takes effect at the next login; Sluice is
// already running, so there is no need to load it now.
func (l *LaunchAgent) Enable() error {
	if len(l.Exec) == 0 {
		return errors.New("autostart: no command to run")
	}
	return writeFileAtomic(l.Path(), []byte(launchAgentPlist(l.Exec)))
}

// Disable removes the plist.
func (l *LaunchAgent) Disable() error { return removeIfExists(l.Path()) }

// launchAgentPlist renders the LaunchAgent. ProcessType Interactive tells
// launchd this is a UI app that must not be throttled; KeepAlive is left
// out so that Quit from the menu stays quit.
func launchAgentPlist(exec []string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + launchAgentLabel + `</string>
	<key>ProgramArguments</key>
	<array>
`)
	for _, a := range exec {
		b.WriteString("\t\t<string>" + xmlEscape(a) + "</string>\n")
	}
	b.WriteString(`	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>ProcessType</key>
	<string>Interactive</string>
</dict>
</plist>
`)
	return b.String()
}

// xmlEscape escapes the characters that are special in XML text.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}
