package tray

import (
	"errors"
	"fmt"
	"strings"
)

// RunKeyPath is the registry key, under HKEY_CURRENT_USER, whose values
// Windows runs at login.
const RunKeyPath = `Software\Microsoft\Windows\CurrentVersion\Run`

// ErrNoValue is what a Registry returns for a value that does not exist.
var ErrNoValue = errors.New("registry value does not exist")

// Registry is the slice of HKCU\Software\Microsoft\Windows\CurrentVersion\Run
// that RunKey needs; on Windows it is the real key (see NewAutostart),
// elsewhere tests give a map.
type Registry interface {
	// GetString returns a string value, or ErrNoValue.
	GetString(name string) (string, error)
	// SetString creates or replaces a REG_SZ value.
	SetString(name, value string) error
	// DeleteValue removes a value, or returns ErrNoValue.
	DeleteValue(name string) error
}

// RunKey is the Windows mechanism: a value named Sluice under the user's
// Run key holding the command line.
type RunKey struct {
	// Key is the Run key. Required.
	Key Registry
	// Exec is the command line to run: the executable's absolute path,
	// then its arguments. Required for Enable.
	Exec []string
}

// Enabled reports whether the value exists.
func (r *RunKey) Enabled() (bool, error) {
	_, err := r.Key.GetString(appName)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNoValue):
		return false, nil
	default:
		return false, fmt.Errorf("autostart: read HKCU\\%s\\%s: %w", RunKeyPath, appName, err)
	}
}

// Enable writes the value.
func (r *RunKey) Enable() error {
	if len(r.Exec) == 0 {
		return errors.New("autostart: no command to run")
	}
	if err := r.Key.SetString(appName, windowsCommandLine(r.Exec)); err != nil {
		return fmt.Errorf("autostart: write HKCU\\%s\\%s: %w", RunKeyPath, appName, err)
	}
	return nil
}

// Disable removes the value.
func (r *RunKey) Disable() error {
	if err := r.Key.DeleteValue(appName); err != nil && !errors.Is(err, ErrNoValue) {
		return fmt.Errorf("autostart: delete HKCU\\%s\\%s: %w", RunKeyPath, appName, err)
	}
	return nil
}

// windowsCommandLine joins arguments the way CommandLineToArgvW splits
// them. Every argument is quoted, so a path under "Program Files" works.
func windowsCommandLine(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = windowsQuote(a)
	}
	return strings.Join(quoted, " ")
}

// windowsQuote quotes one argument: backslashes are literal except before
// a quote, where each must be doubled, and so must a run of them that
// ends the argument (it is followed by the closing quote).
func windowsQuote(a string) string {
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(c)
	}
	b.WriteString(strings.Repeat(`\`, slashes))
	b.WriteByte('"')
	return b.String()
}
