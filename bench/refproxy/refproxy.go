package refproxy

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Relay forwards absolute-form requests and CONNECT tunnels.
type Relay struct {
	mu      sync.Mutex
	clients map[string]*fasthttp.HostClient
}

// Serve runs a Relay on ln until ln fails.
func Serve(ln net.Listener) error {
	r := &Relay{clients: map[string]*fasthttp.HostClient{}}
	srv := &fasthttp.Server{
		Handler:           r.handle,
		StreamRequestBody: true,
		// fasthttp's defaults that break a proxy: rewritten header
		// names, added Server/Date/Content-Type, a 4 KiB header buffer.
		DisableHeaderNamesNormalizing: true,
		NoDefaultServerHeader:         true,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		ReadBufferSize:                16 << 10,
		Concurrency:                   1 << 16,
		IdleTimeout:                   120 * time.Second,
	}
	if err := srv.Serve(ln); err != nil {
		return fmt.Errorf("refproxy on %s: %w", ln.Addr(), err)
	}
	return nil
}

// client returns the pooled HostClient for addr ("host:port").
func (r *Relay) client(addr string) *fasthttp.HostClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.clients[addr]
	if c == nil {
		c = &fasthttp.HostClient{
			Addr:                          addr,
			MaxConns:                      4096,
			MaxIdleConnDuration:           90 * time.Second,
			StreamResponseBody:            true,
			DisableHeaderNamesNormalizing: true,
			DisablePathNormalizing:        true,
			NoDefaultUserAgentHeader:      true,
			ReadBufferSize:                16 << 10,
		}
		r.clients[addr] = c
	}
	return c
}

func (r *Relay) handle(ctx *fasthttp.RequestCtx) {
	if ctx.IsConnect() {
		r.tunnel(ctx)
		return
	}
	req := &ctx.Request
	host := string(req.URI().Host())
	if host == "" {
		ctx.Error("absolute-form request target required", fasthttp.StatusBadRequest)
		return
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "80")
	}
	// The hop-by-hop headers clients of a proxy send.
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"} {
		req.Header.Del(h)
	}
	if err := r.client(host).Do(req, &ctx.Response); err != nil {
		ctx.Error(fmt.Sprintf("relay to %s: %v", host, err), fasthttp.StatusBadGateway)
	}
}

func (r *Relay) tunnel(ctx *fasthttp.RequestCtx) {
	addr := string(ctx.RequestURI())
	up, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		ctx.Error(fmt.Sprintf("dial %s: %v", addr, err), fasthttp.StatusBadGateway)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.Hijack(func(c net.Conn) {
		defer up.Close()
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(up, c)
			if tc, ok := up.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			close(done)
		}()
		_, _ = io.Copy(c, up)
		<-done
	})
}
