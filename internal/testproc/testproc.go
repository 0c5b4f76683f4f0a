// Package testproc starts a program under test the way the end-to-end
// tests of the app need it started: its output goes to a file, not a
// pipe, since a watchdog child inherits it and may outlive the program
// (a pipe would keep the test waiting for that child); the program is
// killed when the test ends; and its output is logged if the test failed.
package testproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Start runs name with args and env (the whole environment, as
// exec.Cmd.Env), its output in a new file under dir.
func Start(t testing.TB, dir string, env []string, name string, args ...string) *exec.Cmd {
	t.Helper()
	out, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.out", filepath.Base(name), time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("%s output:\n%s", filepath.Base(name), b)
		}
	})
	return cmd
}
