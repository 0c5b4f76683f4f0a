//go:build linux

// Command cachebench measures Sluice's response cache (issue 16), alone,
// apart from `make bench`'s load test:
//
//   - cache-hit keep-alive rps for a 4 KiB and a 1 MiB object, through
//     Sluice (cache on, memory tier), nginx with proxy_cache, and squid
//     with its memory cache, against an nginx origin, none of them
//     writing an access log; targets: Sluice at least 1.2× squid and
//     0.7× nginx;
//   - the 100-client collapsed miss: 100 concurrent requests for one
//     uncached 1 MiB object from an origin that trickles it over about a
//     second, through Sluice with the cache on and off: upstream fetches
//     (must be 1) and time to the last byte.
//
// Run as root after `make build` (nginx and squid drop to their users):
//
//	go run ./bench/cmd/cachebench -sluice bin/sluice
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/sluiceproxy/sluice/bench/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cachebench:", err)
		os.Exit(1)
	}
}

type target struct {
	name string
	addr string
}

func run() error {
	sluiceBin := flag.String("sluice", "bin/sluice", "the sluice binary")
	duration := flag.Duration("duration", 5*time.Second, "length of each wrk run")
	rounds := flag.Int("rounds", 3, "interleaved rounds; the table shows medians")
	conns := flag.Int("conns", 64, "wrk connections")
	flag.Parse()
	for _, bin := range []string{"nginx", "squid", "wrk"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is not installed (apt-get install -y nginx-light squid wrk)", bin)
		}
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "cachebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777) // squid drops to its own user
	var procs harness.Procs
	defer procs.StopAll()

	root := filepath.Join(dir, "www")
	os.MkdirAll(root, 0o755)
	for name, size := range map[string]int{"4k": 4 << 10, "1m": 1 << 20} {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i * 7)
		}
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			return err
		}
	}
	ports := map[string]int{}
	for _, n := range []string{"origin", "sluice", "sluice-off", "nginx", "squid"} {
		if ports[n], err = harness.FreePort(); err != nil {
			return err
		}
	}
	addr := func(n string) string { return fmt.Sprintf("127.0.0.1:%d", ports[n]) }
	origin := addr("origin")

	start := func(name string, cmd *exec.Cmd, at string) error {
		p, err := procs.Start(name, cmd)
		if err != nil {
			return err
		}
		return harness.WaitListening(ctx, p, at, 20*time.Second)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	if err := start("origin", exec.Command("nginx", "-c", write("origin.conf", nginxConf(dir, "origin", fmt.Sprintf(`
        listen %s;
        root %s;
        location / { add_header Cache-Control "max-age=3600"; }`, origin, root))), "-p", dir), origin); err != nil {
		return err
	}
	if err := start("nginx", exec.Command("nginx", "-c", write("nginx.conf", nginxConf(dir, "cache", fmt.Sprintf(`
        listen %s;
        location / {
            proxy_pass http://%s;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache c;
            proxy_cache_lock on;
            add_header X-Cache-Status $upstream_cache_status;
        }`, addr("nginx"), origin))), "-p", dir), addr("nginx")); err != nil {
		return err
	}
	if err := start("squid", exec.Command("squid", "-f", write("squid.conf", squidConf(dir, addr("squid"))), "-N"), addr("squid")); err != nil {
		return err
	}
	for _, s := range []struct {
		name string
		on   bool
	}{{"sluice", true}, {"sluice-off", false}} {
		logs := filepath.Join(dir, s.name+"-logs")
		cfg := write(s.name+".toml", fmt.Sprintf("[proxy]\nlisten = %q\n\n[log]\ndir = %q\naccess_log = false\n\n[cache]\nenabled = %t\nmemory_mb = 256\ndisk_mb = 0\n", addr(s.name), logs, s.on))
		if err := start(s.name, exec.Command(*sluiceBin, "run", "--headless", "--config", cfg), addr(s.name)); err != nil {
			return err
		}
	}

	targets := []target{{"sluice", addr("sluice")}, {"nginx proxy_cache", addr("nginx")}, {"squid cache_mem", addr("squid")}}
	paths := []string{"/4k", "/1m"}
	for _, t := range targets {
		for _, p := range paths {
			if err := warm(t, origin, p); err != nil {
				return err
			}
		}
	}
	rps := map[string][]float64{}
	for r := range *rounds {
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			for _, p := range paths {
				res, err := harness.RunWrk(ctx, dir, harness.WrkLoad{Addr: t.addr, Origin: origin, Path: p, Absolute: true, Conns: *conns, Duration: *duration})
				if err != nil {
					return fmt.Errorf("%s %s: %w", t.name, p, err)
				}
				if res.Errors() > 0 {
					fmt.Fprintf(os.Stderr, "%s %s: %d errors (connect %d, read %d, write %d, status %d, timeout %d; p99 %.0f ms)\n", t.name, p, res.Errors(),
						res.ConnErrs, res.ReadErrs, res.WriteErrs, res.StatusErrs, res.Timeouts, res.P99Us/1000)
				}
				rps[t.name+p] = append(rps[t.name+p], res.RPS)
			}
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "cache-hit keep-alive rps (wrk -c%d, %s × %d rounds, median)\t4 KiB\t1 MiB\n", *conns, *duration, *rounds)
	for _, t := range targets {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\n", t.name, median(rps[t.name+"/4k"]), median(rps[t.name+"/1m"]))
	}
	for _, p := range paths {
		s := median(rps["sluice"+p])
		sq, ng := s/median(rps["squid cache_mem"+p]), s/median(rps["nginx proxy_cache"+p])
		fmt.Fprintf(tw, "Sluice %s\t%.2f× squid (target ≥ 1.2: %s)\t%.2f× nginx (target ≥ 0.7: %s)\n", p, sq, pass(sq >= 1.2), ng, pass(ng >= 0.7))
	}
	tw.Flush()

	fmt.Println()
	fmt.Println("100-client collapsed miss, 1 MiB trickled over ~1 s by the origin:")
	for _, s := range []string{"sluice", "sluice-off"} {
		fetches, last, mean, err := collapsedMiss(addr(s), 100)
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		fmt.Printf("  %-10s upstream fetches %3d   time to last byte: max %v, mean %v\n", s, fetches, last.Round(time.Millisecond), mean.Round(time.Millisecond))
	}
	return nil
}

