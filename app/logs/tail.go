package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluiceproxy/sluice/internal/sharedfile"
)

// Reading the logs back, for `sluice logs tail [-f]`: this file knows
// how the rotator names its backups, so no reader has to.

// Pos is a place in a log file, as Tail leaves it for Follow: the file's
// identity and an offset just past a complete line. The zero Pos means no
// file was read yet.
type Pos struct {
	info os.FileInfo
	off  int64
}

// Tail writes the last n lines of the log at path, reaching into its
// uncompressed backups (newest first) when path holds fewer. It returns
// where in path it stopped, for Follow to go on from.
func Tail(w io.Writer, path string, n int) (Pos, error) {
	var pos Pos
	files := append(backups(path), path)
	var chunks [][]byte // newest file first
	for i := len(files) - 1; i >= 0; i-- {
		lines, p, err := lastLines(files[i], max(n, 0))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return pos, err
		}
		if i == len(files)-1 {
			pos = p
		}
		n -= bytes.Count(lines, []byte{'\n'})
		chunks = append(chunks, lines)
		if n <= 0 {
			break
		}
	}
	for i := len(chunks) - 1; i >= 0; i-- {
		if _, err := w.Write(chunks[i]); err != nil {
			return pos, err
		}
	}
	return pos, nil
}

// backups lists the uncompressed rotated files of path, oldest first.
// The rotator (lumberjack, stream.go) names them name-<UTC time>.ext,
// so names sort by time.
func backups(path string) []string {
	ext := filepath.Ext(path)
	prefix := strings.TrimSuffix(filepath.Base(path), ext) + "-"
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, prefix) && strings.HasSuffix(n, ext) && e.Type().IsRegular() {
			names = append(names, filepath.Join(filepath.Dir(path), n))
		}
	}
	slices.Sort(names)
	return names
}

// lastLines returns at most the last n complete lines of the file at
// path, reading backwards from its end in blocks, so a large log costs
// only what is printed, and the position just past them. A final line
// without its newline yet is left out: the writer is still writing it.
func lastLines(path string, n int) ([]byte, Pos, error) {
	var pos Pos
	f, err := sharedfile.Open(path)
	if err != nil {
		return nil, pos, err
	}
	defer f.Close()
	if pos.info, err = f.Stat(); err != nil {
		return nil, pos, fmt.Errorf("read %s: %w", path, err)
	}
	size := pos.info.Size()
	const block = 64 << 10
	var tail []byte
	end := size
	for end > 0 {
		start := max(0, end-block)
		buf := make([]byte, end-start)
		if _, err := f.ReadAt(buf, start); err != nil {
			return nil, pos, fmt.Errorf("read %s: %w", path, err)
		}
		tail = append(buf, tail...)
		end = start
		if bytes.Count(tail, []byte{'\n'}) > n {
			break
		}
	}
	// Drop a partial last line, then keep the last n lines.
	i := bytes.LastIndexByte(tail, '\n')
	pos.off = size - int64(len(tail)-(i+1))
	tail = tail[:i+1]
	cut := len(tail) - 1
	for range n {
		if cut = bytes.LastIndexByte(tail[:max(cut, 0)], '\n'); cut < 0 {
			break
		}
	}
	if n == 0 {
		return nil, pos, nil
	}
	return tail[cut+1:], pos, nil
}

// follower writes the lines appended to a log file as they come.
type follower struct {
	w       io.Writer
	path    string
	f       *os.File // the followed file, held open
	pos     Pos
	partial []byte // an incomplete last line, held back
	buf     []byte
}

