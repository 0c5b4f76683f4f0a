package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/app"
)

// localhostCert is a self-signed certificate for localhost, for a test
// origin (its trust is not under test here: verify_upstream = false).
func localhostCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestChromiumThroughInspection: `sluice ca install` puts the CA into a
// fresh user's NSS database; headless Chromium through a running Sluice
// loads an inspected HTTPS page with no certificate error; `sluice
// capture` records that page and a plain-HTTP exchange into a HAR file;
// `sluice ca status` and `uninstall` see and remove the trust.
func TestChromiumThroughInspection(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian package chromium)")
	}
	if _, err := exec.LookPath("certutil"); err != nil {
		t.Skip("certutil is not installed (Debian package libnss3-tools)")
	}
	dir := isolate(t)
	home := filepath.Join(dir, "home")
	os.MkdirAll(home, 0o700)
	t.Setenv("HOME", home)

	const marker = "inspected page body 6f1c"
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<html><body><p id=m>%s over %s</p></body></html>", marker, r.Proto)
	}))
	origin.EnableHTTP2 = true
	origin.TLS = &tls.Config{Certificates: []tls.Certificate{localhostCert(t)}}
	origin.StartTLS()
	defer origin.Close()
	originPort := origin.Listener.Addr().(*net.TCPAddr).Port
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") }))
	defer plain.Close()

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	listen := ln.Addr().String()
	ln.Close()
	cfgPath := filepath.Join(dir, "config.toml")
	// Chromium's own background requests come to Sluice too: the DNS
	// server above (nothing listens there) keeps them off the network;
	// Sluice answers localhost itself.
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`[proxy]
listen = %q
shutdown_grace = "1s"
[log]
dir = %q
[dns]
servers = ["127.0.0.1:9"]
timeout = "200ms"
[inspect]
enabled = true
hosts = ["localhost"]
verify_upstream = false
`, listen, filepath.Join(dir, "logs"))), 0o600)
	a, err := app.New(app.Options{ConfigPath: cfgPath, Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	stdout, stderr, err := capture(t, func() error { return caInstall(nil) })
	if err != nil {
		t.Fatalf("ca install: %v\n%s%s", err, stdout, stderr)
	}
	nssdb := filepath.Join(home, ".pki", "nssdb")
	if !strings.Contains(stdout, "trusted in the NSS database "+nssdb) || !strings.Contains(stdout, "update-ca-certificates") {
		t.Errorf("ca install said:\n%s", stdout)
	}
	if stdout, _, _ := capture(t, func() error { return caStatus(nil) }); !strings.Contains(stdout, "NSS "+nssdb+": trusted") {
		t.Errorf("ca status:\n%s", stdout)
	}

	harPath := filepath.Join(dir, "out.har")
	ctx, stopCapture := context.WithCancel(context.Background())
	captured := make(chan error, 1)
	go func() { captured <- runCapture(ctx, "http://"+listen, harPath, "", 0) }()
	waitCapture(t, dir)

	pageURL := fmt.Sprintf("https://localhost:%d/page", originPort)
	cctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
		"--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter",
		"--user-data-dir="+filepath.Join(dir, "chromium"), "--proxy-server=http://"+listen,
		"--proxy-bypass-list=<-loopback>", "--dump-dom", pageURL)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), marker) {
		t.Fatalf("chromium did not show the page (a certificate error?):\n%s\n%s", out.String(), errb.String())
	}

	pu, _ := url.Parse("http://" + listen)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 10 * time.Second}
	resp, err := c.Get(plain.URL + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()

	time.Sleep(300 * time.Millisecond) // the record is made after the response went out
	stopCapture()
	if err := <-captured; err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(harPath)
	if err != nil {
		t.Fatal(err)
	}
	var har struct {
		Log struct {
			Version string `json:"version"`
			Entries []struct {
				Request struct {
					URL string `json:"url"`
				} `json:"request"`
				Response struct {
					Status int `json:"status"`
				} `json:"response"`
			} `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(b, &har); err != nil {
		t.Fatalf("HAR: %v\n%.400s", err, b)
	}
	var sawPage, sawPlain bool
	for _, e := range har.Log.Entries {
		sawPage = sawPage || e.Request.URL == pageURL && e.Response.Status == 200
		sawPlain = sawPlain || e.Request.URL == plain.URL+"/plain" && e.Response.Status == 200
	}
	if har.Log.Version != "1.2" || !sawPage || !sawPlain {
		t.Errorf("HAR lacks the page (%v) or the plain exchange (%v):\n%.2000s", sawPage, sawPlain, b)
	}

	if _, _, err := capture(t, func() error { return caUninstall(nil) }); err != nil {
		t.Fatal(err)
	}
	if stdout, _, _ := capture(t, func() error { return caStatus(nil) }); !strings.Contains(stdout, "NSS "+nssdb+": not trusted") {
		t.Errorf("after uninstall, ca status:\n%s", stdout)
	}
}

// waitCapture waits until a capture file exists in the state dir.
func waitCapture(t *testing.T, dir string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(dir, "state", "sluice", "captures", "*.har")); len(m) > 0 {
			return
		}
	}
	t.Fatal("the capture did not start")
}
