package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// Streaming policy: the relay never holds a body. Bytes move from the
// source's read buffer to the destination's write buffer, and the write
// buffer is flushed whenever the next read would block, so a response that
// trickles (server-sent events, chunked with pauses) reaches the client as
// each piece arrives, while a fast stream is still written in full buffers.
// Long runs of known length between two TCP connections go through the
// kernel's splice path instead (see spliceMin). Every wait is bounded by
// the body timeout, through the timedConns the buffers wrap and the
// pump's deadlines (see timedConn and spliceN).

// spliceMin is the least remaining length worth handing to the kernel's
// splice path, which costs a few syscalls to set up.
const spliceMin = 64 << 10

// meterStep is how many bytes a transfer moves between two reports to
// the live counters: often enough that a big download shows as
// throughput while it runs, rarely enough to cost nothing per buffer.
const meterStep = 256 << 10

// meter reports the bytes of one direction of one transfer to the live
// counters in steps of meterStep. A nil meter reports nothing. It is used
// by one goroutine at a time.
type meter struct {
	stats *stats.Collector
	// in is true for bytes from the client, false for bytes to it.
	in bool
	// pending counts bytes not reported yet; reported, those that were.
	pending, reported int64
}

func (m *meter) add(n int64) {
	if m == nil {
		return
	}
	if m.pending += n; m.pending >= meterStep {
		if m.in {
			m.stats.Transferred(m.pending, 0)
		} else {
			m.stats.Transferred(0, m.pending)
		}
		m.reported += m.pending
		m.pending = 0
	}
}

// copyError says which side of a copy failed, so the proxy can tell a
// client that went away from an upstream that broke.
type copyError struct {
	write bool // the destination failed; otherwise the source
	err   error
}

func (e *copyError) Error() string {
	if e.write {
		return "write: " + e.err.Error()
	}
	return "read: " + e.err.Error()
}

func (e *copyError) Unwrap() error { return e.err }

// errSourceEOF is a source that ended. It is made once: a close-delimited
// body always ends this way, and it should cost no allocation.
var errSourceEOF error = &copyError{err: io.ErrUnexpectedEOF}

func readErr(err error) error {
	if err == io.EOF {
		return errSourceEOF
	}
	return &copyError{err: err}
}

func writeErr(err error) error { return &copyError{write: true, err: err} }

// isWriteErr reports whether err came from the destination side of a copy.
func isWriteErr(err error) bool {
	var ce *copyError
	return errors.As(err, &ce) && ce.write
}

// fill makes sure src has buffered data, flushing dst first if reading
// would block, so whatever dst holds reaches its peer without delay.
func fill(dst *bufio.Writer, src *bufio.Reader) error {
	if src.Buffered() > 0 {
		return nil
	}
	if dst.Buffered() > 0 {
		if err := dst.Flush(); err != nil {
			return writeErr(err)
		}
	}
	if _, err := src.Peek(1); err != nil {
		return readErr(err)
	}
	return nil
}

// copyN copies exactly n bytes from src to dst through their buffers.
// When both underlying connections are timedConns (the relay's) and much
// remains, the rest goes through a pump: splice between TCP connections.
func copyN(dst *bufio.Writer, dconn net.Conn, src *bufio.Reader, sconn net.Conn, n int64, m *meter) (int64, error) {
	var done int64
	for done < n {
		if rem := n - done; rem-int64(src.Buffered()) >= spliceMin {
			dt, ok := dconn.(*timedConn)
			st, ok2 := sconn.(*timedConn)
			if ok && ok2 {
				k, err := spliceN(dst, dt, src, st, rem, m)
				return done + k, err
			}
		}
		if err := fill(dst, src); err != nil {
			return done, err
		}
		k := min(int64(src.Buffered()), n-done)
		p, _ := src.Peek(int(k))
		if _, err := dst.Write(p); err != nil {
			return done, writeErr(err)
		}
		src.Discard(int(k))
		done += k
		m.add(k)
	}
	return done, nil
}

