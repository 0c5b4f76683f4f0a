package tray

import (
	"errors"
	"slices"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/sluiceproxy/sluice/internal/wintest"
)

// readRun reads a value of the real HKCU Run key straight through the
// registry package: its type and data, or ok false when absent.
func readRun(t *testing.T, name string) (s string, typ uint32, ok bool) {
	t.Helper()
	k, err := registry.OpenKey(registry.CURRENT_USER, RunKeyPath, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return "", 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	s, typ, err = k.GetStringValue(name)
	if errors.Is(err, registry.ErrNotExist) {
		return "", 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return s, typ, true
}

func writeRun(t *testing.T, name, value string) {
	t.Helper()
	k, _, err := registry.CreateKey(registry.CURRENT_USER, RunKeyPath, registry.SET_VALUE)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if err := k.SetStringValue(name, value); err != nil {
		t.Fatal(err)
	}
}

// Start at login on the real Run key: the value Windows runs at login
// appears and goes, holds a command line that Windows' own parser
// (CommandLineToArgvW) splits back into the exact arguments, and the
// other programs' values stay as they were.
func TestRunKeyOnTheRealRegistry(t *testing.T) {
	wintest.ScratchRegistry(t)
	if _, _, ok := readRun(t, appName); ok {
		t.Fatalf("HKCU\\%s already has a %s value; this test would lose it", RunKeyPath, appName)
	}
	writeRun(t, "Other", `"C:\Other\other.exe" /background`)
	t.Cleanup(func() {
		if k, err := registry.OpenKey(registry.CURRENT_USER, RunKeyPath, registry.SET_VALUE); err == nil {
			k.DeleteValue("Other")
			k.DeleteValue(appName)
			k.Close()
		}
	})

	args := []string{`C:\Program Files\Sluice\sluice.exe`, "--config", `C:\Users\a "b"\cfg dir\`}
	a, err := NewAutostart(args)
	if err != nil {
		t.Fatal(err)
	}
	toggle(t, a, func() {
		got, typ, ok := readRun(t, appName)
		if !ok || typ != registry.SZ {
			t.Fatalf("after Enable: Run value %s present %v, type %d; want a REG_SZ", appName, ok, typ)
		}
		split, err := windows.DecomposeCommandLine(got)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(split, args) {
			t.Errorf("Windows splits the Run value %s into %q, want %q", got, split, args)
		}
	})
	if _, _, ok := readRun(t, appName); ok {
		t.Error("the Run value is still there after Disable")
	}
	if got, _, _ := readRun(t, "Other"); got != `"C:\Other\other.exe" /background` {
		t.Errorf("another program's Run value changed: %q", got)
	}
}
