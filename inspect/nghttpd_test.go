package inspect

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestNghttpdOrigin: nghttpd speaks only HTTP/2, so a page from it
// through inspection, to an HTTP/1.1 client, shows the upstream leg
// negotiated h2 with a server that is not Go's.
func TestNghttpdOrigin(t *testing.T) {
	nghttpd := needTool(t, "nghttpd", "nghttp2-server")
	ca := newTestCA(t, "origin CA")
	dir := t.TempDir()
	leaf := ca.leaf(t, "inspected.test")
	keyDER, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}), 0o600)
	docs := filepath.Join(dir, "docs")
	os.Mkdir(docs, 0o700)
	os.WriteFile(filepath.Join(docs, "index.html"), []byte("served by nghttpd\n"), 0o600)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, nghttpd, "--address=127.0.0.1", "-d", docs, port, filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nghttpd did not start listening")
		}
	}

	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true}, ca)
	stdout, stderr, err := r.curl(t, "--http1.1", "--cacert", r.caFile, "https://inspected.test:"+port+"/index.html")
	if err != nil || stdout != "served by nghttpd\n" {
		t.Fatalf("curl: %q, %v\n%s", stdout, err, stderr)
	}
	recs := r.access.inspected()
	if len(recs) != 1 || recs[0].ClientProto != "HTTP/1.1" || recs[0].UpstreamProto != "HTTP/2.0" {
		t.Errorf("records %+v", recs)
	}
}
