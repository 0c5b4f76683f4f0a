package proxy

import (
	"bufio"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestTunnelIdleTimeout checks Config.TunnelIdleTimeout on a CONNECT
// tunnel: bytes that trickle one way only, each well within the timeout,
// keep the tunnel open for several timeouts (the other way idle all
// along), and once nothing moves either way the tunnel is closed, never
// sooner than the timeout after the last byte.
func TestTunnelIdleTimeout(t *testing.T) {
	const (
		idle = 1500 * time.Millisecond
		tick = idle / 10
		flow = 3 * idle // trickling this long must not close the tunnel
	)
	for _, dir := range []string{"client to origin", "origin to client"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			var lastByte atomic.Int64 // Unix nanoseconds, before the last byte was sent
			o := startRawOrigin(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				mode, err := br.ReadByte()
				if err != nil {
					return
				}
				if mode == 'd' {
					for end := time.Now().Add(flow); time.Now().Before(end); {
						time.Sleep(tick)
						if _, err := c.Write([]byte{'.'}); err != nil {
							return
						}
					}
					lastByte.Store(time.Now().UnixNano())
					c.Write([]byte{'!'})
				}
				// Echo only '!', so the way back stays idle until then.
				for {
					b, err := br.ReadByte()
					if err != nil {
						return
					}
					if b == '!' {
						c.Write([]byte{'!'})
					}
				}
			})
			p := startProxy(t, Config{TunnelIdleTimeout: idle})
			rc := dialRaw(t, p.addr)
			rc.c.SetDeadline(time.Now().Add(flow + patience))
			rc.send("CONNECT " + o.addr + " HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
			if resp, _ := rc.response("CONNECT"); resp.StatusCode != 200 {
				t.Fatalf("CONNECT: %d", resp.StatusCode)
			}
			if dir == "client to origin" {
				rc.send("u")
				for end := time.Now().Add(flow); time.Now().Before(end); {
					time.Sleep(tick)
					rc.send(".")
				}
				lastByte.Store(time.Now().UnixNano())
				rc.send("!")
			} else {
				rc.send("d")
			}
			// The '!' arriving shows the tunnel outlived the trickle.
			for {
				b, err := rc.br.ReadByte()
				if err != nil {
					t.Fatalf("the tunnel closed while bytes were still moving: %v", err)
				}
				if b == '!' {
					break
				}
			}
			extra, err := io.ReadAll(rc.br)
			if err != nil {
				t.Fatalf("the idle tunnel was not closed: %v", err)
			}
			if len(extra) > 0 {
				t.Errorf("unexpected bytes %q", extra)
			}
			if quiet := time.Since(time.Unix(0, lastByte.Load())); quiet < idle {
				t.Errorf("closed %v after the last byte, before the %v idle timeout", quiet, idle)
			}
		})
	}
}
