package parenttest

import (
	"net"
	"os/exec"
	"runtime"
	"testing"
)

// StartMicrosocks runs microsocks on a free loopback port, asking for
// user and pass (RFC 1929) unless user is "", kills it when the test
// ends, and returns its address. It skips the test when microsocks is
// not installed.
func StartMicrosocks(t testing.TB, user, pass string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("microsocks runs on Linux only here (Debian package microsocks)")
	}
	path, err := exec.LookPath("microsocks")
	if err != nil {
		t.Skip("microsocks is not installed (Debian package microsocks)")
	}
	addr := FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"-i", host, "-p", port}
	if user != "" {
		args = append(args, "-u", user, "-P", pass)
	}
	out := &lockedBuffer{}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start microsocks: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	WaitListening(t, "microsocks", addr, exited, out)
	return addr
}
