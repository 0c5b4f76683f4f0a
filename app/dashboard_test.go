package app

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestDashboardFollowsConfig runs the app and checks the dashboard as the
// app wires it: served at /ui with its assets, the event stream carrying
// a request sent through the proxy with its headers (the access log
// still written beside it), /ui/api/dns listing the name Sluice's
// resolver looked up, and a reload with [ui] enabled = false turning it
// into 404 and ending the open stream.
func TestDashboardFollowsConfig(t *testing.T) {
	addr := freePort(t)
	a, path := startWatchedApp(t, addr)
	base := "http://" + addr
	for _, p := range []string{"/ui", "/ui/assets/app.js", "/ui/assets/uPlot.iife.min.js"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("GET %s: %d, %d bytes", p, resp.StatusCode, len(body))
		}
	}
	if DashboardURL := a.DashboardURL(); DashboardURL != base+"/ui" {
		t.Errorf("DashboardURL() = %q", DashboardURL)
	}

	stream, err := http.Get(base + "/ui/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stream.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	defer origin.Close()
	target := strings.Replace(origin.URL, "127.0.0.1", "localhost", 1) + fmt.Sprintf("/app-%d", time.Now().UnixNano())
	resp, err := proxyClient(addr).Get(target)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var id uint64
	timeout := time.After(10 * time.Second)
	for id == 0 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended")
			}
			var rec struct {
				ID   uint64
				Path string
			}
			if strings.HasPrefix(l, "data: {\"id\"") && json.Unmarshal([]byte(l[len("data: "):]), &rec) == nil && strings.HasSuffix(target, rec.Path) {
				id = rec.ID
			}
		case <-timeout:
			t.Fatal("the request did not appear on the stream")
		}
	}
	var details struct{ Request struct{ Line string } }
	getJSON(t, http.DefaultClient, fmt.Sprintf("%s/ui/api/records/%d", base, id), &details)
	if !strings.HasPrefix(details.Request.Line, "GET "+target) {
		t.Errorf("the record's request line is %q", details.Request.Line)
	}
	var dns struct {
		Enabled bool
		Names   []struct{ Name string }
	}
	getJSON(t, http.DefaultClient, base+"/ui/api/dns", &dns)
	if !dns.Enabled {
		t.Error("the DNS panel says Sluice's resolver is off")
	}
	// The flush needs the dashboard's header: a form on another site
	// cannot send it.
	for _, tc := range []struct {
		header string
		code   int
	}{{"", http.StatusForbidden}, {"1", http.StatusOK}} {
		req, _ := http.NewRequest("POST", base+"/ui/api/dns/flush", nil)
		if tc.header != "" {
			req.Header.Set("X-Sluice-Dashboard", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("flush with header %q: %d, want %d", tc.header, resp.StatusCode, tc.code)
		}
	}
	// A page that rebinds its own name to 127.0.0.1 cannot read it.
	req, _ := http.NewRequest("GET", base+"/ui", nil)
	req.Host = "evil.example"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("GET /ui for Host evil.example: %s, want 421", resp.Status)
	}

	writeConfig(t, path, configWithListen(addr, t.TempDir())+"\n[ui]\nenabled = false\n")
	waitFor(t, "/ui to answer 404", func() error {
		resp, err := http.Get(base + "/ui")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	if a.DashboardURL() != "" {
		t.Errorf("DashboardURL() = %q with [ui] off", a.DashboardURL())
	}
	for range lines { // the open stream ends
	}
}
