package stats

import (
	"encoding/json"
	"net/http"
)

// Handler serves c's Snapshot as JSON to GET and HEAD requests (the
// /stats endpoint). The caller decides who may reach it; the proxy mounts
// it for loopback clients only.
func Handler(c *Collector) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		body, err := json.MarshalIndent(c.Snapshot(), "", "  ")
		if err != nil {
			// Snapshot holds only numbers, times and strings; this
			// cannot fail short of a bug.
			http.Error(w, "encode stats: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			return
		}
		w.Write(append(body, '\n'))
	})
}
