package inspect

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
)

// testCA is a CA of the test's own, for the origins: Sluice must verify
// them against it (Config.RootCAs) and must not pass one it did not sign.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// leaf signs a server certificate for names.
func (ca *testCA) leaf(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: names, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startOrigin starts an HTTPS origin (h2 and http/1.1) with a certificate
// from ca for the .test names the tests use.
func startOrigin(t testing.TB, ca *testCA, h http.Handler) *httptest.Server {
	t.Helper()
	o := httptest.NewUnstartedServer(h)
	o.EnableHTTP2 = true
	o.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, "inspected.test", "blind.test", "other.test")}}
	o.StartTLS()
	t.Cleanup(o.Close)
	return o
}

func portOf(t testing.TB, s *httptest.Server) string {
	u, _ := url.Parse(s.URL)
	return u.Port()
}

// testDial sends every name to 127.0.0.1, so the tests can use names
// (*.test) without a resolver.
func testDial(ctx context.Context, network, addr string) (net.Conn, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
}

// recorder collects access records.
type recorder struct {
	mu   sync.Mutex
	recs []proxy.AccessRecord
}

func (r *recorder) LogAccess(rec *proxy.AccessRecord) {
	r.mu.Lock()
	r.recs = append(r.recs, *rec)
	r.mu.Unlock()
}

func (r *recorder) inspected() []proxy.AccessRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []proxy.AccessRecord
	for _, rec := range r.recs {
		if rec.Scheme == "https" {
			out = append(out, rec)
		}
	}
	return out
}

// rig is Sluice with an inspector, as the app wires them.
type rig struct {
	in      *Inspector
	srv     *proxy.Server
	addr    string
	access  *recorder
	caFile  string
	caPool  *x509.CertPool
	capture *Captures
}

// startRig starts an inspector for cfg (CA, Dial and RootCAs filled in
// when empty) behind a proxy on loopback.
func startRig(t testing.TB, cfg Config, originCA *testCA) *rig {
	t.Helper()
	return startRoutedRig(t, cfg, originCA, nil)
}

// startRoutedRig is startRig with a router in the proxy; the inspector
// then dials origins as routed (proxy.Server.DialRouted), as the app's
// does.
func startRoutedRig(t testing.TB, cfg Config, originCA *testCA, router proxy.Router) *rig {
	t.Helper()
	var routed atomic.Pointer[proxy.Server]
	if router != nil {
		cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return routed.Load().DialRouted(ctx, host, port)
		}
	}
	dir := t.TempDir()
	if cfg.CA == nil {
		ca, err := LoadOrCreateCA(dir)
		if err != nil {
			t.Fatal(err)
		}
		cfg.CA = ca
	}
	if cfg.Dial == nil {
		cfg.Dial = testDial
	}
	if cfg.RootCAs == nil && originCA != nil {
		cfg.RootCAs = originCA.pool()
	}
	if cfg.Capture == nil {
		cfg.Capture = NewCaptures(filepath.Join(dir, "captures"), "test", DefaultCaptureBodyMax)
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	in, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{in: in, access: &recorder{}, caFile: cfg.CA.CertPath(), caPool: x509.NewCertPool(), capture: cfg.Capture}
	r.caPool.AddCert(cfg.CA.Cert)
	srv, err := proxy.New(proxy.Config{
		Inspect: in, Access: teeAccess{r.access, cfg.Capture}, Router: router,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
			c, err := testDial(ctx, network, addr)
			return c, false, err
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	routed.Store(srv)
	cfg.Capture.OnRunning(srv.CaptureHeads)
	go srv.Serve(ln)
	r.srv, r.addr = srv, ln.Addr().String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		in.Close() // ends idle inspected connections, as the app does first
		srv.Shutdown(ctx)
	})
	return r
}

type teeAccess struct {
	a, b proxy.AccessLogger
}

func (t teeAccess) LogAccess(rec *proxy.AccessRecord) {
	t.a.LogAccess(rec)
	t.b.LogAccess(rec)
}

// client is a Go client through the rig that trusts Sluice's CA (and
// extra, for blind tunnels to the origin).
func (r *rig) client(t testing.TB, h2 bool, extra *x509.CertPool) *http.Client {
	pool := r.caPool
	if extra != nil {
		pool = extra
	}
	proxyURL, _ := url.Parse("http://" + r.addr)
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// runCurl runs curl through the rig with a clean environment.
func (r *rig) curl(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	path := needTool(t, "curl", "curl")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"-sS", "--max-time", "50", "-x", "http://" + r.addr}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// needTool returns the path of a tool or skips, naming its Debian package.
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian package %s)", name, pkg)
	}
	return p
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
