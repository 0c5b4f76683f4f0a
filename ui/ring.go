package ui

import (
	"sync"

	"github.com/sluiceproxy/sluice/proxy"
)

// DefaultHistory is how many records the traffic table keeps by default
// ([ui] history).
const DefaultHistory = 1000

// headSpace bounds each captured head (request and response apart): the
// first kilobyte holds the request line and the fields people look at;
// a longer head is shown cut, and says so. It is what bounds the ring's
// memory: 2 KiB a record.
const headSpace = 1 << 10

// ring keeps the most recent records, newest overwriting oldest. Its
// memory is fixed when it is made: the records and one arena for their
// heads, so filling it allocates nothing.
type ring struct {
	mu    sync.Mutex
	recs  []Record
	arena []byte
	next  uint64 // the ID the next record gets; IDs start at 1
}

func newRing(n int) *ring {
	r := &ring{recs: make([]Record, n), arena: make([]byte, 2*n*headSpace), next: 1}
	for i := range r.recs {
		base := 2 * i * headSpace
		r.recs[i].req = r.arena[base : base : base+headSpace]
		r.recs[i].resp = r.arena[base+headSpace : base+headSpace : base+2*headSpace]
	}
	return r
}

// put adds a record made from a, copying its heads into the arena.
func (r *ring) put(a *proxy.AccessRecord) {
	r.mu.Lock()
	rec := &r.recs[r.next%uint64(len(r.recs))]
	req, resp := rec.req, rec.resp
	rec.fromAccess(a)
	rec.ID = r.next
	var cutReq, cutResp bool
	rec.req, cutReq = copyHead(req, a.RequestHead)
	rec.resp, cutResp = copyHead(resp, a.ResponseHead)
	rec.truncated = cutReq || cutResp
	r.next++
	r.mu.Unlock()
}

// since appends to out, without their heads, up to max records newer than
// after, oldest first, and returns them with the ID of the last one
// (after itself if none). lost reports that records newer than after were
// overwritten before they were read: the reader fell behind.
func (r *ring) since(after uint64, out []Record, max int) (_ []Record, last uint64, lost bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := uint64(len(r.recs))
	first := uint64(1)
	if r.next > n {
		first = r.next - n
	}
	if after+1 < first {
		return out, after, true
	}
	for id := after + 1; id < r.next && len(out) < max; id++ {
		rec := r.recs[id%n]
		rec.req, rec.resp = nil, nil
		out = append(out, rec)
		after = id
	}
	return out, after, false
}

// oldest returns the ID before the oldest record held, for a reader that
// wants everything the ring has.
func (r *ring) oldest() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := uint64(len(r.recs)); r.next > n {
		return r.next - n - 1
	}
	return 0
}

// get returns the record id with copies of its heads; false when it is
// no longer (or not yet) held.
func (r *ring) get(id uint64) (Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := uint64(len(r.recs))
	rec := r.recs[id%n]
	if id == 0 || rec.ID != id {
		return Record{}, false
	}
	rec.req = append([]byte(nil), rec.req...)
	rec.resp = append([]byte(nil), rec.resp...)
	return rec, true
}

// size returns how many records the ring holds when full.
func (r *ring) size() int { return len(r.recs) }
