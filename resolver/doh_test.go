package resolver

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// startDoH serves zone's answers as DNS over HTTPS (RFC 8484) at
// /dns-query. nonZeroIDs counts queries whose ID was not 0.
func startDoH(t *testing.T, zone *testServer, cert tls.Certificate, nonZeroIDs *atomic.Int32) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dns-query", func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Content-Type") != "application/dns-message" {
			http.Error(w, "wrong content type", http.StatusUnsupportedMediaType)
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		q := new(dns.Msg)
		if err := q.Unpack(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if q.Id != 0 {
			nonZeroIDs.Add(1)
		}
		out, err := zone.reply(q, "https").Pack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/dns-message")
		w.Write(out)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/dns-query"
}

func TestDNSOverHTTPS(t *testing.T) {
	zone := startServer(t)
	zone.set("doh.test", 300, "192.0.2.70", "2001:db8::70")
	cert, pool := testCert(t)
	var nonZero atomic.Int32
	url := startDoH(t, zone, cert, &nonZero)

	r := newTestResolver(t, Config{Servers: []string{url}, TLSConfig: &tls.Config{RootCAs: pool}}, newClock())
	got, _ := lookup(t, r, "doh.test")
	if !slices.Equal(got, []string{"2001:db8::70", "192.0.2.70"}) {
		t.Fatalf("got %v", got)
	}
	if n := zone.countNet("https", "doh.test", dns.TypeAAAA); n != 1 {
		t.Fatalf("AAAA queries over HTTPS = %d, want 1", n)
	}
	if n := nonZero.Load(); n != 0 {
		t.Fatalf("%d queries had a non-zero ID; RFC 8484 says 0", n)
	}
	// NXDOMAIN travels as a 200 with the DNS rcode.
	_, _, err := r.LookupNetIP(context.Background(), "nowhere.test")
	if !isNotFound(err) {
		t.Fatalf("nowhere.test: %v, want not found", err)
	}
}

func TestDNSOverHTTPSUntrusted(t *testing.T) {
	zone := startServer(t)
	zone.set("doh.test", 300, "192.0.2.70")
	cert, _ := testCert(t)
	_, otherPool := testCert(t)
	var nonZero atomic.Int32
	url := startDoH(t, zone, cert, &nonZero)
	r := newTestResolver(t, Config{Servers: []string{url}, TLSConfig: &tls.Config{RootCAs: otherPool}}, newClock())
	if _, _, err := r.LookupNetIP(context.Background(), "doh.test"); err == nil || isNotFound(err) {
		t.Fatalf("lookup through an untrusted DoH server: %v, want a server error", err)
	}
	if n := zone.total(); n != 0 {
		t.Fatalf("untrusted server answered %d queries", n)
	}
}
