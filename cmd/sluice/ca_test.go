package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/app"
)

// TestCAPathAndExport: ca path names the file even before the CA exists
// (and says so); export makes the CA and prints its certificate, in PEM
// or DER, never the key.
func TestCAPathAndExport(t *testing.T) {
	isolate(t)
	caDir, err := app.CADir()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(caDir, "sluice-ca.pem")
	stdout, stderr, err := capture(t, func() error { return caPath(nil) })
	if err != nil || strings.TrimSpace(stdout) != want || !strings.Contains(stderr, "no CA yet") {
		t.Fatalf("ca path: %q %q %v", stdout, stderr, err)
	}
	if _, _, err := capture(t, func() error { return caStatus(nil) }); err == nil || !strings.Contains(err.Error(), "no CA") {
		t.Errorf("ca status without a CA: %v", err)
	}
	stdout, _, err = capture(t, func() error { return caExport(nil) })
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode([]byte(stdout))
	if b == nil || b.Type != "CERTIFICATE" || strings.Contains(stdout, "PRIVATE KEY") {
		t.Fatalf("export printed %q", stdout)
	}
	der, _, err := capture(t, func() error { return caExport([]string{"--der"}) })
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate([]byte(der))
	if err != nil || !cert.IsCA || string(b.Bytes) != der {
		t.Errorf("--der: %v", err)
	}
	if _, err := os.Stat(want); err != nil {
		t.Error(err)
	}
}
