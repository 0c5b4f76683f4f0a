package proxy

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// TestClientResetMidUploadIsAnAbort has a client reset its connection in
// the middle of a large (spliced) upload: that is the client's failure,
// recorded as client_abort with no answer, not a 502 blamed on the
// upstream after a wait for an answer that cannot come.
func TestClientResetMidUploadIsAnAbort(t *testing.T) {
	const size = 64 << 20
	upstreamClosed := make(chan struct{})
	o := startRawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := readRequestHead(br); err != nil {
			return
		}
		<-closedBy(c, br)
		close(upstreamClosed)
	})
	log := &accessLog{}
	p := startProxy(t, Config{Access: log})
	rc := dialRaw(t, p.addr)
	rc.send("PUT http://" + o.addr + "/upload HTTP/1.1\r\nHost: " + o.addr + "\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n")
	if _, err := io.Copy(rc.c, prngBody(6, 8<<20)); err != nil {
		t.Fatalf("upload the first 8 MiB: %v", err)
	}
	rc.c.(*net.TCPConn).SetLinger(0)
	rc.c.Close()
	expectClosedWithin(t, "the upstream connection", upstreamClosed)
	waitRecord(t, log, 0, stats.ErrClientAbort)
}
