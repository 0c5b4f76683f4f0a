package proxy

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkProxyKeepAliveConns measures kept-alive requests from many
// client connections at once, each sending its next request when the
// last answer came (as wrk does): ns/op is the proxy's cost per request
// at that concurrency, for comparing 64 connections with 1000 and for
// CPU profiles (go test -bench KeepAliveConns -cpuprofile) of what grows
// with the count. The raw origin and clients share the process, so
// absolute figures include theirs.
func BenchmarkProxyKeepAliveConns(b *testing.B) {
	for _, conns := range []int{64, 1000} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			o := startFastOrigin(b)
			p := startProxy(b, Config{})
			clients := make([]*keepAliveClient, conns)
			for i := range clients {
				clients[i] = newKeepAliveClient(b, p.addr, "http://"+o.addr+"/bench", o.addr)
				if err := clients[i].roundTrip(); err != nil {
					b.Fatal(err)
				}
			}
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			b.ReportAllocs()
			b.ResetTimer()
			for _, k := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for left.Add(-1) >= 0 {
						if err := k.roundTrip(); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			reused, dialed := p.srv.Stats().Reused()
			b.ReportMetric(float64(dialed), "dials")
			b.ReportMetric(float64(reused)/float64(reused+dialed), "reuse")
		})
	}
}