func pass(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// warm fetches path twice through t, so the object is stored before the
// measured runs; it says so when the second is not a hit.
func warm(t target, origin, path string) error {
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: t.addr})}, Timeout: 10 * time.Second}
	var hdr http.Header
	for range 2 {
		resp, err := c.Get("http://" + origin + path)
		if err != nil {
			return fmt.Errorf("warm %s through %s: %w", path, t.name, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		hdr = resp.Header
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "%s %s second fetch: Cache-Status %q X-Cache %q X-Cache-Status %q\n", t.name, path,
		hdr.Get("Cache-Status"), hdr.Get("X-Cache"), hdr.Get("X-Cache-Status"))
	return nil
}

// collapsedMiss serves a fresh 1 MiB object that trickles out in 16
// pieces over about a second, sends n concurrent requests for it through
// proxy, and reports the upstream fetches and the time to each client's
// last byte (max and mean).
func collapsedMiss(proxy string, n int) (int64, time.Duration, time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, 0, err
	}
	body := make([]byte, 1<<20)
	for i := range body {
		body[i] = byte(i * 13)
	}
	want := sha256.Sum256(body)
	var fetches atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		for off := 0; off < len(body); off += 64 << 10 {
			w.Write(body[off : off+64<<10])
			w.(http.Flusher).Flush()
			time.Sleep(60 * time.Millisecond)
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: proxy}), MaxIdleConnsPerHost: n}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: time.Minute}
	target := "http://" + ln.Addr().String() + "/obj"
	var wg sync.WaitGroup
	times := make([]time.Duration, n)
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(target)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			h := sha256.New()
			io.Copy(h, resp.Body)
			times[i] = time.Since(start)
			if [32]byte(h.Sum(nil)) != want {
				errs <- fmt.Errorf("client %d got different bytes", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return 0, 0, 0, err
	}
	var sum, last time.Duration
	for _, t := range times {
		sum += t
		last = max(last, t)
	}
	return fetches.Load(), last, sum / time.Duration(n), nil
}

func nginxConf(dir, name, server string) string {
	return fmt.Sprintf(`daemon off;
master_process on;
user root;
worker_processes 1;
worker_rlimit_nofile 65536;
pid %[1]s/nginx-%[2]s.pid;
error_log %[1]s/nginx-%[2]s-error.log crit;
events { worker_connections 8192; multi_accept on; }
http {
    access_log off;
    default_type application/octet-stream;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    sendfile on;
    client_body_temp_path %[1]s/%[2]s-client_body;
    proxy_temp_path %[1]s/%[2]s-proxy_temp;
    fastcgi_temp_path %[1]s/%[2]s-fastcgi_temp;
    uwsgi_temp_path %[1]s/%[2]s-uwsgi_temp;
    scgi_temp_path %[1]s/%[2]s-scgi_temp;
    proxy_cache_path %[1]s/%[2]s-cache keys_zone=c:16m max_size=1g;
    server {%[3]s
    }
}
`, dir, name, server)
}

// squidConf: a memory cache (256 MB, objects to 2 MB), collapsed
// forwarding, no disk cache, no access log, one process.
func squidConf(dir, addr string) string {
	return strings.TrimSpace(fmt.Sprintf(`
http_port %[2]s
visible_hostname cachebench
acl localhost_src src 127.0.0.1/32
http_access allow localhost_src
http_access deny all
cache_mem 256 MB
maximum_object_size_in_memory 2 MB
memory_cache_mode always
collapsed_forwarding on
access_log none
cache_store_log none
cache_log %[1]s/squid-cache.log
pid_filename %[1]s/squid.pid
coredump_dir %[1]s
max_filedescriptors 65536
workers 1
via off
forwarded_for transparent
shutdown_lifetime 1 seconds
client_persistent_connections on
server_persistent_connections on
`, dir, addr)) + "\n"
}
