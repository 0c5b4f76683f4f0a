package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestCacheReloadStatsAndPurge switches the response cache on by a
// reload, checks that it answers, that /stats, /metrics and /cache show
// it, that a reload with no room for it changes nothing, and that DELETE
// /cache purges.
func TestCacheReloadStatsAndPurge(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprint(w, "cached body")
	}))
	defer origin.Close()
	addr := freePort(t)
	a, path := startWatchedApp(t, addr)
	client := proxyClient(addr)
	get := func() string {
		t.Helper()
		resp, err := client.Get(origin.URL + "/obj")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("Cache-Status")
	}
	if cs := get() + get(); cs != "" || hits.Load() != 2 {
		t.Fatalf("cache off by default: Cache-Status %q, %d origin hits", cs, hits.Load())
	}

	dir := filepath.Dir(path)
	base := configWithListen(addr, dir)
	on := base + fmt.Sprintf("\n[cache]\nenabled = true\nmemory_mb = 8\ndisk_dir = %q\ndisk_mb = 16\n", filepath.Join(dir, "http"))
	writeConfig(t, path, on)
	waitFor(t, "the reload that turns the cache on", func() error {
		if !a.Config().Cache.Enabled {
			return fmt.Errorf("cache still off")
		}
		return nil
	})
	if cs := get(); !strings.HasPrefix(cs, "Sluice; fwd=miss; stored") {
		t.Errorf("first request with the cache on: Cache-Status %q", cs)
	}
	if cs := get(); cs != "Sluice; hit" || hits.Load() != 3 {
		t.Errorf("second: Cache-Status %q, %d origin hits, want a hit and 3", cs, hits.Load())
	}

	local := &http.Client{Transport: &http.Transport{Proxy: nil}}
	var snap struct {
		Cache *struct {
			Hits       int64 `json:"hits"`
			BytesSaved int64 `json:"bytes_saved"`
		} `json:"cache"`
	}
	getJSON(t, local, "http://"+addr+"/stats", &snap)
	if snap.Cache == nil || snap.Cache.Hits != 1 || snap.Cache.BytesSaved != int64(len("cached body")) {
		t.Errorf("/stats cache figures %+v", snap.Cache)
	}
	resp, err := local.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `sluice_cache_lookups_total{result="hit"} 1`) || !strings.Contains(string(m), "sluice_cache_bytes_saved_total 11") {
		t.Errorf("/metrics lacks the cache families:\n%s", m)
	}
	var cs struct {
		Objects  int64 `json:"objects"`
		TopHosts []struct {
			Host string `json:"host"`
		} `json:"top_hosts"`
	}
	getJSON(t, local, "http://"+addr+"/cache", &cs)
	if cs.Objects != 1 || len(cs.TopHosts) != 1 || cs.TopHosts[0].Host != strings.TrimPrefix(origin.URL, "http://") {
		t.Errorf("/cache: %+v", cs)
	}

	// No room at all: refused, and the running cache stays.
	writeConfig(t, path, base+"\n[cache]\nenabled = true\nmemory_mb = 0\ndisk_mb = 0\n")
	waitFor(t, "the refused reload", func() error {
		if err := a.ConfigError(); err == nil || !strings.Contains(err.Error(), "cache.memory_mb") {
			return fmt.Errorf("config error %v", err)
		}
		return nil
	})
	if cs := get(); cs != "Sluice; hit" {
		t.Errorf("after a refused reload: Cache-Status %q, want the running cache's hit", cs)
	}
	// A disk_dir that cannot be a directory: refused when the new cache
	// is built, before anything changes.
	notDir := filepath.Join(dir, "a-file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	writeConfig(t, path, base+fmt.Sprintf("\n[cache]\nenabled = true\nmemory_mb = 4\ndisk_dir = %q\n", notDir))
	waitFor(t, "the reload with a bad disk_dir", func() error {
		if err := a.ConfigError(); err == nil || !strings.Contains(err.Error(), "disk_dir") {
			return fmt.Errorf("config error %v", err)
		}
		return nil
	})
	if cs := get(); cs != "Sluice; hit" || a.Config().Cache.MemoryMB != 8 {
		t.Errorf("after a reload refused for its disk_dir: Cache-Status %q, memory_mb %d; want the running cache", cs, a.Config().Cache.MemoryMB)
	}

	req, _ := http.NewRequest(http.MethodDelete, "http://"+addr+"/cache?url="+origin.URL+"/obj", nil)
	resp, err = local.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != `{"purged":1}` {
		t.Errorf("purge answered %s %s", resp.Status, body)
	}
	if cs := get(); !strings.HasPrefix(cs, "Sluice; fwd=miss") {
		t.Errorf("after the purge: Cache-Status %q, want a miss", cs)
	}
}

func getJSON(t *testing.T, c *http.Client, url string, v any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
