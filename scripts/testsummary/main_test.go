package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSummaryOfARealRun runs `go test -json` on a small module with a
// passing, a failing and two skipping tests, and checks what a reader of
// `make test` sees: go test's closing lines, the failure's output, no
// passing test's output, and the skips grouped by reason at the end.
func TestSummaryOfARealRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test on a module of its own; skipped with -short")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("runs go test on a module of its own, and there is no go command here")
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/m\n\ngo 1.22\n",
		"a/a_test.go": `package a

import "testing"

func TestPasses(t *testing.T) { t.Log("chatter from a passing test") }
func TestFails(t *testing.T)  { t.Error("it broke") }
func TestNeedsCurl(t *testing.T) { t.Skip("needs curl (Debian: curl)") }
func TestSub(t *testing.T) {
	t.Run("kde", func(t *testing.T) { t.Skip("needs curl (Debian: curl)") })
}
`,
		"b/b_test.go": "package b\n\nimport \"testing\"\n\nfunc TestOK(t *testing.T) {}\n",
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-count=1", "-json", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	raw, err := cmd.Output()
	if err == nil {
		t.Fatal("go test passed a module with a failing test")
	}
	var out strings.Builder
	if err := summarize(strings.NewReader(string(raw)), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"--- FAIL: TestFails", "it broke",
		"FAIL\texample.com/m/a", "ok  \texample.com/m/b",
		"2 tests skipped",
		"\n  needs curl (Debian: curl)\n    example.com/m/a TestNeedsCurl\n    example.com/m/a TestSub/kde\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"chatter from a passing test", "=== RUN", "TestPasses"} {
		if strings.Contains(got, not) {
			t.Errorf("summary shows %q:\n%s", not, got)
		}
	}
	// The verdicts come before the skips, which end the output.
	if strings.Index(got, "ok  \texample.com/m/b") > strings.Index(got, "tests skipped") {
		t.Errorf("skips are not at the end:\n%s", got)
	}
}
