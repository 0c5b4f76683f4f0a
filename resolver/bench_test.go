package resolver

import (
	"context"
	"net"
	"strconv"
	"testing"
)

func benchServer(b *testing.B) *testServer {
	srv := startServer(b)
	srv.configure(func(s *testServer) { s.wildcard, s.wildTTL = mustAddr("192.0.2.100"), 3600 })
	return srv
}

// BenchmarkLookupCached is the cost of a cache hit, the path every proxied
// request takes once a name is known. It must stay under 1µs and 0 allocs.
func BenchmarkLookupCached(b *testing.B) {
	srv := benchServer(b)
	r := newTestResolver(b, Config{Servers: []string{srv.addr}, Prefetch: true}, nil)
	ctx := context.Background()
	if _, _, err := r.LookupNetIP(ctx, "cached.bench.test"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, cached, err := r.LookupNetIP(ctx, "cached.bench.test"); err != nil || !cached {
			b.Fatalf("cached=%v err=%v", cached, err)
		}
	}
}

// BenchmarkLookupCachedParallel is the same under contention for the one
// cache mutex.
func BenchmarkLookupCachedParallel(b *testing.B) {
	srv := benchServer(b)
	r := newTestResolver(b, Config{Servers: []string{srv.addr}}, nil)
	ctx := context.Background()
	if _, _, err := r.LookupNetIP(ctx, "cached.bench.test"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := r.LookupNetIP(ctx, "cached.bench.test"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCompare puts our resolver beside Go's net.Resolver (its pure-Go
// client, dialing the same local miekg server): cold is a new name every
// time, warm the same name again. Go's resolver has no cache, so its warm
// and cold cost the same round trip.
func BenchmarkCompare(b *testing.B) {
	srv := benchServer(b)
	ctx := context.Background()

	b.Run("sluice/cold", func(b *testing.B) {
		r := newTestResolver(b, Config{Servers: []string{srv.addr}}, nil)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, _, err := r.LookupNetIP(ctx, "c"+strconv.Itoa(i)+".sluice.bench.test"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sluice/warm", func(b *testing.B) {
		r := newTestResolver(b, Config{Servers: []string{srv.addr}}, nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := r.LookupNetIP(ctx, "warm.sluice.bench.test"); err != nil {
				b.Fatal(err)
			}
		}
	})

	goResolver := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, srv.addr)
		},
	}
	b.Run("go/cold", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := goResolver.LookupNetIP(ctx, "ip", "c"+strconv.Itoa(i)+".go.bench.test."); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go/warm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := goResolver.LookupNetIP(ctx, "ip", "warm.go.bench.test."); err != nil {
				b.Fatal(err)
			}
		}
	})
}
