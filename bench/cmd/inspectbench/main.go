//go:build linux

// Command inspectbench measures HTTPS inspection: keep-alive requests per
// second and latency through Sluice inspecting (HTTP/1.1 and HTTP/2 on
// the client leg), through mitmproxy (mitmdump, the reference inspecting
// proxy) the same two ways, through Sluice's blind CONNECT tunnel, and
// direct, against one local HTTPS origin (HTTP/2 and HTTP/1.1) serving
// 64 bytes. Run it alone from the repository root:
//
//	go run ./bench/cmd/inspectbench [-d 5s] [-c 16]
//
// Everything listens on 127.0.0.1. The load generator is Go in this
// process, so the figures are comparable with each other, not with wrk's.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "inspectbench:", err)
		os.Exit(1)
	}
}

type target struct {
	name  string
	proxy string // proxy address; "" for direct
	url   string
	roots *x509.CertPool
	h2    bool
}

func run() error {
	dur := flag.Duration("d", 5*time.Second, "measured time per target")
	conns := flag.Int("c", 16, "concurrent requests (HTTP/1.1: connections; HTTP/2: streams on one connection)")
	flag.Parse()
	tmp, err := os.MkdirTemp("", "inspectbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	caCert, caKey, err := makeCA()
	if err != nil {
		return err
	}
	caFile := filepath.Join(tmp, "origin-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw}), 0o600)
	originRoots := x509.NewCertPool()
	originRoots.AddCert(caCert)
	leaf, err := makeLeaf(caCert, caKey)
	if err != nil {
		return err
	}
	body := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	origin := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{leaf}, NextProtos: []string{"h2", "http/1.1"}},
	}
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go origin.ServeTLS(oln, "", "")
	defer origin.Close()
	oport := strconv.Itoa(oln.Addr().(*net.TCPAddr).Port)

	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			p.Wait()
		}
	}()
	start := func(env []string, name string, args ...string) (*exec.Cmd, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		procs = append(procs, cmd)
		return cmd, nil
	}

	// Sluice, built from this tree, inspecting localhost only.
	bin := filepath.Join(tmp, "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/sluice").CombinedOutput(); err != nil {
		return fmt.Errorf("build sluice (run from the repository root): %v\n%s", err, out)
	}
	sport := freePort()
	cfg := filepath.Join(tmp, "config.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, "[proxy]\nlisten = \"127.0.0.1:%s\"\n[log]\ndir = %q\n[inspect]\nenabled = true\nhosts = [\"localhost\"]\n",
		sport, filepath.Join(tmp, "logs")), 0o600)
	senv := []string{"XDG_STATE_HOME=" + filepath.Join(tmp, "state"), "XDG_CONFIG_HOME=" + filepath.Join(tmp, "config"),
		"SSL_CERT_FILE=" + caFile} // the origin's CA is Sluice's only system root here
	if _, err := start(senv, bin, "run", "--headless", "--config", cfg); err != nil {
		return err
	}
	if err := waitPort(sport); err != nil {
		return fmt.Errorf("sluice: %w", err)
	}
	sluiceRoots, err := poolFrom(filepath.Join(tmp, "state", "sluice", "ca", "sluice-ca.pem"))
	if err != nil {
		return err
	}

	targets := []target{
		{name: "direct h1", url: "https://localhost:" + oport + "/64", roots: originRoots},
		{name: "direct h2", url: "https://localhost:" + oport + "/64", roots: originRoots, h2: true},
		{name: "sluice blind CONNECT h1", proxy: "127.0.0.1:" + sport, url: "https://127.0.0.1:" + oport + "/64", roots: originRoots},
		{name: "sluice inspect h1", proxy: "127.0.0.1:" + sport, url: "https://localhost:" + oport + "/64", roots: sluiceRoots},
		{name: "sluice inspect h2", proxy: "127.0.0.1:" + sport, url: "https://localhost:" + oport + "/64", roots: sluiceRoots, h2: true},
	}
	if mitm, err := exec.LookPath("mitmdump"); err != nil {
		fmt.Fprintln(os.Stderr, "inspectbench: mitmdump is not installed (Debian package mitmproxy); its rows are left out")
	} else {
		mport := freePort()
		confdir := filepath.Join(tmp, "mitm")
		if _, err := start(nil, mitm, "--listen-host", "127.0.0.1", "-p", mport, "-q",
			"--set", "confdir="+confdir, "--set", "ssl_verify_upstream_trusted_ca="+caFile); err != nil {
			return err
		}
		if err := waitPort(mport); err != nil {
			return fmt.Errorf("mitmdump: %w", err)
		}
		mitmRoots, err := poolFrom(filepath.Join(confdir, "mitmproxy-ca-cert.pem"))
		if err != nil {
			return err
		}
		targets = append(targets,
			target{name: "mitmproxy h1", proxy: "127.0.0.1:" + mport, url: "https://localhost:" + oport + "/64", roots: mitmRoots},
			target{name: "mitmproxy h2", proxy: "127.0.0.1:" + mport, url: "https://localhost:" + oport + "/64", roots: mitmRoots, h2: true})
	}

	fmt.Printf("keep-alive GET of 64 bytes over HTTPS, %d concurrent, %v each (after 1 s warm-up)\n\n", *conns, *dur)
	fmt.Println("| target | rps | p50 | p99 | errors |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: |")
	for _, t := range targets {
		r := load(t, *conns, *dur)
		fmt.Printf("| %s | %.0f | %v | %v | %d |\n", t.name, r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.errors)
	}
	return nil
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
}

// load runs conns workers GETting t.url for d after a warm-up second.
func load(t target, conns int, d time.Duration) result {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: t.roots},
		ForceAttemptHTTP2:   t.h2,
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
	}
	if !t.h2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP1(true)
	}
	if t.proxy != "" {
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: t.proxy})
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	phase := func(d time.Duration, keep bool) ([]time.Duration, int) {
		var mu sync.Mutex
		var all []time.Duration
		errs := 0
		end := time.Now().Add(d)
		var wg sync.WaitGroup
		for range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var lat []time.Duration
				e := 0
				for time.Now().Before(end) {
					s := time.Now()
					resp, err := c.Get(t.url)
					if err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if err == nil && resp.StatusCode != 200 {
							err = errors.New(resp.Status)
						}
					}
					if err != nil {
						e++
						continue
					}
					lat = append(lat, time.Since(s))
				}
				mu.Lock()
				if keep {
					all = append(all, lat...)
				}
				errs += e
				mu.Unlock()
			}()
		}
		wg.Wait()
		return all, errs
	}
	phase(time.Second, false)
	lat, errs := phase(d, true)
	if len(lat) == 0 {
		return result{errors: errs}
	}
	slices.Sort(lat)
	return result{rps: float64(len(lat)) / d.Seconds(), p50: lat[len(lat)/2], p99: lat[len(lat)*99/100], errors: errs}
}

func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func waitPort(port string) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return nil
		}
	}
	return errors.New("did not listen on 127.0.0.1:" + port + " within 30 s")
}

func poolFrom(path string) (*x509.CertPool, error) {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if err == nil {
			p := x509.NewCertPool()
			if !p.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("%s holds no certificate", path)
			}
			return p, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
	}
}

func makeCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "inspectbench origin CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func makeLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey) (tls.Certificate, error) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
