//go:build linux

package harness

import (
	"fmt"
	"io"
	"net"
)

// ServeRelay relays every connection accepted on ln to the TCP address to
// until ln fails: io.Copy between two *net.TCPConn each way, which Go does
// with splice(2), and a half-close passed on when a side ends. It is the
// cheapest relay Go can express, the reference for Sluice's CONNECT tunnel
// (issue 11: tunnel MB/s ≥ 0.95× this relay's, in the same run). The
// harness runs it in its own process (loadbench relay) so its CPU is its
// own.
func ServeRelay(ln net.Listener, to string) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("relay on %s: %w", ln.Addr(), err)
		}
		go relay(c.(*net.TCPConn), to)
	}
}

func relay(c *net.TCPConn, to string) {
	defer c.Close()
	u, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	up := u.(*net.TCPConn)
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		up.CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.CloseWrite()
	<-done
}
