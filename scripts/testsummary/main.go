// Command testsummary reads `go test -json` on stdin, prints the usual
// test output as it comes, and ends with every skipped test and why,
// grouped by reason, so that a tool a test needs and did not find is
// not hidden behind an "ok" (`make test` pipes through it).
//
// Its exit status is 0: the caller takes go test's own (the Makefile
// keeps it with a pipefail shell). It fails only on input that is not
// test2json output.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// skipped is one test that skipped, and the message it gave.
type skipped struct {
	pkg, test, reason string
}

func main() {
	if err := summarize(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
}

// summarize copies what go test prints without -json: for each package
// the output of failed tests and the closing "ok"/"FAIL"/"?" lines; then
// the skips.
func summarize(r io.Reader, w io.Writer) error {
	out := bufio.NewWriter(w)
	defer out.Flush()
	// Output per test (package + "\x00" + test) until it passes: only a
	// failing test's output is shown, as go test does without -v.
	held := map[string][]string{}
	var skips []skipped
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Build errors and other plain lines come through as they are.
			fmt.Fprintf(out, "%s\n", line)
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch e.Action {
		case "build-output":
			// A compile error (Go 1.24+ reports it in the stream).
			io.WriteString(out, e.Output)
		case "output":
			if e.Test == "" {
				// Package level: the "ok"/"FAIL" lines, panics, prints
				// outside tests. "PASS"/"FAIL" alone repeat the verdict.
				if o := strings.TrimRight(e.Output, "\n"); o != "PASS" && o != "FAIL" && !strings.HasPrefix(o, "=== ") && !strings.HasPrefix(o, "testing: warning: no tests") {
					io.WriteString(out, e.Output)
				}
				continue
			}
			held[key] = append(held[key], e.Output)
		case "skip":
			if e.Test != "" {
				skips = append(skips, skipped{e.Package, e.Test, skipReason(held[key])})
			}
			delete(held, key)
		case "pass":
			delete(held, key)
		case "fail":
			for _, o := range held[key] {
				if !strings.HasPrefix(o, "=== ") {
					io.WriteString(out, o)
				}
			}
			delete(held, key)
		}
		out.Flush()
	}
	if err := sc.Err(); err != nil {
		return err
	}
	printSkips(out, skips)
	return nil
}

// skipReason finds the message t.Skip printed among a test's output
// lines: the last line that is not go test's own ("=== RUN", "--- SKIP"),
// without its file:line.
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		t := strings.TrimSpace(lines[i])
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		if i := strings.Index(t, ": "); i > 0 && strings.Contains(t[:i], ".go:") {
			t = t[i+2:]
		}
		return t
	}
	return "(no message)"
}

// printSkips lists the skipped tests grouped by reason, the most
// common reason first.
func printSkips(w io.Writer, skips []skipped) {
	if len(skips) == 0 {
		return
	}
	byReason := map[string][]skipped{}
	var reasons []string
	for _, s := range skips {
		if byReason[s.reason] == nil {
			reasons = append(reasons, s.reason)
		}
		byReason[s.reason] = append(byReason[s.reason], s)
	}
	slices.SortStableFunc(reasons, func(a, b string) int { return len(byReason[b]) - len(byReason[a]) })
	noun := "tests"
	if len(skips) == 1 {
		noun = "test"
	}
	fmt.Fprintf(w, "\n%d %s skipped (`make deps` installs the tools the tests drive):\n", len(skips), noun)
	for _, r := range reasons {
		fmt.Fprintf(w, "\n  %s\n", r)
		for _, s := range byReason[r] {
			fmt.Fprintf(w, "    %s %s\n", s.pkg, s.test)
		}
	}
}
