package resolver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testCert makes a self-signed certificate for 127.0.0.1 and localhost and
// the pool that trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sluice test DNS server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// startDoT serves zone's answers over DNS over TLS on 127.0.0.1.
func startDoT(t *testing.T, zone *testServer, cert tls.Certificate) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{Listener: l, Net: "tcp-tls", NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) { w.WriteMsg(zone.reply(req, "tls")) })}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return l.Addr().String()
}

func TestDNSOverTLS(t *testing.T) {
	zone := startServer(t)
	zone.set("private.test", 300, "192.0.2.60", "2001:db8::60")
	cert, pool := testCert(t)
	addr := startDoT(t, zone, cert)

	r := newTestResolver(t, Config{Servers: []string{"tls://" + addr}, TLSConfig: &tls.Config{RootCAs: pool}}, newClock())
	got, _ := lookup(t, r, "private.test")
	if !slices.Equal(got, []string{"2001:db8::60", "192.0.2.60"}) {
		t.Fatalf("got %v", got)
	}
	if n, plain := zone.countNet("tls", "private.test", dns.TypeA), zone.count("private.test", dns.TypeA); n != 1 || plain != 1 {
		t.Fatalf("A queries over TLS = %d (all transports %d), want 1 and 1", n, plain)
	}
}

// A server whose certificate is not trusted is not used.
func TestDNSOverTLSUntrusted(t *testing.T) {
	zone := startServer(t)
	zone.set("private.test", 300, "192.0.2.60")
	cert, _ := testCert(t)
	_, otherPool := testCert(t)
	addr := startDoT(t, zone, cert)

	r := newTestResolver(t, Config{Servers: []string{"tls://" + addr}, TLSConfig: &tls.Config{RootCAs: otherPool}}, newClock())
	if _, _, err := r.LookupNetIP(context.Background(), "private.test"); err == nil {
		t.Fatal("lookup through a DoT server with an untrusted certificate succeeded")
	}
	if n := zone.total(); n != 0 {
		t.Fatalf("untrusted server answered %d queries", n)
	}
}
