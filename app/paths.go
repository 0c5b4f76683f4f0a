package app

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// ConfigPath returns the default config file location for this user:
// $XDG_CONFIG_HOME/sluice/config.toml on Linux, ~/Library/Application
// Support/sluice/config.toml on macOS, %AppData%\sluice\config.toml on
// Windows.
func ConfigPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user config dir (set --config): %w", err)
	}
	return filepath.Join(dir, "sluice", "config.toml"), nil
}

// DefaultLogDir returns the OS log directory for Sluice:
// $XDG_STATE_HOME/sluice/logs (default ~/.local/state/sluice/logs) on
// Linux, ~/Library/Logs/sluice on macOS, %LocalAppData%\sluice\logs on
// Windows.
func DefaultLogDir() (string, error) {
	switch runtime.GOOS {
	case "darwin":
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the home dir (set [log] dir): %w", err)
		}
		return filepath.Join(home, "Library", "Logs", "sluice"), nil
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "sluice", "logs"), nil
		}
		return "", fmt.Errorf("LocalAppData is not set (set [log] dir)")
	default:
		state, err := stateHome()
		if err != nil {
			return "", err
		}
		return filepath.Join(state, "sluice", "logs"), nil
	}
}

// StateDir returns where Sluice keeps its state files (the system proxy
// snapshot, the instance lock): $XDG_STATE_HOME/sluice on Linux,
// ~/Library/Application Support/sluice/state on macOS,
// %LocalAppData%\sluice\state on Windows.
func StateDir() (string, error) {
	switch runtime.GOOS {
	case "darwin":
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("find the user config dir: %w", err)
		}
		return filepath.Join(dir, "sluice", "state"), nil
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "sluice", "state"), nil
		}
		return "", fmt.Errorf("LocalAppData is not set")
	default:
		state, err := stateHome()
		if err != nil {
			return "", err
		}
		return filepath.Join(state, "sluice"), nil
	}
}

func stateHome() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home dir: %w", err)
	}
	return filepath.Join(home, ".local", "state"), nil
}
