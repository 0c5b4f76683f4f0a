package sysproxy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Runner runs an OS tool and returns what it printed on stdout. The
// macOS backend takes one so its exact commands can be tested anywhere.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ExecRunner runs commands with os/exec.
type ExecRunner struct {
	// Env is added to the process environment of every command (later
	// entries win), so tests can point gsettings and kwriteconfig at a
	// temporary XDG_CONFIG_HOME without touching this process's
	// environment. Nil adds nothing.
	Env []string
}

// Run runs name with args and returns its stdout. A failure's error holds
// the command line and what the tool printed on stderr.
func (r ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	dieWithParent(cmd)
	if len(r.Env) > 0 {
		cmd.Env = append(os.Environ(), r.Env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

// lookEnv returns key's value from env (last match wins) or, if it is not
// there, from the process environment.
func lookEnv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return os.Getenv(key)
}