// spliceN writes src's buffered bytes through dst, flushes, then pumps
// the rest of n straight from sconn to dconn, in steps of spliceStep so
// the meter sees progress. The pump's waits are bounded by the body
// timeout of silence: a wait that reaches its deadline after bytes moved
// within the timeout gets a new one, counted from that last move, so only
// a side silent for the whole timeout ends the copy, with a timeout
// error that says which side it was. A halt (see haltReads) ends it at
// once.
func spliceN(dst *bufio.Writer, dconn *timedConn, src *bufio.Reader, sconn *timedConn, n int64, m *meter) (int64, error) {
	b := int64(src.Buffered())
	p, _ := src.Peek(int(b))
	if _, err := dst.Write(p); err != nil {
		return 0, writeErr(err)
	}
	src.Discard(int(b))
	if err := dst.Flush(); err != nil {
		return b, writeErr(err)
	}
	m.add(b)
	done := b
	pm := newPump(dconn.Conn, sconn.Conn)
	defer pm.close()
	timeout := sconn.timeout
	halted := func() bool { return sconn.read.halted.Load() || dconn.write.halted.Load() }
	// The deadlines are set here, around the bounds, which set theirs
	// afresh on their next call.
	sconn.read.until, dconn.write.until = time.Time{}, time.Time{}
	pm.moved = time.Now()
	sconn.Conn.SetReadDeadline(pm.moved.Add(timeout))
	dconn.Conn.SetWriteDeadline(pm.moved.Add(timeout))
	for done < n {
		if halted() {
			return done, readErr(errHalted)
		}
		k, err := pm.step(min(n-done, spliceStep))
		done += k
		m.add(k)
		switch {
		case err == nil:
			continue
		case err == io.EOF:
			return done, readErr(io.ErrUnexpectedEOF)
		case !isTimeout(err) || time.Since(pm.moved) >= timeout:
			return done, err
		}
		// Bytes moved within the timeout: the side that timed out may
		// wait for the rest of it.
		if at := pm.moved.Add(timeout); isWriteErr(err) {
			dconn.Conn.SetWriteDeadline(at)
		} else {
			sconn.Conn.SetReadDeadline(at)
		}
	}
	return done, nil
}

// spliceStep is the most one splice round moves before the meter hears
// of it. Each round costs a few syscalls to set up; 1 MiB rounds cut the
// relay's CPU per GiB by about a third against 256 KiB (bench/experiments), and
// the live counters still move several times a second at any real speed.
const spliceStep = 1 << 20

// copyChunked relays a chunked body from src to dst. With chunkedOut it
// forwards the chunk framing (sizes, data, trailer fields); without, only
// the data (for an HTTP/1.0 client reading to close). Chunk extensions
// are checked and dropped. limit bounds the data (0 means none); over it,
// errBodyTooLarge. maxTrailer bounds the trailer section's bytes. Framing
// that breaks RFC 9112 §7.1 is a chunkError. It returns the data bytes.
func copyChunked(dst *bufio.Writer, dconn net.Conn, src *bufio.Reader, sconn net.Conn, chunkedOut bool, limit int64, maxTrailer int, m *meter) (int64, error) {
	var total int64
	for {
		if err := fill(dst, src); err != nil {
			return total, err
		}
		line, err := readChunkLine(src, "chunk-size line")
		if err != nil {
			return total, err
		}
		size, err := parseChunkSize(line)
		if err != nil {
			return total, err
		}
		if limit > 0 && total+size > limit {
			return total, errBodyTooLarge
		}
		if size == 0 {
			return total, copyTrailer(dst, src, chunkedOut, maxTrailer)
		}
		if chunkedOut {
			if err := writeChunkSize(dst, size); err != nil {
				return total, writeErr(err)
			}
		}
		k, err := copyN(dst, dconn, src, sconn, size, m)
		total += k
		if err != nil {
			return total, err
		}
		if err := fill(dst, src); err != nil {
			return total, err
		}
		// CRLF ends the data; a bare LF or more data than the size said
		// is how two parsers come to disagree on where the body ends.
		line, err = src.ReadSlice('\n')
		switch {
		case err != nil && err != bufio.ErrBufferFull:
			return total, readErr(err)
		case string(line) != "\r\n":
			return total, errChunkData
		}
		if chunkedOut {
			if _, err := dst.WriteString("\r\n"); err != nil {
				return total, writeErr(err)
			}
		}
	}
}

