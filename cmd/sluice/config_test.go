package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// captureStdout runs f with os.Stdout going to a pipe and returns what it
// wrote.
func captureStdout(t *testing.T, f func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	ferr := f()
	os.Stdout = old
	w.Close()
	return <-out, ferr
}

// TestConfigInitTwice checks that init over an existing file says so and
// how to see or replace it, instead of a raw open error.
func TestConfigInitTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	if _, err := captureStdout(t, func() error { return cmdConfig([]string{"init", "--config", path}) }); err != nil {
		t.Fatal(err)
	}
	_, err := captureStdout(t, func() error { return cmdConfig([]string{"init", "--config", path}) })
	if err == nil {
		t.Fatal("a second init succeeded")
	}
	for _, w := range []string{"file already exists", "sluice config check --config " + path, "move it away"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "open "+path) {
		t.Errorf("error %q is the raw open error", err)
	}
}

// TestConfigCheckMarksEnvAndKeepsDurations checks config check's listing:
// a value from the environment is marked, and durations read as written.
func TestConfigCheckMarksEnvAndKeepsDurations(t *testing.T) {
	for _, k := range []string{"PROXY_LISTEN", "PROXY_POOL_SIZE", "PROXY_IDLE_TIMEOUT", "PROXY_MAX_CONCURRENT", "PROXY_BODY_TIMEOUT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("PROXY_CONNECT_TIMEOUT", "3s")
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte("[proxy]\npool_idle_timeout = \"90s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := captureStdout(t, func() error { return cmdConfig([]string{"check", "--config", path}) })
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{path + ": ok", "\npool_idle_timeout = \"90s\"\n", "\nconnect_timeout = \"3s\"  # from env PROXY_CONNECT_TIMEOUT\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("config check output lacks %q:\n%s", w, out)
		}
	}
}
