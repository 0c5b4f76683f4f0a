package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// capture runs f with os.Stdout and os.Stderr going to pipes and returns
// what it wrote on each.
func capture(t *testing.T, f func() error) (stdout, stderr string, err error) {
	t.Helper()
	read := func(r *os.File, into *string, done chan<- struct{}) {
		b, _ := io.ReadAll(r)
		*into = string(b)
		close(done)
	}
	outR, outW, perr := os.Pipe()
	if perr != nil {
		t.Fatal(perr)
	}
	errR, errW, perr := os.Pipe()
	if perr != nil {
		t.Fatal(perr)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outW, errW
	outDone, errDone := make(chan struct{}), make(chan struct{})
	go read(outR, &stdout, outDone)
	go read(errR, &stderr, errDone)
	err = f()
	os.Stdout, os.Stderr = oldOut, oldErr
	outW.Close()
	errW.Close()
	<-outDone
	<-errDone
	return stdout, stderr, err
}

// isolate points every per-user directory into a temp dir and returns it.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, v := range []string{"XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"} {
		t.Setenv(v, filepath.Join(dir, strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(v, "XDG_"), "_HOME"))))
	}
	// Their Windows counterparts, laid out alike: the config under
	// %AppData%, the logs under %LocalAppData%.
	t.Setenv("APPDATA", filepath.Join(dir, "config"))
	t.Setenv("LOCALAPPDATA", filepath.Join(dir, "state"))
	t.Setenv("PROXY_LISTEN", "")
	os.Unsetenv("PROXY_LISTEN")
	return dir
}

func TestUsageListsEveryCommandInTheTable(t *testing.T) {
	var b strings.Builder
	printUsage(&b)
	usage := b.String()
	var walk func(prefix string, cmds []command)
	walk = func(prefix string, cmds []command) {
		for _, c := range cmds {
			synopsis := prefix + c.name
			if c.subs != nil {
				walk(synopsis+" ", c.subs)
				continue
			}
			if got := strings.Contains(usage, "  "+synopsis); got == c.hidden {
				t.Errorf("%q in the usage text: %v, want %v", synopsis, got, !c.hidden)
			}
		}
	}
	walk("sluice ", commands)

	var unknown *unknownCommandError
	err := dispatch(commands, "", "sysproxy", []string{"of"})
	if !errors.As(err, &unknown) || err.Error() != `unknown sysproxy command "of" (want one of: on, off, status, restore)` {
		t.Errorf("sluice sysproxy of: %v", err)
	}
	if err := dispatch(commands, "", "logs", nil); err == nil || err.Error() != "logs needs one of: path, tail" {
		t.Errorf("sluice logs: %v", err)
	}
}

// While config.toml is invalid, the commands a user reaches for to find
// out why still work, from the defaults, and say why the file is invalid.
func TestLogsAndStatsWorkWhileTheConfigIsInvalid(t *testing.T) {
	dir := isolate(t)
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte("[proxy]\nlisten = \"nonsense\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantLogDir := filepath.Join(dir, "state", "sluice", "logs")
	if err := os.MkdirAll(wantLogDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wantLogDir, "access.log"), []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args       []string
		wantStdout string
	}{
		{[]string{"logs", "path", "--config", cfg}, wantLogDir + "\n"},
		{[]string{"logs", "tail", "-n", "1", "--config", cfg}, "two\n"},
		{[]string{"stats", "--config", cfg}, ""},
	} {
		stdout, stderr, err := capture(t, func() error { return dispatch(commands, "", tc.args[0], tc.args[1:]) })
		if tc.args[0] == "stats" {
			// Nothing need listen on the default port: what matters is
			// that the command went on to ask it.
			if err != nil && !strings.Contains(err.Error(), "no Sluice answers at 127.0.0.1:8877") {
				t.Errorf("%v: %v, want it to ask the default address", tc.args, err)
			}
		} else if err != nil || stdout != tc.wantStdout {
			t.Errorf("%v: printed %q, %v; want %q", tc.args, stdout, err, tc.wantStdout)
		}
		if !strings.Contains(stderr, "the config is invalid") || !strings.Contains(stderr, "proxy.listen") {
			t.Errorf("%v: stderr %q does not say the config is invalid and why", tc.args, stderr)
		}
	}
}

// `sluice sysproxy off` ends with what it did and, for anything it left
// alone, why; never "see above" with nothing above.
func TestSysproxyOffSaysWhatItLeftAloneAndWhy(t *testing.T) {
	for _, tool := range []string{"kwriteconfig5", "kreadconfig5"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian: libkf5config-bin)", tool)
		}
	}
	dir := isolate(t)
	t.Setenv("XDG_CURRENT_DESKTOP", "KDE")
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte("[proxy]\nlisten = \"127.0.0.1:1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, error) {
		return capture(t, func() error { return dispatch(commands, "", "sysproxy", args) })
	}

	if _, stderr, err := run("on", "--config", cfg); err != nil {
		t.Fatalf("sysproxy on: %v (%s)", err, stderr)
	}
	stdout, stderr, err := run("off")
	if err != nil || stdout != "system proxy: put back as it was before Sluice\n" || stderr != "" {
		t.Fatalf("sysproxy off with nothing left alone: stdout %q stderr %q err %v", stdout, stderr, err)
	}

	if _, stderr, err := run("on", "--config", cfg); err != nil {
		t.Fatalf("sysproxy on: %v (%s)", err, stderr)
	}
	// Someone else changes the setting while Sluice has it on.
	kioslaverc := filepath.Join(dir, "config", "kioslaverc")
	if out, err := exec.Command("kwriteconfig5", "--file", kioslaverc, "--group", "Proxy Settings", "--key", "ProxyType", "0").CombinedOutput(); err != nil {
		t.Fatalf("kwriteconfig5: %v: %s", err, out)
	}
	stdout, _, err = run("off")
	if err != nil || !strings.Contains(stdout, "except: kde5: ") || !strings.Contains(stdout, "changed by someone else") || strings.Contains(stdout, "see above") {
		t.Fatalf("sysproxy off with kde5 changed since: stdout %q, err %v; want the reason kde5 was left alone", stdout, err)
	}
}