// chunkError is chunked framing that breaks RFC 9112 §7.1; its text
// says how, for the 400 or the log.
type chunkError string

func (e chunkError) Error() string { return "malformed chunked encoding: " + string(e) }

const (
	errChunkData       chunkError = "chunk data not followed by CRLF"
	errChunkSize       chunkError = "invalid chunk size"
	errChunkExt        chunkError = "malformed chunk extension"
	errTrailerField    chunkError = "malformed trailer field"
	errTrailerFields   chunkError = "more than 100 trailer fields"
	errTrailerTooLarge chunkError = "trailer section over max_header_bytes"
)

// readChunkLine reads one line of chunked framing (a chunk size, a
// trailer field, the last line). It must end in CRLF: RFC 9112 §7.1 has
// no bare LF there, and parsers that accept one disagree with those that
// do not. what names the line in an error. A line longer than src's
// buffer is refused: no chunk size or real trailer field comes near.
func readChunkLine(src *bufio.Reader, what string) ([]byte, error) {
	line, err := src.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, chunkError(what + " too long")
	case err != nil:
		return nil, readErr(err)
	case len(line) < 2 || line[len(line)-2] != '\r':
		return nil, chunkError(what + " ended by a bare LF")
	}
	return line, nil
}

// maxTrailerFields bounds the fields of one trailer section.
const maxTrailerFields = 100

// copyTrailer relays the trailer section after the last chunk, up to and
// including the empty line that ends the body. Its fields pass the checks
// header fields do (parseField) and are bounded like a head: maxTrailer
// bytes, maxTrailerFields fields. Fields a trailer must not carry are
// dropped (trailerDropped).
func copyTrailer(dst *bufio.Writer, src *bufio.Reader, chunkedOut bool, maxTrailer int) error {
	if chunkedOut {
		if _, err := dst.WriteString("0\r\n"); err != nil {
			return writeErr(err)
		}
	}
	size := 0
	for n := 0; ; n++ {
		if err := fill(dst, src); err != nil {
			return err
		}
		line, err := readChunkLine(src, "trailer line")
		if err != nil {
			return err
		}
		if size += len(line); size > maxTrailer {
			return errTrailerTooLarge
		}
		if len(line) == 2 { // the empty line that ends the body
			if chunkedOut {
				if _, err := dst.WriteString("\r\n"); err != nil {
					return writeErr(err)
				}
			}
			return nil
		}
		if n == maxTrailerFields {
			return errTrailerFields
		}
		f, ok := parseField(line[:len(line)-2])
		if !ok {
			return errTrailerField
		}
		if chunkedOut && !trailerDropped(f.name) {
			if _, err := dst.Write(line); err != nil {
				return writeErr(err)
			}
		}
	}
}

// trailerDropped reports whether a trailer field is one that frames,
// routes or manages the connection. RFC 9110 §6.5.1 forbids those in a
// trailer section; forwarded, a later hop that merges trailers into the
// head could act on them.
func trailerDropped(name []byte) bool {
	return fieldIs(name, "content-length") || fieldIs(name, "host") || fieldIs(name, "trailer") || isHopHeader(name, nil)
}

