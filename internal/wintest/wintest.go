// Package wintest holds what Sluice's tests need to run on Windows and
// under Wine, where `make test-windows` runs them: telling Wine apart, so
// that a test that cannot pass there for a reason of Wine's own skips
// saying so; keeping tests that write the real registry off a real
// user's profile; and finding the sluice.exe to run.
//
// It is imported by tests only.
package wintest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// SkipUnderWine skips t when it runs under Wine, with "wine: " and reason
// as the message. The reason names what Wine lacks or does differently.
func SkipUnderWine(t testing.TB, reason string) {
	t.Helper()
	if UnderWine() {
		t.Skip("wine: " + reason)
	}
}

// ScratchRegistry skips t unless it may write the current user's
// registry: under Wine, whose prefix `make test-windows` makes and throws
// away, or when SLUICE_TEST_REAL_REGISTRY=1 says this Windows profile may
// be used (the tests put back every value they change).
func ScratchRegistry(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "windows" {
		t.Skip("the registry exists only on Windows")
	}
	if !UnderWine() && os.Getenv("SLUICE_TEST_REAL_REGISTRY") != "1" {
		t.Skip("writes this user's proxy and Run key settings: runs under Wine (make test-windows), or set SLUICE_TEST_REAL_REGISTRY=1")
	}
}

// SluiceExe returns the sluice.exe a test runs: $SLUICE_EXE, which `make
// test-windows` builds and sets, or else one built with the go command
// into a temp dir. Without either (under Wine, where there is no go
// command) the test is skipped, saying so.
func SluiceExe(t testing.TB) string {
	t.Helper()
	if exe := os.Getenv("SLUICE_EXE"); exe != "" {
		return exe
	}
	if testing.Short() {
		t.Skip("builds sluice.exe; skipped with -short")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no sluice.exe: set SLUICE_EXE (make test-windows builds one), or put the go command on PATH")
	}
	exe := filepath.Join(t.TempDir(), "sluice.exe")
	out, err := exec.Command(goCmd, "build", "-o", exe, "github.com/sluiceproxy/sluice/cmd/sluice").CombinedOutput()
	if err != nil {
		t.Fatalf("build sluice.exe: %v\n%s", err, out)
	}
	return exe
}
