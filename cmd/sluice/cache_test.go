package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/app"
)

// TestCacheCommands runs `sluice cache stats` and `sluice cache purge`
// against a running Sluice, then, once it stopped, against its disk tier
// directly.
func TestCacheCommands(t *testing.T) {
	dir := isolate(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprint(w, "body of "+r.URL.Path)
	}))
	defer origin.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	cfgPath := filepath.Join(dir, "config.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("[proxy]\nlisten = %q\n\n[log]\ndir = %q\n\n[cache]\nenabled = true\n", listen, filepath.Join(dir, "logs"))), 0o644)
	a, err := app.New(app.Options{ConfigPath: cfgPath})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			a.Close()
		}
	}
	defer stop()
	pc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: listen})}}
	for _, p := range []string{"/a", "/b", "/a"} {
		resp, err := pc.Get(origin.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	run := func(args ...string) (string, string) {
		t.Helper()
		out, errOut, err := capture(t, func() error { return dispatch(commands, "", "cache", append(args, "--config", cfgPath)) })
		if err != nil {
			t.Fatalf("sluice cache %s: %v (%s)", strings.Join(args, " "), err, errOut)
		}
		return out, errOut
	}
	host := strings.TrimPrefix(origin.URL, "http://")
	out, _ := run("stats")
	for _, want := range []string{"objects      2", "33.3%", host} {
		if !strings.Contains(out, want) {
			t.Errorf("cache stats of the running Sluice lacks %q:\n%s", want, out)
		}
	}
	if out, _ = run("purge", origin.URL+"/b"); out != "purged 1 objects\n" {
		t.Errorf("purge URL: %q", out)
	}
	stop()

	out, errOut := run("stats")
	if !strings.Contains(errOut, "no Sluice is running") || !strings.Contains(out, "objects      1") {
		t.Errorf("cache stats with Sluice stopped:\nstdout %s\nstderr %s", out, errOut)
	}
	if out, _ = run("purge", "--host", host); out != "purged 1 objects\n" {
		t.Errorf("purge --host from the disk tier: %q", out)
	}
	if out, _ = run("stats"); !strings.Contains(out, "objects      0") {
		t.Errorf("after the purge:\n%s", out)
	}
	if _, _, err := capture(t, func() error { return dispatch(commands, "", "cache", []string{"purge", "--config", cfgPath}) }); err == nil {
		t.Error("purge with nothing to purge named succeeded")
	}
}
