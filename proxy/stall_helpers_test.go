package proxy

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// Fixtures for the tests of peers that stall (body_timeout, tunnels whose
// side stops reading, the first head's deadline): bounded waits for the
// proxy to cut a stall, and the access record that says who stalled.

// stallBound is how long a test waits for a stall to be cut: 1.5 times
// the timeout and ample room for a busy machine, far under the forever of
// a relay without the bound.
const stallBound = 5 * time.Second

// waitRecord waits up to stallBound for the proxy's one access record and
// checks its status and error kind.
func waitRecord(t *testing.T, log *accessLog, status int, kind stats.ErrKind) AccessRecord {
	t.Helper()
	deadline := time.Now().Add(stallBound)
	for len(log.records()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no access record within %v: the stalled transfer is still held", stallBound)
		}
		time.Sleep(10 * time.Millisecond)
	}
	recs := log.records()
	if len(recs) != 1 {
		t.Fatalf("%d access records, want 1: %+v", len(recs), recs)
	}
	if recs[0].Status != status || recs[0].Err != kind {
		t.Errorf("access record: status %d, error %v; want %d, %v", recs[0].Status, recs[0].Err, status, kind)
	}
	return recs[0]
}

// readToEnd reads c until the proxy closes it, within stallBound, and
// returns how many bytes came.
func readToEnd(t *testing.T, r io.Reader, c net.Conn) int64 {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(stallBound))
	n, err := io.Copy(io.Discard, r)
	if isTimeout(err) {
		t.Fatalf("the connection is still open %v later (read %d bytes)", stallBound, n)
	}
	return n
}

// closedBy reports on the returned channel once the far end closes c:
// a read sees its end (after whatever it still had to read), or fails.
func closedBy(c net.Conn, r io.Reader) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		c.SetReadDeadline(time.Now().Add(patience))
		io.Copy(io.Discard, r)
		close(done)
	}()
	return done
}

func expectClosedWithin(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(stallBound):
		t.Fatalf("%s: still open %v later", what, stallBound)
	}
}
