package tray

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// NewAutostart returns the Run-key entry for the given command line.
func NewAutostart(exec []string) (Autostart, error) {
	return &RunKey{Key: hkcuRun{}, Exec: exec}, nil
}

// hkcuRun is the real HKCU Run key. It opens the key per call: the menu
// touches it once per click, and an open handle would outlive nothing.
type hkcuRun struct{}

func (hkcuRun) GetString(name string) (string, error) {
	k, err := registry.OpenKey(registry.CURRENT_USER, RunKeyPath, registry.QUERY_VALUE)
	if err != nil {
		return "", mapRegistryErr(err)
	}
	defer k.Close()
	v, _, err := k.GetStringValue(name)
	return v, mapRegistryErr(err)
}

func (hkcuRun) SetString(name, value string) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, RunKeyPath, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("open HKCU\\%s: %w", RunKeyPath, err)
	}
	defer k.Close()
	return k.SetStringValue(name, value)
}

func (hkcuRun) DeleteValue(name string) error {
	k, err := registry.OpenKey(registry.CURRENT_USER, RunKeyPath, registry.SET_VALUE)
	if err != nil {
		return mapRegistryErr(err)
	}
	defer k.Close()
	return mapRegistryErr(k.DeleteValue(name))
}

func mapRegistryErr(err error) error {
	if errors.Is(err, registry.ErrNotExist) {
		return ErrNoValue
	}
	return err
}
