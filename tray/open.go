package tray

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
)

// OpenPath opens a file or folder with the desktop's default application:
// xdg-open on Linux and the BSDs, open on macOS, start on Windows. It
// returns once the opener has started, without waiting for it.
func OpenPath(path string) error {
	args := openCommand(runtime.GOOS, path)
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) && args[0] == "xdg-open" {
			return fmt.Errorf("xdg-open not found (install xdg-utils), open %s by hand: %w", path, err)
		}
		return fmt.Errorf("open %s: %w", path, err)
	}
	// Reap the opener whenever it exits; an editor may run for hours.
	go cmd.Wait()
	return nil
}

// openCommand is the command line that opens path on goos.
func openCommand(goos, path string) []string {
	switch goos {
	case "darwin":
		return []string{"open", path}
	case "windows":
		// start is a cmd.exe builtin; its first quoted argument is a
		// window title, hence the empty one.
		return []string{"cmd", "/c", "start", "", path}
	default:
		return []string{"xdg-open", path}
	}
}
