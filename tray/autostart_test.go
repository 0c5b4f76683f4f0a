package tray

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// toggle runs the Enable/Disable cycle every mechanism must pass and
// returns after checking Enabled at each step.
func toggle(t *testing.T, a Autostart, afterEnable func()) {
	t.Helper()
	want := func(step string, on bool) {
		t.Helper()
		got, err := a.Enabled()
		if err != nil {
			t.Fatalf("%s: Enabled: %v", step, err)
		}
		if got != on {
			t.Fatalf("%s: Enabled = %v, want %v", step, got, on)
		}
	}
	want("initially", false)
	if err := a.Disable(); err != nil {
		t.Fatalf("Disable with no entry: %v", err)
	}
	if err := a.Enable(); err != nil {
		t.Fatalf("Enable: %v", err)
	}
	want("after Enable", true)
	afterEnable()
	if err := a.Enable(); err != nil {
		t.Fatalf("Enable twice: %v", err)
	}
	want("after Enable twice", true)
	if err := a.Disable(); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	want("after Disable", false)
}

func TestDesktopEntryInXDGConfigHome(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	exe := "/opt/My Apps/sluice"
	d, err := NewDesktopEntry([]string{exe, "--config", `/home/u/100% "odd" $dir\x.toml`})
	if err != nil {
		t.Fatal(err)
	}
	wantPath := filepath.Join(cfg, "autostart", "sluice.desktop")
	if d.Path() != wantPath {
		t.Fatalf("Path = %s, want %s", d.Path(), wantPath)
	}
	toggle(t, d, func() {
		got, err := os.ReadFile(wantPath)
		if err != nil {
			t.Fatal(err)
		}
		want := "[Desktop Entry]\n" +
			"Type=Application\n" +
			"Name=Sluice\n" +
			"Comment=Local forward proxy in the system tray\n" +
			`Exec="/opt/My Apps/sluice" "--config" "/home/u/100%% \\"odd\\" \\$dir\\\\x.toml"` + "\n" +
			"Terminal=false\n" +
			"X-GNOME-Autostart-enabled=true\n"
		if string(got) != want {
			t.Errorf("desktop file:\n%s\nwant:\n%s", got, want)
		}
		// desktop-file-validate (Debian desktop-file-utils) is the
		// reference parser for the format; use it where it is installed.
		if v, err := exec.LookPath("desktop-file-validate"); err == nil {
			if out, err := exec.Command(v, wantPath).CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("desktop-file-validate: %v\n%s", err, out)
			}
		}
	})
}

func TestDesktopEntryDefaultsToDotConfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home) // the home dir on Windows
	t.Setenv("XDG_CONFIG_HOME", "relative/is/ignored")
	d, err := NewDesktopEntry([]string{"/usr/bin/sluice"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, ".config", "autostart", "sluice.desktop"); d.Path() != want {
		t.Errorf("Path = %s, want %s", d.Path(), want)
	}
}

func TestLaunchAgentPlist(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home) // the home dir on Windows
	l, err := NewLaunchAgent([]string{"/Applications/Sluice & Co.app/Contents/MacOS/sluice", "--config", "<x>"})
	if err != nil {
		t.Fatal(err)
	}
	wantPath := filepath.Join(home, "Library", "LaunchAgents", "org.sluiceproxy.sluice.plist")
	if l.Path() != wantPath {
		t.Fatalf("Path = %s, want %s", l.Path(), wantPath)
	}
	toggle(t, l, func() {
		got, err := os.ReadFile(wantPath)
		if err != nil {
			t.Fatal(err)
		}
		want := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>org.sluiceproxy.sluice</string>
	<key>ProgramArguments</key>
	<array>
		<string>/Applications/Sluice &amp; Co.app/Contents/MacOS/sluice</string>
		<string>--config</string>
		<string>&lt;x&gt;</string>
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>ProcessType</key>
	<string>Interactive</string>
</dict>
</plist>
`
		if string(got) != want {
			t.Errorf("plist:\n%s\nwant:\n%s", got, want)
		}
	})
}

// mapRegistry stands in for HKCU\...\Run on non-Windows machines,
// behaving as the real key does for the three calls RunKey makes.
type mapRegistry struct {
	values map[string]string
	fail   error
}

func (m *mapRegistry) GetString(name string) (string, error) {
	if m.fail != nil {
		return "", m.fail
	}
	v, ok := m.values[name]
	if !ok {
		return "", ErrNoValue
	}
	return v, nil
}

func (m *mapRegistry) SetString(name, value string) error {
	if m.fail != nil {
		return m.fail
	}
	m.values[name] = value
	return nil
}

func (m *mapRegistry) DeleteValue(name string) error {
	if m.fail != nil {
		return m.fail
	}
	if _, ok := m.values[name]; !ok {
		return ErrNoValue
	}
	delete(m.values, name)
	return nil
}

func TestRunKeyValue(t *testing.T) {
	reg := &mapRegistry{values: map[string]string{"OneDrive": `"C:\OneDrive.exe" /background`}}
	r := &RunKey{Key: reg, Exec: []string{`C:\Program Files\Sluice\sluice.exe`, "--config", `C:\Users\a "b"\cfg dir\`}}
	toggle(t, r, func() {
		want := `"C:\Program Files\Sluice\sluice.exe" "--config" "C:\Users\a \"b\"\cfg dir\\"`
		if got := reg.values["Sluice"]; got != want {
			t.Errorf("Run value Sluice = %s, want %s", got, want)
		}
	})
	if got := reg.values["OneDrive"]; got != `"C:\OneDrive.exe" /background` {
		t.Errorf("another program's Run value changed: %q", got)
	}

	reg.fail = errors.New("access denied")
	if _, err := r.Enabled(); err == nil {
		t.Error("Enabled hid a registry error")
	}
	if err := r.Enable(); err == nil {
		t.Error("Enable hid a registry error")
	}
	if err := r.Disable(); err == nil {
		t.Error("Disable hid a registry error")
	}
}

func TestEnableWithoutCommandFails(t *testing.T) {
	dir := t.TempDir()
	for _, a := range []Autostart{
		&DesktopEntry{Dir: dir},
		&LaunchAgent{Dir: dir},
		&RunKey{Key: &mapRegistry{values: map[string]string{}}},
	} {
		if err := a.Enable(); err == nil {
			t.Errorf("%T.Enable with no command succeeded", a)
		}
	}
}
