// Package pactest evaluates PAC files with pacparser, the PAC engine many
// tools embed, for the tests of package route and of the app's
// /proxy.pac. It is imported only by _test.go files.
package pactest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// script runs FindProxyForURL for each URL read as JSON on stdin.
const script = `
import json, sys, pacparser
from urllib.parse import urlsplit
pacparser.init()
pacparser.parse_pac_file(sys.argv[1])
out = []
for u in json.load(sys.stdin):
    out.append(pacparser.find_proxy(u, urlsplit(u).hostname))
pacparser.cleanup()
json.dump(out, sys.stdout)
`

// Eval returns pacparser's answer for each of urls under the PAC file
// pac ("DIRECT", "PROXY host:port", ...). It skips the test when
// pacparser is not installed.
func Eval(t testing.TB, pac []byte, urls []string) []string {
	t.Helper()
	py := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import pacparser").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Skip("pacparser is not installed (Debian package python3-pacparser)")
	}
	pacPath := filepath.Join(t.TempDir(), "proxy.pac")
	if err := os.WriteFile(pacPath, pac, 0o644); err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(urls)
	cmd := exec.Command(py, "-c", script, pacPath)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("pacparser: %v\n%s\n%s", err, stderr, pac)
	}
	var answers []string
	if err := json.Unmarshal(out, &answers); err != nil {
		t.Fatalf("pacparser output %q: %v", out, err)
	}
	return answers
}
