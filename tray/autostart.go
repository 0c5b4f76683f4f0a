package tray

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Autostart switches "start Sluice at login" on and off for the current
// user. Each OS has its own mechanism; NewAutostart picks the one for the
// running OS. Implementations are not safe for concurrent use; the menu
// calls them from one goroutine.
type Autostart interface {
	// Enabled reports whether Sluice is set to start at login.
	Enabled() (bool, error)
	// Enable sets Sluice to start at login. Calling it again rewrites the
	// entry, so a moved executable is picked up.
	Enable() error
	// Disable removes the entry. It is not an error if there is none.
	Disable() error
}

// appName is the name the login entries show to the user.
const appName = "Sluice"

// DesktopEntry is the freedesktop.org autostart mechanism (Linux and the
// BSDs): a sluice.desktop file in $XDG_CONFIG_HOME/autostart, which every
// desktop following the Desktop Application Autostart Specification runs
// at login.
type DesktopEntry struct {
	// Dir is the autostart directory, normally $XDG_CONFIG_HOME/autostart
	// (~/.config/autostart). Required.
	Dir string
	// Exec is the command line to run: the executable's absolute path,
	// then its arguments. Required for Enable.
	Exec []string
}

// NewDesktopEntry returns the autostart entry in the user's XDG config
// dir for the given command line.
func NewDesktopEntry(exec []string) (*DesktopEntry, error) {
	dir, err := xdgConfigHome()
	if err != nil {
		return nil, err
	}
	return &DesktopEntry{Dir: filepath.Join(dir, "autostart"), Exec: exec}, nil
}

// xdgConfigHome is $XDG_CONFIG_HOME, or ~/.config when it is unset or not
// absolute, as the XDG Base Directory Specification says.
func xdgConfigHome() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home dir for the autostart entry: %w", err)
	}
	return filepath.Join(home, ".config"), nil
}

// Path is the file Enable writes.
func (d *DesktopEntry) Path() string { return filepath.Join(d.Dir, "sluice.desktop") }

// Enabled reports whether the file exists.
func (d *DesktopEntry) Enabled() (bool, error) { return fileExists(d.Path()) }

// Enable writes the desktop file.
func (d *DesktopEntry) Enable() error {
	if len(d.Exec) == 0 {
		return errors.New("autostart: no command to run")
	}
	return writeFileAtomic(d.Path(), []byte(desktopFile(d.Exec)))
}

// Disable removes the desktop file.
func (d *DesktopEntry) Disable() error { return removeIfExists(d.Path()) }

// desktopFile renders the autostart entry. X-GNOME-Autostart-enabled is
// written because GNOME's session settings toggle that key rather than
// delete the file.
func desktopFile(exec []string) string {
	quoted := make([]string, len(exec))
	for i, a := range exec {
		quoted[i] = desktopExecArg(a)
	}
	return "[Desktop Entry]\n" +
		"Type=Application\n" +
		"Name=" + appName + "\n" +
		"Comment=Local forward proxy in the system tray\n" +
		"Exec=" + strings.Join(quoted, " ") + "\n" +
		"Terminal=false\n" +
		"X-GNOME-Autostart-enabled=true\n"
}

// desktopExecArg quotes one argument of an Exec key. The Desktop Entry
// Specification applies two rounds of escaping: inside double quotes, `"`,
// "`", `$` and `\` take a backslash; then the whole value is a string
// value, where `\` itself is written `\\`. A literal % is written %%,
// since % starts a field code.
func desktopExecArg(a string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range a {
		switch c {
		case '"', '`', '$':
			b.WriteString(`\\`)
			b.WriteRune(c)
		case '\\':
			b.WriteString(`\\\\`)
		case '%':
			b.WriteString("%%")
		case '\n':
			// A newline would end the key; no sane path has one.
			b.WriteString(`\n`)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func fileExists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("autostart: %w", err)
	}
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("autostart: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to path through a temp file and a rename,
// so a login never finds a half-written entry.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	f, err := os.CreateTemp(dir, ".sluice-*.tmp")
	if err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("autostart: write %s: %w", f.Name(), err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("autostart: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("autostart: write %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	return nil
}

// defaultAutostart is the start-at-login entry for this executable, run
// without arguments, which starts the tray app.
func defaultAutostart() (Autostart, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the sluice executable for Start at login: %w", err)
	}
	return NewAutostart([]string{exe})
}
