package app

import (
	"bytes"
	"context"
	"crypto/sha256"
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
	"time"
)

// freePort returns a loopback address nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// writeConfig replaces the config file the way editors save: a new file
// renamed over the old one.
func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".swp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startWatchedApp starts an App on a config with the given listen address,
// watching its config file, and stops it when the test ends.
func startWatchedApp(t *testing.T, listen string) (*App, string) {
	t.Helper()
	for _, k := range []string{"PROXY_LISTEN", "PROXY_POOL_SIZE", "PROXY_IDLE_TIMEOUT", "PROXY_MAX_CONCURRENT", "PROXY_CONNECT_TIMEOUT", "PROXY_BODY_TIMEOUT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	path := filepath.Join(dir, "config.toml")
	writeConfig(t, path, configWithListen(listen, dir))
	a, err := New(Options{ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		a.stopAll()
	})
	if err := a.WatchConfig(ctx); err != nil {
		t.Fatal(err)
	}
	return a, path
}

func configWithListen(listen, dir string) string {
	return fmt.Sprintf("[proxy]\nlisten = %q\nshutdown_grace = \"1s\"\n\n[log]\ndir = %q\n", listen, filepath.Join(dir, "logs"))
}

func proxyClient(proxyAddr string) *http.Client {
	u := &url.URL{Scheme: "http", Host: proxyAddr}
	return &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(u), DisableKeepAlives: true},
		Timeout:   60 * time.Second,
	}
}

// waitFor polls f for up to 30 s; reloads go through fsnotify and a
// debounce, and the machine may be slow.
func waitFor(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPortChangeKeepsRunningDownload changes [proxy] listen while a
// download runs through the old port: the download completes intact, and
// new requests go to the new port while the old one refuses them.
func TestPortChangeKeepsRunningDownload(t *testing.T) {
	const half = 4 << 20
	body := bytes.Repeat([]byte("sluice-reload-"), 2*half/14+1)[:2*half]
	resume := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/download" {
			fmt.Fprint(w, "hello")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:half])
		w.(http.Flusher).Flush()
		// Hold the second half back until the port has changed, so the
		// download is certainly in flight across the reload.
		select {
		case <-resume:
		case <-r.Context().Done():
			return
		}
		w.Write(body[half:])
	}))
	defer origin.Close()
	defer close(resume)

	oldAddr := freePort(t)
	a, path := startWatchedApp(t, oldAddr)
	if got := a.ListenAddr(); got != oldAddr {
		t.Fatalf("listening on %s, want %s", got, oldAddr)
	}

	resp, err := proxyClient(oldAddr).Get(origin.URL + "/download")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make([]byte, half)
	if _, err := io.ReadFull(resp.Body, got); err != nil {
		t.Fatalf("first half: %v", err)
	}

	newAddr := freePort(t)
	writeConfig(t, path, configWithListen(newAddr, filepath.Dir(path)))
	waitFor(t, "listen address follows config.toml", func() error {
		if got := a.ListenAddr(); got != newAddr {
			return fmt.Errorf("listening on %s, want %s (config error: %v)", got, newAddr, a.ConfigError())
		}
		return nil
	})
	if err := a.ConfigError(); err != nil {
		t.Fatalf("ConfigError after a valid change: %v", err)
	}

	r2, err := proxyClient(newAddr).Get(origin.URL + "/hello")
	if err != nil {
		t.Fatalf("request through the new port: %v", err)
	}
	b2, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if string(b2) != "hello" {
		t.Errorf("through the new port: %q", b2)
	}
	if _, err := proxyClient(oldAddr).Get(origin.URL + "/hello"); err == nil {
		t.Error("the old port still accepts new requests")
	} else if !strings.Contains(err.Error(), "refused") {
		t.Logf("old port: %v", err)
	}

	resume <- struct{}{}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("rest of the download after the reload: %v", err)
	}
	got = append(got, rest...)
	if sha256.Sum256(got) != sha256.Sum256(body) {
		t.Fatalf("download: %d bytes, checksum differs from the %d sent", len(got), len(body))
	}
}

// TestBadConfigKeepsRunningConfig saves an invalid file: the proxy keeps
// its config and listener, the error names the key, and fixing the file
// clears it.
func TestBadConfigKeepsRunningConfig(t *testing.T) {
	addr := freePort(t)
	a, path := startWatchedApp(t, addr)
	dir := filepath.Dir(path)

	writeConfig(t, path, strings.Replace(configWithListen(addr, dir), "shutdown_grace = \"1s\"", "max_concurrent = \"lots\"", 1))
	waitFor(t, "config error reported", func() error {
		if a.ConfigError() == nil {
			return fmt.Errorf("no config error")
		}
		return nil
	})
	if msg := a.ConfigError().Error(); !strings.Contains(msg, "max_concurrent") {
		t.Errorf("config error does not name the key: %s", msg)
	}
	if a.ListenAddr() != addr || a.ListenErr() != nil {
		t.Errorf("after a bad file: listening on %s (%v), want %s", a.ListenAddr(), a.ListenErr(), addr)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil {
		t.Errorf("proxy stopped answering after a bad file: %v", err)
	} else {
		resp.Body.Close()
	}

	writeConfig(t, path, configWithListen(addr, dir))
	waitFor(t, "config error cleared", func() error {
		if err := a.ConfigError(); err != nil {
			return err
		}
		return nil
	})
}
