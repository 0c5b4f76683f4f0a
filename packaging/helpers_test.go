package packaging

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// repoRoot is the repository root, seen from this package's directory
// (where go test runs).
const repoRoot = ".."

// needTool skips the test when an external tool is not installed, naming
// the Debian package that provides it.
func needTool(t *testing.T, name, debianPkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian: apt-get install %s)", name, debianPkg)
	}
	return path
}

// run runs a command in dir with extra environment variables and returns
// its combined output, failing the test if it does not exit 0. Generous
// timeout: builds share two cores with other test packages.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(t, dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// runErr is run without the failure: it returns the output and the error.
func runErr(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}
