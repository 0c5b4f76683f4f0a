//go:build linux

package soak

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// The origin's bodies name their request: a body of n bytes for target p is
// the first n bytes of p+"\n" repeated, so its first line is the request's
// path and a body cut, shifted or swapped with another request's shows.

// pathHeader carries the request-target the origin answered, on every
// response it sends.
const pathHeader = "X-Soak-Path"

// writeBody writes the n-byte body for target to w.
func writeBody(w io.Writer, target string, n int64) error {
	unit := []byte(target + "\n")
	// Fill a chunk of whole units so large bodies take few writes.
	chunk := bytes.Repeat(unit, max(1, (32<<10)/len(unit)))
	for n > 0 {
		k := min(n, int64(len(chunk)))
		if _, err := w.Write(chunk[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// errBodyDiffers marks a body whose bytes are not the ones its target
// names (as against one that was cut short by a read error).
var errBodyDiffers = errors.New("body differs")

// checkBody reads r to its end and reports whether it is exactly the
// n-byte body for target. A wrong byte or length wraps errBodyDiffers and
// says where; a read error is returned as such.
func checkBody(r io.Reader, target string, n int64) error {
	unit := []byte(target + "\n")
	buf := make([]byte, 32<<10)
	var off int64
	for {
		k, err := r.Read(buf)
		for i := 0; i < k; i++ {
			if off+int64(i) >= n {
				return fmt.Errorf("%w: longer than %d bytes", errBodyDiffers, n)
			}
			if buf[i] != unit[(off+int64(i))%int64(len(unit))] {
				return fmt.Errorf("%w at byte %d: %q", errBodyDiffers, off+int64(i), snippet(buf[i:k]))
			}
		}
		off += int64(k)
		if err == io.EOF {
			if off != n {
				return fmt.Errorf("%w: ended after %d of %d bytes", errBodyDiffers, off, n)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("body read after %d of %d bytes: %w", off, n, err)
		}
	}
}

func snippet(b []byte) []byte {
	if len(b) > 60 {
		return b[:60]
	}
	return b
}
