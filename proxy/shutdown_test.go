package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestShutdownLetsInFlightDownloadFinish starts a slow download, calls
// Shutdown with a long deadline while it is half done, and checks that the
// download completes, Shutdown returns nil, and new connections are
// refused.
func TestShutdownLetsInFlightDownloadFinish(t *testing.T) {
	release := make(chan struct{})
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(patience):
		}
		io.WriteString(w, "-last")
	}))
	p := startProxy(t, Config{})
	c := p.client(t)
	resp, err := c.Get(o.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		done <- p.srv.Shutdown(ctx)
	}()
	select {
	case err := <-p.served:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		p.served <- err // for the cleanup
	case <-time.After(patience):
		t.Fatal("Serve did not return after Shutdown was called")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a download was in flight", err)
	default:
	}
	if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts connections during shutdown")
	}

	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the in-flight download broke: %v", err)
	}
	if got := string(first) + string(rest); got != "first-last" {
		t.Errorf("body %q, want %q", got, "first-last")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("Shutdown did not return after the last request finished")
	}
}

// TestShutdownForceClosesTunnelAtDeadline keeps a CONNECT tunnel open and
// checks that Shutdown closes it when its context ends.
func TestShutdownForceClosesTunnelAtDeadline(t *testing.T) {
	echo := startRawOrigin(t, func(c net.Conn) { io.Copy(c, c) })
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	rc.send("CONNECT " + echo.addr + " HTTP/1.1\r\nHost: " + echo.addr + "\r\n\r\n")
	if resp, _ := rc.response("CONNECT"); resp.StatusCode != 200 {
		t.Fatalf("CONNECT status %d", resp.StatusCode)
	}
	rc.send("ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(rc.br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through the tunnel: %q, %v", buf, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown returned %v, want context.DeadlineExceeded", err)
	}
	rc.expectClosed()
}

// TestShutdownClosesIdleClients checks that a kept-alive client waiting
// for its next request does not hold Shutdown up.
func TestShutdownClosesIdleClients(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	rc.send("GET " + o.URL + "/ HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "hi" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	rc.expectClosed()
}

// TestCloseAfterShutdown checks that the usual "Shutdown, then Close in a
// defer" sequence, and a second Shutdown, are safe.
func TestCloseAfterShutdown(t *testing.T) {
	p := startProxy(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := p.srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown returned %v, want ErrServerClosed", err)
	}
}
