package stats_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

// recorder is an AccessLogger that keeps what the proxy reports.
type recorder struct {
	mu   sync.Mutex
	recs []proxy.AccessRecord
}

func (r *recorder) LogAccess(rec *proxy.AccessRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, *rec)
}

// TestCountersAfterKnownLoadThroughProxy sends N requests (M of them to a
// refused port) and one CONNECT tunnel through a real proxy, then checks
// the counters, /stats and /metrics against what was sent.
func TestCountersAfterKnownLoadThroughProxy(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(bytes.Repeat([]byte("o"), size))
	}))
	defer origin.Close()

	// A port nothing listens on, for refused connections.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	// A TCP echo server for the tunnel.
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()

	c := stats.New()
	var access recorder
	local := http.NewServeMux()
	local.Handle("GET /stats", stats.Handler(c))
	local.Handle("GET /metrics", stats.MetricsHandler(c))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.New(proxy.Config{Listen: ln.Addr().String(), Stats: c, Access: &access, Local: local})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	proxyURL := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	defer client.CloseIdleConnections()

	const n = 120
	var m, wantIn, wantOut int64
	for i := range n {
		if i%8 == 3 {
			m++
			resp, err := client.Get("http://" + deadAddr + "/nothing")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("request to a refused port: status %d, want 502", resp.StatusCode)
			}
			continue
		}
		in, out := int64(i*37), int64(i*101)
		method := http.MethodGet
		var body io.Reader
		if in > 0 && i%2 == 0 {
			method, body = http.MethodPost, bytes.NewReader(bytes.Repeat([]byte("i"), int(in)))
		} else {
			in = 0
		}
		req, _ := http.NewRequest(method, fmt.Sprintf("%s/item?size=%d", origin.URL, out), body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || got != out {
			t.Fatalf("request %d: status %d, %d bytes, want 200 and %d", i, resp.StatusCode, got, out)
		}
		wantIn += in
		wantOut += out
	}

	// One tunnel carrying 3000 bytes each way.
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(tc, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", echo.Addr())
	br := bufio.NewReader(tc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	payload := bytes.Repeat([]byte("t"), 3000)
	tc.Write(payload)
	back := make([]byte, len(payload))
	if _, err := io.ReadFull(br, back); err != nil {
		t.Fatalf("read through the tunnel: %v", err)
	}
	tc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for c.Snapshot().TunnelsActive != 0 || c.Snapshot().TunnelsTotal != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("tunnel not closed in the counters: %+v", c.Snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantIn += 3000
	wantOut += 3000

	s := c.Snapshot()
	if s.Requests != n || s.Errors != m || s.ErrorsByKind["refused"] != m {
		t.Errorf("requests %d, errors %d (%v); want %d and %d refused", s.Requests, s.Errors, s.ErrorsByKind, n, m)
	}
	if s.BytesIn != wantIn || s.BytesOut != wantOut {
		t.Errorf("bytes in %d out %d, want %d and %d", s.BytesIn, s.BytesOut, wantIn, wantOut)
	}
	if s.Latency.Count != n || s.TTFB.Count != n-m {
		t.Errorf("latency window holds %d, TTFB %d; want %d and %d", s.Latency.Count, s.TTFB.Count, n, n-m)
	}
	if s.Upstream.Reused+s.Upstream.Dialed != n-m || s.Upstream.Dialed < 1 {
		t.Errorf("upstream %+v, want %d requests sent upstream", s.Upstream, n-m)
	}
	access.mu.Lock()
	var recIn, recOut int64
	for _, r := range access.recs {
		recIn += r.BytesIn
		recOut += r.BytesOut
	}
	if len(access.recs) != n+1 || recIn != wantIn || recOut != wantOut {
		t.Errorf("%d access records with %d/%d bytes; want %d with %d/%d", len(access.recs), recIn, recOut, n+1, wantIn, wantOut)
	}
	access.mu.Unlock()

	// /stats on the proxy port: taken while serving itself, so it shows
	// the load and not yet its own request.
	direct := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
	r, err := direct.Get("http://" + ln.Addr().String() + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	var js stats.Snapshot
	err = json.NewDecoder(r.Body).Decode(&js)
	// Read to the end so the next request reuses this connection.
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if err != nil || js.Requests != n || js.BytesIn != wantIn || js.BytesOut != wantOut || js.Errors != m {
		t.Fatalf("/stats through the proxy port: %v, %+v", err, js)
	}

	// /metrics after it does not count the /stats request: local
	// endpoints are not proxy traffic.
	r, err = direct.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r.Body)
	r.Body.Close()
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	if got := families["sluice_requests_total"].GetMetric()[0].GetCounter().GetValue(); got != n {
		t.Errorf("sluice_requests_total %v, want %d: the load only, not /stats", got, n)
	}
	if got := families["sluice_bytes_in_total"].GetMetric()[0].GetCounter().GetValue(); got != float64(wantIn) {
		t.Errorf("sluice_bytes_in_total %v, want %d", got, wantIn)
	}
	for _, mt := range families["sluice_errors_total"].GetMetric() {
		want := int64(0)
		kind := mt.GetLabel()[0].GetValue()
		if kind == "refused" {
			want = m
		}
		if got := mt.GetCounter().GetValue(); got != float64(want) {
			t.Errorf("sluice_errors_total{kind=%q} = %v, want %d", kind, got, want)
		}
	}
	if got := families["sluice_tunnels_total"].GetMetric()[0].GetCounter().GetValue(); got != 1 {
		t.Errorf("sluice_tunnels_total %v, want 1", got)
	}
}