// Follow writes the lines appended to the log at path from pos on (the
// zero Pos: from the start of the file), polling every poll, until ctx
// ends; ctx ending is not an error. When lumberjack rotates the file
// (renames it and starts a new one) it finishes the old file, then
// follows the new one from its start; only complete lines are written.
// It keeps the file open, which tells the renamed file apart without
// looking for it. Files are opened and compared through sharedfile: on
// Windows a plain os.Open or os.Stat would make lumberjack's rename fail.
func Follow(ctx context.Context, w io.Writer, path string, pos Pos, poll time.Duration) error {
	fl := &follower{w: w, path: path, pos: pos, buf: make([]byte, 64<<10)}
	defer fl.close()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		if err := fl.poll(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (fl *follower) close() {
	if fl.f != nil {
		fl.f.Close()
		fl.f = nil
	}
}

// poll writes what was appended since the last poll.
func (fl *follower) poll() error {
	f := fl.f
	fresh := f == nil
	if fresh {
		var err error
		if f, err = sharedfile.Open(fl.path); err != nil {
			return nil // not there (yet, or between rename and create)
		}
	}
	cur, err := f.Stat()
	if err != nil {
		f.Close()
		fl.f = nil
		return fmt.Errorf("read %s: %w", fl.path, err)
	}
	if fresh {
		if fl.pos.info != nil && !os.SameFile(fl.pos.info, cur) {
			// Rotated since the last look: finish the old file.
			if err := fl.finishRotated(nil, cur); err != nil {
				f.Close()
				return err
			}
		}
		fl.pos.info = cur
		fl.f = f
	} else if now, err := sharedfile.Stat(fl.path); err == nil && !os.SameFile(cur, now) {
		// The held file was rotated away: finish it, and the files
		// rotated after it up to the one at the path now, which is
		// followed next from its start. If that one is rotated away
		// too before the next open, the fresh look finishes it.
		err := fl.finishRotated(f, now)
		fl.close()
		fl.pos = Pos{info: now}
		if err != nil {
			return err
		}
		return fl.poll()
	}
	if cur.Size() < fl.pos.off {
		// Truncated in place: start over.
		fl.pos.off = 0
		fl.partial = fl.partial[:0]
	}
	return fl.drain(f)
}

// finishRotated writes the rest of the followed file after a rotation
// renamed it (held, when it is still open; else it is found among the
// uncompressed backups), then every backup rotated after it, whole, up
// to next, the file at the path when the rotation was seen (which may be
// a backup by now too): under a burst several rotations can pass between
// two polls. It leaves pos.off and partial ready for next.
func (fl *follower) finishRotated(held *os.File, next os.FileInfo) error {
	names := backups(fl.path)
	at := len(names) // the followed file among the backups
	for i := len(names) - 1; i >= 0; i-- {
		if info, err := sharedfile.Stat(names[i]); err == nil && os.SameFile(info, fl.pos.info) {
			at = i
			break
		}
	}
	var err error
	switch {
	case held != nil:
		err = fl.drain(held)
	case at < len(names):
		err = fl.drainFile(names[at])
	}
	// Without the followed file among the backups (compressed or deleted
	// already) there is no telling which backups came after it.
	for i := at + 1; i < len(names) && err == nil; i++ {
		if info, serr := sharedfile.Stat(names[i]); serr == nil && os.SameFile(info, next) {
			break
		}
		fl.pos.off, fl.partial = 0, fl.partial[:0]
		err = fl.drainFile(names[i])
	}
	fl.pos.off, fl.partial = 0, fl.partial[:0]
	return err
}

// drainFile writes the complete lines the file at name holds from pos.off
// on; a file gone already (compressed or deleted) adds nothing.
func (fl *follower) drainFile(name string) error {
	f, err := sharedfile.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	return fl.drain(f)
}

// drain writes the complete lines f holds from pos.off on.
func (fl *follower) drain(f *os.File) error {
	for {
		n, err := f.ReadAt(fl.buf, fl.pos.off)
		if n > 0 {
			fl.pos.off += int64(n)
			fl.partial = append(fl.partial, fl.buf[:n]...)
			if i := bytes.LastIndexByte(fl.partial, '\n'); i >= 0 {
				if _, werr := fl.w.Write(fl.partial[:i+1]); werr != nil {
					return werr
				}
				fl.partial = append(fl.partial[:0], fl.partial[i+1:]...)
			}
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", f.Name(), err)
		}
	}
}
