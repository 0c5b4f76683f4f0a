package sysproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// StateFileName is the state file's name inside the state dir.
const StateFileName = "sysproxy.json"

// stateVersion changes when the file's meaning changes; a file of another
// version is refused rather than misread.
const stateVersion = 1

// state is what the state file holds while Sluice has the system proxy
// on: enough for any Sluice process to put back what was there.
type state struct {
	Version int `json:"version"`
	// Owner is the pid of the process that switched the proxy on and
	// will switch it off; 0 when no process owns it (`sluice sysproxy
	// on` from a shell).
	Owner int `json:"owner"`
	// OwnerStart tells the owner from a later process with the same pid
	// (see processStart); 0 when unknown.
	OwnerStart uint64 `json:"owner_start,omitempty"`
	// Target is where Sluice pointed the system.
	Target Target `json:"target"`
	// Backends holds one entry per backend Sluice changed.
	Backends []backendState `json:"backends"`
}

// backendState is one backend's snapshot and what Sluice wrote over it.
type backendState struct {
	Name string `json:"name"`
	// Before is the snapshot taken before Sluice first wrote; Off writes
	// it back.
	Before Settings `json:"before"`
	// Wrote is what the backend read back after Sluice wrote; if the
	// settings still equal it at Off, nobody else changed them.
	Wrote Settings `json:"wrote"`
}

func (s *state) backend(name string) *backendState {
	for i := range s.Backends {
		if s.Backends[i].Name == name {
			return &s.Backends[i]
		}
	}
	return nil
}

// loadState reads the state file; nil, nil when there is none.
func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read system proxy state: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("system proxy state %s is damaged (%v): check your proxy settings by hand, then delete the file", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("system proxy state %s has version %d, this Sluice reads %d: restore with the Sluice that wrote it", path, s.Version, stateVersion)
	}
	return &s, nil
}

// saveState writes s atomically: a temp file in the same dir, fsync,
// rename, fsync the dir. A crash leaves either the old file or the new,
// never half of one, because the snapshot in it may be the only record of
// the user's own proxy.
func saveState(path string, s *state) error {
	s.Version = stateVersion
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode system proxy state: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".sysproxy-*.tmp")
	if err != nil {
		return fmt.Errorf("write system proxy state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write system proxy state %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. Not every OS lets a directory
// be opened for it (Windows does not); the rename is then as durable as
// the OS makes it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// removeState deletes the state file; a missing one is fine.
func removeState(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove system proxy state: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}
