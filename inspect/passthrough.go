package inspect

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
)

// tlsHandshakeRecord is the first byte of every TLS ClientHello.
const tlsHandshakeRecord = 0x16

// firstByteWait is how long a tunnel may stay silent before it is taken
// for a protocol whose server speaks first (SMTP, SSH banners) and
// relayed blind. A TLS client sends its ClientHello at once.
const firstByteWait = 2 * time.Second

// passThroughIdle closes a blind pass-through with nothing moving either
// way for this long, as the proxy's tunnel_idle_timeout default does.
const passThroughIdle = 10 * time.Minute

// sniff tells a tunnel that starts with a TLS handshake from one that
// does not. It returns the connection to read from (holding the peeked
// byte) and whether it is TLS; err is set when the client left.
func sniff(c net.Conn) (net.Conn, bool, error) {
	br := bufio.NewReaderSize(c, 16)
	c.SetReadDeadline(time.Now().Add(firstByteWait))
	b, err := br.Peek(1)
	c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, br: br}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return pc, false, nil
	case err != nil:
		return nil, false, err
	}
	return pc, b[0] == tlsHandshakeRecord, nil
}

// peekedConn reads through the reader that peeked.
type peekedConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.br.Read(p) }

// passThrough relays a tunnel that is not TLS (plain HTTP or another
// protocol to a listed host) blind, as the proxy would have: the client
// asked only for a tunnel, and there is nothing to decrypt.
func (in *Inspector) passThrough(c net.Conn, t *proxy.InspectedTunnel) {
	defer c.Close()
	addr := net.JoinHostPort(t.Host, t.Port)
	ctx, cancel := context.WithTimeout(context.Background(), in.cfg.ConnectTimeout)
	up, err := in.dial(ctx, "tcp", addr)
	cancel()
	if err != nil {
		in.log.Info("inspect: a tunnel that is not TLS could not reach its origin", "addr", addr, "client", t.Client, "err", err)
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if copyIdle(up, c) == nil {
			if cw, ok := up.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				return // the origin may still answer
			}
		}
		up.Close()
	}()
	copyIdle(c, up)
	c.Close()
	up.Close()
	<-done
}

// copyIdle copies src to dst until EOF (nil) or an error, giving up when
// src sends nothing for passThroughIdle.
func copyIdle(dst, src net.Conn) error {
	buf := make([]byte, 32<<10)
	for {
		src.SetReadDeadline(time.Now().Add(passThroughIdle))
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
