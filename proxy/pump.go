package proxy

import (
	"io"
	"net"
	"sync"
	"time"
)

// pump moves bytes one way, from src to dst, and holds what it has read
// until dst takes it, so a wait cut short by a deadline loses nothing:
// the next step goes on from where the last one stopped. That is what
// lets a tunnel bound its writes per round without dropping the bytes of
// a slow reader, and a body copy check for silence and go on. Between two
// TCP connections on Linux the bytes go through a kernel pipe with splice
// and never enter user space (pump_linux.go); otherwise through a buffer.
//
// Every wait is bounded by the deadline of the conn it waits on, which
// the caller sets. A pump is used by one goroutine.
type pump struct {
	dst, src net.Conn
	// held counts bytes read from src and not yet written to dst.
	held int
	// eof is set once src has ended.
	eof bool
	// moved is when bytes last moved, either way.
	moved time.Time
	// buf and off hold bytes in user space when the pump does not
	// splice: buf[off:off+held].
	buf *[pumpBufSize]byte
	off int
	sp  splicer
}

// pumpBufSize is the buffer of a pump that does not splice, io.Copy's
// size.
const pumpBufSize = 32 << 10

var pumpBufs = sync.Pool{New: func() any { return new([pumpBufSize]byte) }}

// newPump returns a pump from src to dst; close releases it.
func newPump(dst, src net.Conn) *pump {
	p := &pump{dst: dst, src: src}
	if !p.openSplice() {
		p.buf = pumpBufs.Get().(*[pumpBufSize]byte)
	}
	return p
}

// close releases the pump's pipe or buffer, dropping any bytes held.
func (p *pump) close() {
	if p.buf != nil {
		pumpBufs.Put(p.buf)
		p.buf = nil
		return
	}
	p.closeSplice()
}

// step moves up to max bytes to dst and returns how many it delivered,
// with nil once max were delivered, io.EOF once src has ended and nothing
// is held, or a *copyError saying which side failed. A wait that reaches
// its conn's deadline fails with a timeout; what is held stays for the
// next step.
func (p *pump) step(max int64) (int64, error) {
	var done int64
	for done < max {
		if p.held == 0 {
			if p.eof {
				return done, io.EOF
			}
			if err := p.read(int(min(max-done, pumpMaxRead))); err != nil {
				return done, &copyError{err: err}
			}
			continue
		}
		k, err := p.write()
		done += int64(k)
		if err != nil {
			return done, writeErr(err)
		}
	}
	return done, nil
}

// pumpMaxRead bounds one read of a step: 1 MiB, the default
// /proc/sys/fs/pipe-max-size, and far more than a buffer takes.
const pumpMaxRead = 1 << 20

// The platform's file gives a pump three methods, which use the buffer
// when the pump does not splice:
//
//	load(b []byte) error  puts b in the new pump ahead of what it reads
//	                      from src: bytes a buffered reader took from src
//	                      already, at most a reader buffer's worth
//	read(want int) error  reads up to want bytes from src into the empty
//	                      pump; src's end sets eof
//	write() (int, error)  writes what the pump holds to dst and returns
//	                      how much dst took

func (p *pump) loadBuf(b []byte) {
	p.off, p.held = 0, copy(p.buf[:], b)
}

func (p *pump) readBuf(want int) error {
	k, err := p.src.Read(p.buf[:min(want, pumpBufSize)])
	if k > 0 {
		p.off, p.held, p.moved = 0, k, time.Now()
	}
	if err == io.EOF {
		p.eof = true
		return nil
	}
	return err
}

func (p *pump) writeBuf() (int, error) {
	k, err := p.dst.Write(p.buf[p.off : p.off+p.held])
	if k > 0 {
		p.off += k
		p.held -= k
		p.moved = time.Now()
	}
	return k, err
}
