package proxy

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/internal/wintest"
)

// curl runs curl with the proxy set and returns its stdout and stderr.
// The environment is cleared so no *_proxy variable interferes.
func curl(t *testing.T, p *testProxy, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	path, lerr := exec.LookPath("curl")
	if lerr != nil {
		wintest.SkipUnderWine(t, "no curl.exe (Windows 10 and later have one in System32, Wine has none)")
		t.Fatal("curl is not installed (apt-get install curl): it is one of the clients the relay is tested with")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"-sS", "--max-time", "30", "-x", p.url.String()}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// TestCurlClient drives the relay with curl: downloads, uploads (with
// Content-Length, chunked, and Expect: 100-continue), HEAD, HTTPS through
// CONNECT with HTTP/1.1 and HTTP/2, and an error answer.
func TestCurlClient(t *testing.T) {
	bo := startBodyOrigin(t)
	p := startProxy(t, Config{})
	const n = 3 << 20
	file := writeTempFile(t, "upload", prngBody(42, n))
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	fileSum, _, err := hashAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	wantUp := fmt.Sprintf("%s %d", fileSum, n)

	t.Run("download", func(t *testing.T) {
		out := t.TempDir() + "/down"
		if _, stderr, err := curl(t, p, "-o", out, fmt.Sprintf("%s/down?n=%d&seed=5&id=curl", bo.URL, n)); err != nil {
			t.Fatalf("curl: %v: %s", err, stderr)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sum, got, _ := hashAll(f)
		if want := bo.sentSum(t, "curl"); sum != want || got != n {
			t.Errorf("downloaded %d bytes with sha256 %s, origin sent %d with %s", got, sum, n, want)
		}
	})
	t.Run("POST with 100-continue", func(t *testing.T) {
		stdout, stderr, err := curl(t, p, "-v", "-H", "Expect: 100-continue", "--data-binary", "@"+file, bo.URL+"/up")
		if err != nil {
			t.Fatalf("curl: %v: %s", err, stderr)
		}
		if stdout != wantUp {
			t.Errorf("origin received %q, want %q", stdout, wantUp)
		}
		if !strings.Contains(stderr, "< HTTP/1.1 100 Continue") {
			t.Errorf("curl saw no 100 Continue:\n%s", stderr)
		}
	})
	t.Run("PUT", func(t *testing.T) {
		stdout, stderr, err := curl(t, p, "-T", file, bo.URL+"/up")
		if err != nil {
			t.Fatalf("curl: %v: %s", err, stderr)
		}
		if stdout != wantUp {
			t.Errorf("origin received %q, want %q", stdout, wantUp)
		}
	})
	t.Run("chunked upload", func(t *testing.T) {
		stdout, stderr, err := curl(t, p, "-D", "-", "-H", "Transfer-Encoding: chunked", "--data-binary", "@"+file, bo.URL+"/up")
		if err != nil {
			t.Fatalf("curl: %v: %s", err, stderr)
		}
		if !strings.Contains(stdout, "X-Got-Te: chunked") || !strings.HasSuffix(stdout, wantUp) {
			t.Errorf("origin answered %q, want a chunked upload of %q", stdout, wantUp)
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		stdout, stderr, err := curl(t, p, "-I", fmt.Sprintf("%s/down?n=%d&id=head", bo.URL, 777))
		if err != nil {
			t.Fatalf("curl: %v: %s", err, stderr)
		}
		if !strings.Contains(stdout, "Content-Length: 777") {
			t.Errorf("HEAD head %q lacks Content-Length: 777", stdout)
		}
	})
	for _, h2 := range []bool{false, true} {
		name, flag, want := "HTTPS HTTP/1.1", "--http1.1", "1.1"
		if h2 {
			name, flag, want = "HTTPS HTTP/2", "--http2", "2"
		}
		t.Run(name, func(t *testing.T) {
			o := startTLSOrigin(t, h2)
			ca := writeTempFile(t, "ca.pem", bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.Certificate().Raw})))
			stdout, stderr, err := curl(t, p, flag, "--cacert", ca, "-w", " %{http_version}", o.URL+"/x")
			if err != nil {
				t.Fatalf("curl: %v: %s", err, stderr)
			}
			wantProto := "HTTP/1.1"
			if h2 {
				wantProto = "HTTP/2.0"
			}
			if stdout != wantProto+" /x "+want {
				t.Errorf("curl got %q, want %q", stdout, wantProto+" /x "+want)
			}
		})
	}
	t.Run("error answer", func(t *testing.T) {
		stdout, stderr, err := curl(t, p, "-w", "%{http_code}", "http://sluice-test.invalid/")
		if err != nil {
			t.Fatalf("curl: %v: %s", err, stderr)
		}
		if !strings.HasPrefix(stdout, "sluice: ") || !strings.HasSuffix(stdout, "\n502") {
			t.Errorf("curl got %q, want a one-line reason and 502", stdout)
		}
	})
}
