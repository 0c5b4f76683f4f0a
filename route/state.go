package route

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// state is what the tray changes at run time, kept in Config.StatePath
// so that it outlives a reload and a restart.
type state struct {
	// Mode is the mode picked in the tray; ConfigMode is [route] mode as
	// it was then. The picked mode holds only while the config still says
	// the same: editing [route] mode later is a newer decision.
	Mode       string `json:"mode,omitempty"`
	ConfigMode string `json:"config_mode,omitempty"`
	// Select maps a select group's name to its chosen member's name.
	Select map[string]string `json:"select,omitempty"`
}

// readState reads the state file; a missing or unreadable one is an
// empty state (the config's choices apply), and the error says why.
func readState(path string) (state, error) {
	var st state
	if path == "" {
		return st, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return state{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// writeState replaces the state file at once (a temporary file renamed
// over it), so a crash leaves the old or the new one, never half.
func writeState(path string, st state) error {
	if path == "" {
		return nil
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".route-*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
