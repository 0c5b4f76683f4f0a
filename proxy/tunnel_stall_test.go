package proxy

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// In a tunnel, progress means bytes delivered, not bytes offered: a side
// that stops reading while the other sends leaves the tunnel idle, and
// tunnel_idle_timeout closes it; a side that reads slowly but steadily
// keeps it open and loses nothing.

// tunnelIdle is these tests' tunnel_idle_timeout.
const tunnelIdle = 300 * time.Millisecond

// openTunnel sends CONNECT to addr through p and checks the 200.
func openTunnel(t *testing.T, p *testProxy, addr string) *rawClient {
	t.Helper()
	rc := dialRaw(t, p.addr)
	rc.send("CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	if resp, _ := rc.response("CONNECT"); resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	return rc
}

// TestTunnelSideThatStopsReading has one side of a tunnel send without
// end while the other reads nothing: once the buffers between are full,
// nothing is delivered, so the tunnel closes as idle, and the record
// names the side that stopped reading.
func TestTunnelSideThatStopsReading(t *testing.T) {
	buf := make([]byte, 64<<10)
	for _, tc := range []struct {
		name string
		kind stats.ErrKind
	}{
		{"client stops reading", stats.ErrClientTimeout},
		{"origin stops reading", stats.ErrUpstreamTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			senderDone := make(chan error, 1)
			send := func(c net.Conn) {
				c.SetWriteDeadline(time.Now().Add(patience))
				for {
					if _, err := c.Write(buf); err != nil {
						senderDone <- err
						return
					}
				}
			}
			release := make(chan struct{})
			defer close(release) // even when the test fails, or the origin's cleanup waits forever
			o := startRawOrigin(t, func(c net.Conn) {
				if tc.kind == stats.ErrClientTimeout {
					send(c)
				} else {
					<-release // read nothing
				}
			})
			log := &accessLog{}
			p := startProxy(t, Config{TunnelIdleTimeout: tunnelIdle, Access: log})
			rc := openTunnel(t, p, o.addr)
			if tc.kind == stats.ErrUpstreamTimeout {
				go send(rc.c)
			}
			select {
			case <-senderDone:
			case <-time.After(stallBound):
				t.Fatalf("the sender is still sending %v later: the proxy holds the stuck tunnel open", stallBound)
			}
			rec := waitRecord(t, log, 200, tc.kind)
			if !rec.Tunnel {
				t.Error("the record is not a tunnel's")
			}
			readToEnd(t, rc.br, rc.c)
		})
	}
}

// TestTunnelSlowReaderLosesNothing has an origin send 4 MiB as fast as it
// can through a tunnel to a client that reads 64 KiB at a time with
// pauses of a fifth of the idle timeout: the tunnel's writes wait past
// their round's deadline again and again, and every byte must still
// arrive, in order, with the tunnel open throughout.
func TestTunnelSlowReaderLosesNothing(t *testing.T) {
	const (
		size  = 4 << 20
		piece = 64 << 10
		gap   = tunnelIdle / 5
	)
	sent := make(chan string, 1)
	o := startRawOrigin(t, func(c net.Conn) {
		hr := newHashReader(prngBody(7, size))
		c.SetWriteDeadline(time.Now().Add(patience))
		if _, err := io.Copy(c, hr); err != nil {
			sent <- "send: " + err.Error()
			return
		}
		sent <- hr.sum()
		io.Copy(io.Discard, c) // until the client closes
	})
	log := &accessLog{}
	p := startProxy(t, Config{TunnelIdleTimeout: tunnelIdle, Access: log})
	rc := openTunnel(t, p, o.addr)
	rc.c.SetDeadline(time.Now().Add(patience))
	hr := newHashReader(rc.br)
	for hr.n < size {
		time.Sleep(gap)
		if _, err := io.CopyN(io.Discard, hr, min(piece, size-hr.n)); err != nil {
			t.Fatalf("the tunnel ended after %d of %d bytes: %v", hr.n, size, err)
		}
	}
	if want := <-sent; hr.sum() != want {
		t.Fatalf("got sha256 %s, the origin sent %s", hr.sum(), want)
	}
	rc.c.Close()
	rec := waitRecord(t, log, 200, stats.ErrNone)
	if rec.BytesOut != size {
		t.Errorf("BytesOut %d, want %d", rec.BytesOut, size)
	}
}
