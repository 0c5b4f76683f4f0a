package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/miekg/dns"
)

// updateScreenshot, when set to 1, makes TestDashboardInChromium write
// its screenshot to docs/dashboard.png (and run traffic longer, for
// charts worth looking at) instead of the test's artifact directory.
const updateScreenshot = "SLUICE_UPDATE_SCREENSHOT"

// startNameServer answers A queries for every name under .test but
// gone.test with 127.0.0.1 (and AAAA with nothing), so requests to shop.test reach
// loopback origins through Sluice's own resolver.
func startNameServer(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		name := q.Question[0].Name
		// Negative answers carry an SOA, so they are cached for its
		// minimum (RFC 2308): NXDOMAIN for gone.test and outside .test,
		// NODATA for AAAA.
		soa := &dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
			Ns: "ns.test.", Mbox: "admin.test.", Serial: 1, Refresh: 300, Retry: 300, Expire: 300, Minttl: 300}
		switch {
		case !strings.HasSuffix(name, ".test.") || name == "gone.test.":
			m.Rcode = dns.RcodeNameError
			m.Ns = append(m.Ns, soa)
		case q.Question[0].Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(127, 0, 0, 1)})
		default:
			m.Ns = append(m.Ns, soa)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestDashboardInChromium drives the real page in headless Chromium
// against a running app: the charts gain a point a second, requests just
// sent through Sluice appear in the traffic table, a filter narrows it
// to them, and a row's details show the headers the client sent.
func TestDashboardInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (Debian package chromium)")
	}
	long := os.Getenv(updateScreenshot) == "1"
	ns := startNameServer(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/missing"):
			http.NotFound(w, r)
		case strings.HasPrefix(r.URL.Path, "/broken"):
			http.Error(w, "broken", http.StatusInternalServerError)
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "max-age=60")
			time.Sleep(time.Duration(len(r.URL.Path)%7) * time.Millisecond)
			io.WriteString(w, strings.Repeat("<p>sluice</p>", 50+len(r.URL.Path)*20))
		}
	}))
	defer origin.Close()
	_, port, _ := net.SplitHostPort(origin.Listener.Addr().String())

	addr := freePort(t)
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	path := filepath.Join(dir, "config.toml")
	writeConfig(t, path, configWithListen(addr, dir)+fmt.Sprintf("\n[dns]\nservers = [%q]\nnegative_ttl = \"5m\"\n", ns))
	a, err := New(Options{ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.stopAll()

	client := proxyClient(addr)
	get := func(host, p string, header ...string) {
		req, _ := http.NewRequest("GET", "http://"+host+":"+port+p, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	hosts := []string{"shop.test", "api.test", "static.test", "img.test"}
	ctx, stopTraffic := context.WithCancel(context.Background())
	defer stopTraffic()
	go func() { // background traffic, for the charts
		for i := 0; ctx.Err() == nil; i++ {
			switch {
			case i%23 == 0:
				get(hosts[i%len(hosts)], "/broken/"+fmt.Sprint(i))
			case i%11 == 0:
				get(hosts[i%len(hosts)], "/missing/"+fmt.Sprint(i))
			case i%37 == 0:
				get("gone.test", "/")
			default:
				get(hosts[i%len(hosts)], fmt.Sprintf("/page/%d?v=%d", i%17, i))
			}
			time.Sleep(time.Duration(20+(i/40%5)*15) * time.Millisecond)
		}
	}()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1600, 1200),
		chromedp.Flag("no-proxy-server", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// eval returns what js evaluates to, as an int.
	eval := func(what, js string) int {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	// poll evaluates js until it returns true.
	poll := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	do("open /ui", chromedp.Navigate("http://"+addr+"/ui"))
	poll("the stream goes live", `document.querySelector("#conn").textContent === "live"`)
	first := eval("read the charts", `sluiceDash.points()`)
	poll("the charts gain points", fmt.Sprintf(`sluiceDash.points() >= %d`, first+2))
	t.Logf("chart points: %d, then %d", first, eval("read the charts", `sluiceDash.points()`))

	probe := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	for i := 0; i < 3; i++ {
		get("shop.test", fmt.Sprintf("/%s/%d", probe, i), "X-Probe", probe)
	}
	poll("the probes show in the table", fmt.Sprintf(
		`[...document.querySelectorAll("#requests tbody tr")].filter(r => r.textContent.includes(%q)).length === 3`, probe))
	if rows := eval("count rows", `document.querySelectorAll("#requests tbody tr").length`); rows <= 3 {
		t.Fatalf("the table shows %d rows before filtering; the background traffic should be there too", rows)
	}
	do("filter", chromedp.SendKeys(chromedp.CSS("#filter"), probe))
	poll("the filter narrows the table to the probes", fmt.Sprintf(
		`(() => { const rs = [...document.querySelectorAll("#requests tbody tr")]; return rs.length === 3 && rs.every(r => r.textContent.includes(%q)); })()`, probe))

	do("open a row", chromedp.Click(chromedp.CSS("#requests tbody tr")))
	poll("the details show the request's headers", fmt.Sprintf(
		`document.querySelector("#details-request").textContent.includes("X-Probe: %s")`, probe))
	response, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS("#details-response")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(response, "HTTP/1.1 200 OK") || !strings.Contains(response, "Via: 1.1 sluice") {
		t.Errorf("response headers shown: %q", response)
	}

	// The screenshot: the whole page with its live traffic and one
	// request's details.
	eval("clear the filter", `(() => { const f = document.querySelector("#filter"); f.value = ""; f.dispatchEvent(new Event("input")); return 1; })()`)
	if long {
		time.Sleep(40 * time.Second) // a chart worth looking at
	}
	poll("the DNS panel lists the names", `document.querySelectorAll("#dns-names tbody tr").length >= 4`)
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.ArtifactDir(), "dashboard.png")
	if long {
		out = filepath.Join("..", "docs", "dashboard.png")
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d KiB)", out, len(png)>>10)
}
