package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/wintest"
)

// The real sluice.exe, as a user starts it with no flags, keeps its files
// where Windows programs keep them: the config, created from the defaults
// on first start, under %AppData%; the logs and the state (the system
// proxy snapshot, the instance lock) under %LocalAppData%. Each run here
// gets folders of its own through those two variables.
func TestWindowsExeKeepsItsFilesInAppData(t *testing.T) {
	exe := wintest.SluiceExe(t)
	dir := t.TempDir()
	roaming, local := filepath.Join(dir, "Roaming"), filepath.Join(dir, "Local")
	env := append(os.Environ(), "APPDATA="+roaming, "LOCALAPPDATA="+local, "PROXY_LISTEN=127.0.0.1:0")
	sluice := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(exe, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sluice.exe %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
		}
		return strings.TrimSpace(string(out))
	}
	config := filepath.Join(roaming, "sluice", "config.toml")
	if got := sluice("config", "path"); got != config {
		t.Errorf("config path = %q, want %q", got, config)
	}
	logDir := filepath.Join(local, "sluice", "logs")
	if got := sluice("logs", "path"); got != logDir {
		t.Errorf("logs path = %q, want %q", got, logDir)
	}

	var out bytes.Buffer
	cmd := exec.Command(exe, "run", "--headless")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	want := []string{
		config,
		filepath.Join(logDir, "app.log"),
		filepath.Join(local, "sluice", "state", "sysproxy.lock"),
	}
	deadline := time.Now().Add(time.Minute)
	for _, f := range want {
		for {
			if _, err := os.Stat(f); err == nil {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("sluice.exe run --headless made no %s; its output:\n%s", f, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	b, err := os.ReadFile(config)
	if err != nil || !bytes.Contains(b, []byte("[proxy]")) {
		t.Fatalf("config.toml is not the commented default: %q, %v", b, err)
	}
}
