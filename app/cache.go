package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluiceproxy/sluice/cache"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

// DefaultCacheDir returns the OS cache directory for the disk tier:
// $XDG_CACHE_HOME/sluice/http (~/.cache/sluice/http) on Linux,
// ~/Library/Caches/sluice/http on macOS, %LocalAppData%\sluice\http on
// Windows.
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache dir (set [cache] disk_dir): %w", err)
	}
	return filepath.Join(dir, "sluice", "http"), nil
}

// CacheDirOf returns [cache] disk_dir, or the OS default when it is empty.
func CacheDirOf(cfg *Config) (string, error) {
	if cfg.Cache.DiskDir != "" {
		return cfg.Cache.DiskDir, nil
	}
	return DefaultCacheDir()
}

// openCache builds the response cache [cache] describes; nil when it is
// off.
func (a *App) openCache(cfg *Config) (*cache.Cache, error) {
	cc := &cfg.Cache
	if !cc.Enabled {
		return nil, nil
	}
	c := cache.Config{
		MemoryBytes:    int64(cc.MemoryMB) << 20,
		DiskBytes:      int64(cc.DiskMB) << 20,
		MaxObjectBytes: int64(cc.MaxObjectMB) << 20,
		// Open to other machines, the cache serves more than one person.
		Shared: cfg.allowsNonLoopback(),
		Logger: a.log,
	}
	if cc.DiskMB > 0 {
		dir, err := CacheDirOf(cfg)
		if err != nil {
			return nil, err
		}
		c.Dir = dir
	}
	ch, err := cache.Open(c)
	if err != nil {
		return nil, fmt.Errorf("open the response cache: %w (set [cache] disk_dir, or disk_mb = 0 for memory only)", err)
	}
	return ch, nil
}

// currentCache is the response cache in use, nil when it is off.
func (a *App) currentCache() *cache.Cache {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cache
}

// cacheFigures reports the response cache's figures to the snapshot.
func (a *App) cacheFigures() (stats.CacheStats, bool) {
	c := a.currentCache()
	if c == nil {
		return stats.CacheStats{}, false
	}
	s := c.Stats(false)
	return stats.CacheStats{Objects: s.Objects, Bytes: s.Bytes, Hits: s.Hits, Misses: s.Misses, Collapsed: s.Collapsed,
		HitRatio: s.HitRatio, BytesSaved: s.BytesSaved}, true
}

// serveCache is the /cache local endpoint, which `sluice cache` uses:
// GET answers the cache's figures with its top hosts (JSON); DELETE
// purges ?url=U, ?host=H or ?all=1 and answers {"purged": n}. DELETE,
// not POST, so a web page cannot send it without a CORS preflight,
// which Sluice does not grant.
func (a *App) serveCache(w http.ResponseWriter, r *http.Request) {
	c := a.currentCache()
	if c == nil {
		http.Error(w, "the response cache is off (set [cache] enabled = true)", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		json.NewEncoder(w).Encode(c.Stats(true))
		return
	}
	q := r.URL.Query()
	all, host, raw := q.Get("all") == "1", q.Get("host"), q.Get("url")
	var key string
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			http.Error(w, fmt.Sprintf("url %q is not an absolute URL", raw), http.StatusBadRequest)
			return
		}
		key = cache.Key(u.Scheme, u.Hostname(), u.Port(), u.RequestURI())
	}
	if !all && host == "" && key == "" {
		http.Error(w, "say what to purge: ?url=U, ?host=H or ?all=1", http.StatusBadRequest)
		return
	}
	n := c.Purge(all, strings.ToLower(host), key)
	a.log.Info("cache purged", "url", raw, "host", host, "all", all, "objects", n)
	json.NewEncoder(w).Encode(map[string]int{"purged": n})
}
