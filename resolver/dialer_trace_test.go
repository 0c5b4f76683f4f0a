package resolver

import (
	"context"
	"fmt"
	"net"
	"net/http/httptrace"
	"testing"
)

// The dialer reports its lookup through an httptrace.ClientTrace in the
// context, as net/http's transport does, so the proxy can time it.
func TestDialReportsLookupToTrace(t *testing.T) {
	l := listenTCP(t, "127.0.0.1:0")
	srv := startServer(t)
	srv.set("traced.test", 300, "127.0.0.1")
	r := newTestResolver(t, Config{Servers: []string{srv.addr}}, nil)
	d := &Dialer{Resolver: r}
	var started, done []string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		DNSStart: func(i httptrace.DNSStartInfo) { started = append(started, i.Host) },
		DNSDone: func(i httptrace.DNSDoneInfo) {
			done = append(done, fmt.Sprint(i.Err))
		},
	})
	c, _, err := d.Dial(ctx, "tcp", fmt.Sprintf("traced.test:%d", l.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(started) != 1 || started[0] != "traced.test" || len(done) != 1 || done[0] != "<nil>" {
		t.Errorf("DNSStart %q, DNSDone %q; want one each for traced.test", started, done)
	}
}
