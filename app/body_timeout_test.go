package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBodyTimeoutKey checks [proxy] body_timeout from every source: the
// default, the file, PROXY_BODY_TIMEOUT (which beats the file), the value
// the proxy engine gets, and a value that is not more than zero, refused
// with its key and line.
func TestBodyTimeoutKey(t *testing.T) {
	t.Setenv("PROXY_BODY_TIMEOUT", "")
	os.Unsetenv("PROXY_BODY_TIMEOUT")
	if got := DefaultConfig().Proxy.BodyTimeout.Duration; got != 30*time.Second {
		t.Errorf("default body_timeout %v, want 30s", got)
	}

	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	path := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf("[proxy]\nlisten = \"127.0.0.1:0\"\nbody_timeout = \"5s\"\n\n[log]\ndir = %q\n", filepath.Join(dir, "logs"))
	writeConfig(t, path, body)
	a, err := New(Options{ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.logs.Close() })
	if got := a.cfg.Proxy.BodyTimeout.Duration; got != 5*time.Second {
		t.Errorf("body_timeout from the file: %v, want 5s", got)
	}
	if got := a.proxyConfig(a.cfg, &upstream{}, nil).BodyTimeout; got != 5*time.Second {
		t.Errorf("proxy.Config.BodyTimeout %v, want 5s", got)
	}

	t.Setenv("PROXY_BODY_TIMEOUT", "45s")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Proxy.BodyTimeout.Duration; got != 45*time.Second {
		t.Errorf("body_timeout with PROXY_BODY_TIMEOUT=45s: %v", got)
	}
	t.Setenv("PROXY_BODY_TIMEOUT", "")
	os.Unsetenv("PROXY_BODY_TIMEOUT")

	writeConfig(t, path, strings.Replace(body, `"5s"`, `"0s"`, 1))
	_, err = LoadConfig(path)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "proxy.body_timeout" || ce.Line != 3 {
		t.Fatalf("body_timeout = \"0s\": %v; want an error for proxy.body_timeout at line 3", err)
	}
}
