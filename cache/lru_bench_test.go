package cache

import (
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkLookupHit measures a lookup that is served from the memory
// tier (the LRU touch included), among 1000 stored objects.
func BenchmarkLookupHit(b *testing.B) {
	c, _ := Open(Config{MemoryBytes: 64 << 20})
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("http://example.test/o%d", i)
		put(b, c, keys[i], bodyFor(i, 4<<10))
	}
	h := http.Header{"Accept": {"*/*"}, "User-Agent": {"bench"}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		l := c.Lookup(&Request{Method: http.MethodGet, Key: keys[i%len(keys)], Header: h})
		if l.Action != Serve {
			b.Fatal("not a hit")
		}
		l.Done()
	}
}

// BenchmarkStoreEvict measures storing a 16 KiB object into a full
// memory tier, each store evicting the least recently used.
func BenchmarkStoreEvict(b *testing.B) {
	c, _ := Open(Config{MemoryBytes: 1 << 20})
	body := bodyFor(1, 16<<10)
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("http://example.test/e%d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		put(b, c, keys[i%len(keys)], body)
	}
	b.StopTimer()
	if st := c.Stats(false); st.MemoryBytes > 1<<20 {
		b.Fatalf("memory tier at %d bytes, bound 1 MiB", st.MemoryBytes)
	}
}
