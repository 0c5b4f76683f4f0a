package ui

import (
	"net/http"
	"time"
)

// pollEvery is how often a page's stream looks for new records: often
// enough that the table feels live, rarely enough that a watching page
// costs nothing measurable (the relay never wakes a page itself).
const pollEvery = 100 * time.Millisecond

// batch bounds the records copied out of the ring at once, and
// flushAt the bytes buffered before they are written: together they bound
// a page's memory, whatever the traffic.
const (
	batch   = 64
	flushAt = 32 << 10
)

// serveEvents streams Server-Sent Events to one page: "history" (the
// charts' points) at once, then "rec" for every record the ring holds and
// each one that finishes after, and "snap" once a second. A page that
// falls behind, so that records it has not been sent are overwritten,
// gets "dropped" and the stream ends (the page reconnects and starts from
// what the ring holds then); a page that stops reading is cut by the
// proxy's write timeout (body_timeout). Nothing is ever queued per page.
func (f *Feed) serveEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		// Nothing would be written, so nothing would notice the page
		// leave: answer the head and stop.
		w.Header().Set("Content-Type", "text/event-stream")
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	if !f.watch() {
		http.Error(w, "too many dashboard pages are open", http.StatusServiceUnavailable)
		return
	}
	defer f.unwatch()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")

	buf := make([]byte, 0, flushAt+4<<10)
	buf = append(buf, "retry: 1000\nevent: history\ndata: "...)
	buf = f.appendHistory(buf)
	buf = append(buf, "\n\n"...)
	recs := make([]Record, 0, batch)
	rg := f.ring.Load()
	after := rg.oldest()
	var lastSnap int64
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for !f.off.Load() {
		if now := f.ring.Load(); now != rg { // [ui] history changed
			rg, after = now, 0
		}
		for {
			var lost bool
			recs, after, lost = rg.since(after, recs[:0], batch)
			if lost {
				w.Write(append(buf, "event: dropped\ndata: {\"reason\":\"this page fell behind the traffic\"}\n\n"...))
				fl.Flush()
				return
			}
			for i := range recs {
				buf = append(buf, "event: rec\ndata: "...)
				buf = recs[i].appendJSON(buf)
				buf = append(buf, "\n\n"...)
				if len(buf) >= flushAt {
					if _, err := w.Write(buf); err != nil {
						return
					}
					buf = buf[:0]
				}
			}
			if len(recs) < batch {
				break
			}
		}
		now := time.Now()
		if now.Unix() != lastSnap {
			lastSnap = now.Unix()
			buf = append(buf, "event: snap\ndata: "...)
			buf = append(buf, f.tick(now)...)
			buf = append(buf, "\n\n"...)
		}
		if len(buf) > 0 {
			if _, err := w.Write(buf); err != nil {
				return
			}
			fl.Flush()
			buf = buf[:0]
		}
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
}