// writeChunkSize writes a chunk-size line ("1a\r\n"). It is built in
// dst's free space, flushed first if too little is left: a local array
// handed to Write would escape, an allocation per chunk.
func writeChunkSize(dst *bufio.Writer, size int64) error {
	const longest = 16 + 2 // an int64 in hex, CRLF
	if dst.Available() < longest {
		if err := dst.Flush(); err != nil {
			return err
		}
	}
	h := strconv.AppendInt(dst.AvailableBuffer(), size, 16)
	_, err := dst.Write(append(h, '\r', '\n'))
	return err
}

// copyUntilEOF relays a close-delimited body. With chunkedOut each read is
// sent as one chunk, so an HTTP/1.1 client can keep its connection.
func copyUntilEOF(dst *bufio.Writer, src *bufio.Reader, chunkedOut bool, m *meter) (int64, error) {
	var total int64
	for {
		if err := fill(dst, src); err != nil {
			if err == errSourceEOF {
				break // EOF is the end of this body
			}
			return total, err
		}
		k := src.Buffered()
		if chunkedOut {
			if err := writeChunkSize(dst, int64(k)); err != nil {
				return total, writeErr(err)
			}
		}
		p, _ := src.Peek(k)
		if _, err := dst.Write(p); err != nil {
			return total, writeErr(err)
		}
		if chunkedOut {
			if _, err := dst.WriteString("\r\n"); err != nil {
				return total, writeErr(err)
			}
		}
		src.Discard(k)
		total += int64(k)
		m.add(int64(k))
	}
	if chunkedOut {
		if _, err := dst.WriteString("0\r\n\r\n"); err != nil {
			return total, writeErr(err)
		}
	}
	return total, nil
}

// errBodyTooLarge is a request body over max_body_bytes.
var errBodyTooLarge = errors.New("request body over the limit")

// parseChunkSize parses a chunk-size line ("1a;name=value\r\n", CRLF
// checked by readChunkLine), checking the chunk extensions, which the
// relay drops.
func parseChunkSize(line []byte) (int64, error) {
	line = line[:len(line)-2]
	var n int64
	digits := 0
	for _, c := range line {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			if digits == 0 {
				return 0, errChunkSize
			}
			if !validChunkExt(line[digits:]) {
				return 0, errChunkExt
			}
			return n, nil
		}
		if digits++; digits > 15 {
			return 0, errChunkSize // over 2^60: nobody sends that, overflow does
		}
		n = n<<4 | int64(d)
	}
	if digits == 0 {
		return 0, errChunkSize
	}
	return n, nil
}

// validChunkExt checks what follows a chunk size (RFC 9112 §7.1.1):
//
//	*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) [ BWS ]
//
// with tokens for names. No control character can pass.
func validChunkExt(ext []byte) bool {
	for {
		ext = trimLeftBWS(ext)
		if len(ext) == 0 {
			return true
		}
		if ext[0] != ';' {
			return false
		}
		ext = trimLeftBWS(ext[1:])
		n := tokenLen(ext)
		if n == 0 {
			return false
		}
		ext = trimLeftBWS(ext[n:])
		if len(ext) == 0 || ext[0] != '=' {
			continue
		}
		ext = trimLeftBWS(ext[1:])
		if len(ext) > 0 && ext[0] == '"' {
			n = quotedStringLen(ext)
		} else {
			n = tokenLen(ext)
		}
		if n == 0 {
			return false
		}
		ext = ext[n:]
	}
}

func trimLeftBWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// tokenLen returns the length of the token that b starts with.
func tokenLen(b []byte) int {
	for i, c := range b {
		if !tokenChars[c] {
			return i
		}
	}
	return len(b)
}

// quotedStringLen returns the length of the quoted-string (RFC 9110
// §5.6.4) that b starts with, quotes included, or 0 if there is none.
func quotedStringLen(b []byte) int {
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			i++
			if i == len(b) || b[i] < ' ' && b[i] != '\t' || b[i] == 0x7f {
				return 0
			}
		case c < ' ' && c != '\t' || c == 0x7f:
			return 0
		}
	}
	return 0
}
