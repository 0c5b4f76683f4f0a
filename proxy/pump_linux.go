package proxy

import (
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// splicer is the Linux part of a pump between two TCP connections: a
// kernel pipe that holds the bytes in flight, and the sockets' raw conns,
// whose waits honour the conns' deadlines. It is Go's own splice path
// (internal/poll/splice_linux.go) with one difference that matters here:
// when a write waits past its deadline, the bytes stay in the pipe for the
// next step instead of being dropped with it, and each step says exactly
// how many bytes reached the destination.
type splicer struct {
	// pipe holds the read and write ends; open is false when the pump
	// does not splice.
	pipe [2]int
	open bool
	src  syscall.RawConn
	dst  syscall.RawConn
	// in and out are p.spliceIn and p.spliceOut, bound once: a method
	// value made per call would allocate.
	in, out func(fd uintptr) bool
	// want, n and err carry a call's argument and results through the
	// raw conns' callbacks.
	want, n int
	err     error
}

// openSplice sets up splicing when both conns are TCP.
func (p *pump) openSplice() bool {
	s, ok := p.src.(*net.TCPConn)
	d, ok2 := p.dst.(*net.TCPConn)
	if !ok || !ok2 {
		return false
	}
	rs, err := s.SyscallConn()
	if err != nil {
		return false
	}
	rd, err := d.SyscallConn()
	if err != nil {
		return false
	}
	if err := syscall.Pipe2(p.sp.pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return false
	}
	// A pipe of the most one read moves, as Go's splice path asks; a
	// smaller one (the user is over pipe-user-pages-soft) works, with
	// more syscalls.
	unix.FcntlInt(uintptr(p.sp.pipe[0]), unix.F_SETPIPE_SZ, pumpMaxRead)
	p.sp.open = true
	p.sp.src, p.sp.dst = rs, rd
	p.sp.in, p.sp.out = p.spliceIn, p.spliceOut
	return true
}

func (p *pump) closeSplice() {
	if p.sp.open {
		syscall.Close(p.sp.pipe[0])
		syscall.Close(p.sp.pipe[1])
		p.sp.open = false
	}
}

// load writes b into the empty pipe, which takes a page at least.
func (p *pump) load(b []byte) error {
	if !p.sp.open {
		p.loadBuf(b)
		return nil
	}
	k, err := syscall.Write(p.sp.pipe[1], b)
	if err == nil && k < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return err
	}
	p.held = k
	return nil
}

func (p *pump) read(want int) error {
	if !p.sp.open {
		return p.readBuf(want)
	}
	p.sp.want, p.sp.err = want, nil
	if err := p.sp.src.Read(p.sp.in); err != nil {
		return err
	}
	return p.sp.err
}

func (p *pump) write() (int, error) {
	if !p.sp.open {
		return p.writeBuf()
	}
	p.sp.n, p.sp.err = 0, nil
	err := p.sp.dst.Write(p.sp.out)
	if err == nil {
		err = p.sp.err
	}
	return p.sp.n, err
}

// spliceNonblock makes splice's pipe end non-blocking; the sockets are
// non-blocking already.
const spliceNonblock = unix.SPLICE_F_NONBLOCK

// spliceIn moves up to sp.want bytes from the source socket into the
// empty pipe. It returns false to wait until the socket is readable: with
// the pipe empty, EAGAIN can only mean the socket has nothing yet.
func (p *pump) spliceIn(fd uintptr) bool {
	for {
		n, err := syscall.Splice(int(fd), nil, p.sp.pipe[1], nil, p.sp.want, spliceNonblock)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return false
		case err != nil:
			p.sp.err = err
		case n == 0:
			p.eof = true
		default:
			p.held, p.moved = int(n), time.Now()
		}
		return true
	}
}

// spliceOut moves what the pipe holds to the destination socket. It
// returns false to wait until the socket is writable again; a wait that
// reaches the deadline leaves the rest in the pipe.
func (p *pump) spliceOut(fd uintptr) bool {
	for p.held > 0 {
		n, err := syscall.Splice(p.sp.pipe[0], nil, int(fd), nil, p.held, spliceNonblock)
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return false
		case err != nil:
			p.sp.err = err
			return true
		case n == 0:
			p.sp.err = io.ErrNoProgress // the pipe holds bytes: cannot happen
			return true
		default:
			p.held -= int(n)
			p.sp.n += int(n)
			p.moved = time.Now()
		}
	}
	return true
}
