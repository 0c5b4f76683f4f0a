package app

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/windows"
)

// The config lives in the roaming application data folder, logs and
// state in the local one, as the Windows shell names them (the known
// folders), not only as the %AppData% and %LocalAppData% variables say.
func TestWindowsPathsAreTheKnownFolders(t *testing.T) {
	roaming, err := windows.KnownFolderPath(windows.FOLDERID_RoamingAppData, 0)
	if err != nil {
		t.Fatal(err)
	}
	local, err := windows.KnownFolderPath(windows.FOLDERID_LocalAppData, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		got  func() (string, error)
		want string
	}{
		{"ConfigPath", ConfigPath, filepath.Join(roaming, "sluice", "config.toml")},
		{"DefaultLogDir", DefaultLogDir, filepath.Join(local, "sluice", "logs")},
		{"StateDir", StateDir, filepath.Join(local, "sluice", "state")},
	} {
		got, err := c.got()
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if got != c.want {
			t.Errorf("%s = %s, want %s", c.what, got, c.want)
		}
	}
}
