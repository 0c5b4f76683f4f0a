package ui

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sluiceproxy/sluice/assets"
)

// maxDNSNames bounds the DNS panel's list.
const maxDNSNames = 500

// actionHeader must be on every request that changes something (the DNS
// flush). A page on another site can make a browser POST a form to
// Sluice, but not with a header of its own without Sluice's consent
// (CORS preflight), which it never gives.
const actionHeader = "X-Sluice-Dashboard"

// Handler serves the dashboard under /ui. The proxy serves it as a local
// endpoint: to loopback clients, for a Host naming this machine.
func (f *Feed) Handler() http.Handler {
	static, err := fs.Sub(assets.UI, "ui")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	files := http.FileServerFS(static)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'")
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /ui/assets/", http.StripPrefix("/ui/assets/", files))
	mux.HandleFunc("GET /ui/events", f.serveEvents)
	mux.HandleFunc("GET /ui/api/records/{id}", f.serveRecord)
	mux.HandleFunc("GET /ui/api/dns", f.serveDNS)
	mux.HandleFunc("POST /ui/api/dns/flush", f.serveFlush)
	mux.HandleFunc("GET /ui/api/pool", f.servePool)
	mux.HandleFunc("GET /ui/api/upstreams", f.serveUpstreams)
	return mux
}

func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

func writeJSON(w http.ResponseWriter, v any) {
	noStore(w)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// jsonError answers with code and a one-line reason, as JSON.
func jsonError(w http.ResponseWriter, code int, reason string) {
	w.WriteHeader(code)
	writeJSON(w, map[string]string{"error": reason})
}

// head is a captured head split for the details panel.
type head struct {
	Line   string      `json:"line"`
	Fields [][2]string `json:"fields"`
}

func splitHead(b []byte) *head {
	if len(b) == 0 {
		return nil
	}
	h := &head{Fields: [][2]string{}}
	for i, line := range bytes.Split(bytes.TrimRight(b, "\r\n"), []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if i == 0 {
			h.Line = string(line)
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		h.Fields = append(h.Fields, [2]string{string(name), string(bytes.TrimSpace(value))})
	}
	return h
}

// serveRecord answers one record's details: the record, its heads split
// into fields, and whether they were cut.
func (f *Feed) serveRecord(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "the record id is not a number")
		return
	}
	rg := f.ring.Load()
	if rg == nil {
		jsonError(w, http.StatusNotFound, "no records kept yet")
		return
	}
	rec, ok := rg.get(id)
	if !ok {
		jsonError(w, http.StatusNotFound, "record "+strconv.FormatUint(id, 10)+" is no longer kept ([ui] history)")
		return
	}
	writeJSON(w, struct {
		Record    json.RawMessage `json:"record"`
		Request   *head           `json:"request"`
		Response  *head           `json:"response"`
		Truncated bool            `json:"truncated"`
	}{rec.appendJSON(nil), splitHead(rec.req), splitHead(rec.resp), rec.truncated})
}

func (f *Feed) serveDNS(w http.ResponseWriter, r *http.Request) {
	var names []DNSName
	on := false
	if f.src.DNSNames != nil {
		names, on = f.src.DNSNames(maxDNSNames)
	}
	if !on {
		writeJSON(w, map[string]any{"enabled": false, "names": []DNSName{}})
		return
	}
	if names == nil {
		names = []DNSName{}
	}
	writeJSON(w, map[string]any{"enabled": true, "names": names, "limit": maxDNSNames})
}

func (f *Feed) serveFlush(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(actionHeader) == "" {
		jsonError(w, http.StatusForbidden, "a flush needs the "+actionHeader+" header (the dashboard sends it)")
		return
	}
	n, on := 0, false
	if f.src.FlushDNS != nil {
		n, on = f.src.FlushDNS()
	}
	if !on {
		jsonError(w, http.StatusConflict, "Sluice's DNS cache is off ([dns] enabled = false)")
		return
	}
	writeJSON(w, map[string]int{"flushed": n})
}

// hostIdle is one host's idle pooled connections.
type hostIdle struct {
	Host string `json:"host"`
	Idle int    `json:"idle"`
}

func (f *Feed) servePool(w http.ResponseWriter, r *http.Request) {
	s := f.src.Stats.Snapshot()
	hosts := []hostIdle{}
	if f.src.PoolByHost != nil {
		for h, n := range f.src.PoolByHost() {
			hosts = append(hosts, hostIdle{h, n})
		}
	}
	slices.SortFunc(hosts, func(a, b hostIdle) int {
		if a.Idle != b.Idle {
			return b.Idle - a.Idle
		}
		return strings.Compare(a.Host, b.Host)
	})
	writeJSON(w, map[string]any{
		"idle": s.Upstream.PoolIdle, "reused": s.Upstream.Reused, "dialed": s.Upstream.Dialed,
		"reuse_ratio": s.Upstream.ReuseRatio, "hosts": hosts,
	})
}

func (f *Feed) serveUpstreams(w http.ResponseWriter, r *http.Request) {
	if f.src.Upstreams == nil {
		writeJSON(w, map[string]any{"routing": false, "upstreams": []Upstream{}})
		return
	}
	ups := f.src.Upstreams()
	if ups == nil {
		ups = []Upstream{}
	}
	writeJSON(w, map[string]any{"routing": true, "upstreams": ups})
}
