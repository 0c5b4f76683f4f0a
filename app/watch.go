package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDebounce is how long the config watcher waits after the last
// change before it reloads. Editors save in bursts (truncate, write,
// chmod; or write a temp file and rename it over the old one), and one
// save should make one reload, of the finished file.
const watchDebounce = 200 * time.Millisecond

// WatchConfig reloads the config (see Reload) whenever the config file
// changes, until ctx ends. It watches the file's directory rather than the
// file, because editors replace the file by renaming a new one over it,
// which would end a watch on the old inode; a symlinked config file is
// followed to its target's directory too. It returns once the watch is in
// place; an error means there is no hot reload (the app runs on, and the
// Reload menu item still works).
func (a *App) WatchConfig(ctx context.Context) error { return a.watchConfig(ctx, nil) }

// watchConfig is WatchConfig with a hook run after each reload it makes;
// nil means none.
func (a *App) watchConfig(ctx context.Context, reloaded func()) error {
	path, err := filepath.Abs(a.ConfigPath())
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	names := map[string]bool{path: true}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		names[real] = true
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	for name := range names {
		if err := w.Add(filepath.Dir(name)); err != nil {
			w.Close()
			return fmt.Errorf("watch config dir %s: %w", filepath.Dir(name), err)
		}
	}
	// Read after the watch is in place and before returning: a change
	// from here on is both seen and different from this.
	last, _ := os.ReadFile(path)
	go a.watchLoop(ctx, w, path, last, names, reloaded)
	return nil
}

// watchLoop turns change events on the config file into debounced
// reloads. A save that leaves the content as it was (last) reloads
// nothing.
func (a *App) watchLoop(ctx context.Context, w *fsnotify.Watcher, path string, last []byte, names map[string]bool, reloaded func()) {
	defer w.Close()
	debounce := time.NewTimer(watchDebounce)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			// Other files in the directory (an editor's swap file, a
			// backup) and bare permission changes are not edits.
			if names[filepath.Clean(ev.Name)] && ev.Op != fsnotify.Chmod {
				debounce.Reset(watchDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			a.log.Warn("config watch", "err", err)
		case <-debounce.C:
			data, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				// Mid-save, or deleted: reloading now would write the
				// defaults over what the user is about to put back.
				// Wait for the file to reappear.
				continue
			}
			if err == nil && bytes.Equal(data, last) {
				continue
			}
			last = data
			// Reload logs and keeps its own error for the menu.
			a.Reload()
			if reloaded != nil {
				reloaded()
			}
		}
	}
}
