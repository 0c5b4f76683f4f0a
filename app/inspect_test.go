package app

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/inspect"
)

// TestInspectReload: with [inspect] off no CA exists and nothing is
// decrypted; a reload that turns it on makes the CA and decrypts the
// listed host; a reload with a bad pattern changes nothing; turning it
// off again leaves CONNECT blind.
func TestInspectReload(t *testing.T) {
	listen := freePort(t)
	a, path := startWatchedApp(t, listen)
	caDir, err := CADir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(caDir); !os.IsNotExist(err) {
		t.Fatalf("CA dir exists with inspection off: %v", err)
	}
	a.mu.Lock()
	off := a.insp
	a.mu.Unlock()
	if off != nil {
		t.Fatal("an inspector runs with [inspect] off")
	}

	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.Proto)
	}))
	defer origin.Close()
	originRoots := x509.NewCertPool()
	originRoots.AddCert(origin.Certificate())
	// verify_upstream = false: the test origin's certificate is not in
	// the system roots. (inspect's own tests verify against their CA.)
	base := configWithListen(listen, filepath.Dir(path))
	on := base + "\n[inspect]\nenabled = true\nhosts = [\"127.0.0.1\"]\nverify_upstream = false\n"
	writeConfig(t, path, on)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	ca, err := inspect.LoadCA(caDir)
	if err != nil {
		t.Fatalf("no CA after enabling: %v", err)
	}
	get := func(roots *x509.CertPool) (*http.Response, error) {
		tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: listen}), TLSClientConfig: &tls.Config{RootCAs: roots}}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, err := c.Get(origin.URL)
		if err == nil {
			io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	sluiceRoots := x509.NewCertPool()
	sluiceRoots.AddCert(ca.Cert)
	resp, err := get(sluiceRoots)
	if err != nil {
		t.Fatal(err)
	}
	if iss := resp.TLS.PeerCertificates[0].Issuer.CommonName; !strings.HasPrefix(iss, "Sluice inspection CA") {
		t.Errorf("issuer %q", iss)
	}

	writeConfig(t, path, base+"\n[inspect]\nenabled = true\nhosts = [\"bad host\"]\n")
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "inspect.hosts") {
		t.Errorf("bad pattern: %v", err)
	}
	if _, err := get(sluiceRoots); err != nil {
		t.Errorf("after a failed reload: %v", err)
	}

	writeConfig(t, path, base)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	resp, err = get(originRoots)
	if err != nil {
		t.Fatal(err)
	}
	if iss := resp.TLS.PeerCertificates[0].Issuer; strings.Contains(iss.CommonName, "Sluice") {
		t.Errorf("inspection off, but the client saw %q", iss.CommonName)
	}
}
