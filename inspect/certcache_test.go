package inspect

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

func testIssuer(t testing.TB) *issuer {
	t.Helper()
	ca, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	is, err := newIssuer(ca)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// TestConcurrentFirstRequestsMakeOneLeaf: 100 handshakes asking for a
// new host at once wait for one leaf.
func TestConcurrentFirstRequestsMakeOneLeaf(t *testing.T) {
	c := newCertCache(testIssuer(t), 0)
	start := make(chan struct{})
	var wg sync.WaitGroup
	certs := make([]any, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			cert, err := c.get("new.example")
			if err != nil {
				t.Error(err)
			}
			certs[i] = cert
		}()
	}
	close(start)
	wg.Wait()
	if n := c.made.Load(); n != 1 {
		t.Errorf("100 concurrent first requests made %d leaves, want 1", n)
	}
	for i := range certs {
		if certs[i] != certs[0] {
			t.Fatalf("request %d got another certificate", i)
		}
	}
}

// TestLeafVerifies: a leaf chains to the CA for its name or address,
// within the lifetime browsers accept.
func TestLeafVerifies(t *testing.T) {
	is := testIssuer(t)
	roots := x509.NewCertPool()
	roots.AddCert(is.ca.Cert)
	for _, host := range []string{"api.example.com", "127.0.0.1", "::1"} {
		cert, err := is.issue(host, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
		if life := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore); life > 397*24*time.Hour {
			t.Errorf("%s: valid for %v, over 397 days", host, life)
		}
		if (len(cert.Leaf.IPAddresses) == 1) != (host != "api.example.com") {
			t.Errorf("%s: SANs %v %v", host, cert.Leaf.DNSNames, cert.Leaf.IPAddresses)
		}
	}
}

// TestCacheEvictsLeastRecentlyUsed: the cache holds at most max leaves.
func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newCertCache(testIssuer(t), 3)
	for _, h := range []string{"a", "b", "c", "a", "d"} {
		if _, err := c.get(h + ".example"); err != nil {
			t.Fatal(err)
		}
	}
	if c.len() != 3 || c.lookup("b.example", time.Now()) != nil || c.lookup("a.example", time.Now()) == nil {
		t.Errorf("after a b c a d with room for 3: %d entries, b kept or a dropped", c.len())
	}
	if c.made.Load() != 4 {
		t.Errorf("made %d leaves, want 4", c.made.Load())
	}
}

// TestCAFiles: the key is 0600, the CA is reloaded as made, and its name
// says Sluice and the machine.
func TestCAFiles(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(dir, KeyFile))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file: %v, %v", fi.Mode(), err)
		}
	}
	host, _ := os.Hostname()
	if cn := ca.Cert.Subject.CommonName; cn != "Sluice inspection CA ("+host+")" || !ca.Cert.IsCA {
		t.Errorf("CA %q, IsCA %v", cn, ca.Cert.IsCA)
	}
	if life := ca.Cert.NotAfter.Sub(ca.Cert.NotBefore); life < 10*365*24*time.Hour {
		t.Errorf("CA valid for %v", life)
	}
	again, err := LoadOrCreateCA(dir)
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Errorf("reload: %v", err)
	}
	os.WriteFile(filepath.Join(dir, KeyFile), []byte("junk"), 0o600)
	if _, err := LoadCA(dir); err == nil || !contains(err.Error(), KeyFile) {
		t.Errorf("a broken key file: %v", err)
	}
}

// BenchmarkLeafGeneration is the cost of a new host's first handshake
// (target ≤ 2 ms).
func BenchmarkLeafGeneration(b *testing.B) {
	is := testIssuer(b)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := is.issue(fmt.Sprintf("h%d.example.com", i), now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCachedLookup is the cost of every later handshake's leaf
// (target ≤ 1 µs, 0 allocations).
func BenchmarkCachedLookup(b *testing.B) {
	c := newCertCache(testIssuer(b), 0)
	if _, err := c.get("api.example.com"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.get("api.example.com"); err != nil {
			b.Fatal(err)
		}
	}
}
