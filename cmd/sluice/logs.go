package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sluiceproxy/sluice/app"
	"github.com/sluiceproxy/sluice/app/logs"
)

// cmdLogs implements `sluice logs path` and `sluice logs tail [-f] [-n N]`.
func cmdLogs(args []string) error {
	if len(args) == 0 {
		return errors.New("logs needs one of: path, tail")
	}
	sub := args[0]
	fs := newFlags("logs " + sub)
	cfgPath := fs.String("config", "", "config file (default: the user config dir)")
	var follow bool
	var n int
	if sub == "tail" {
		fs.BoolVar(&follow, "f", false, "keep printing records as they are written, across rotation, until interrupted")
		fs.IntVar(&n, "n", 10, "how many of the newest records to print first")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("logs %s: unexpected argument %q", sub, fs.Arg(0))
	}
	if sub != "path" && sub != "tail" {
		return fmt.Errorf("unknown logs command %q (want path or tail)", sub)
	}
	cfg, err := configAt(*cfgPath)
	if err != nil {
		return err
	}
	dir, err := logDirOf(cfg)
	if err != nil {
		return err
	}
	if sub == "path" {
		fmt.Println(dir)
		return nil
	}
	if !cfg.Log.AccessLog {
		fmt.Fprintf(os.Stderr, "sluice: note: [log] access_log is off in %s; showing older records, if any\n", cfg.Path())
	}
	path := filepath.Join(dir, logs.AccessFile)
	if _, err := os.Stat(path); err != nil && !follow {
		return fmt.Errorf("no access log at %s yet: start Sluice with [log] access_log = true and send a request through it", path)
	}
	if err := tailLines(os.Stdout, path, n); err != nil {
		return err
	}
	if !follow {
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return followFile(ctx, os.Stdout, path, 250*time.Millisecond)
}

// configAt loads the config at path, or at the default location when
// path is empty.
func configAt(path string) (*app.Config, error) {
	if path == "" {
		p, err := app.ConfigPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	return app.LoadConfig(path)
}

// logDirOf returns [log] dir, or the OS default when it is empty.
func logDirOf(cfg *app.Config) (string, error) {
	if cfg.Log.Dir != "" {
		return cfg.Log.Dir, nil
	}
	return app.DefaultLogDir()
}

// tailLines writes the last n lines of the log at path, reaching into
// its uncompressed backups (newest first) when path holds fewer.
func tailLines(w io.Writer, path string, n int) error {
	if n <= 0 {
		return nil
	}
	files := append(logBackups(path), path)
	var chunks [][]byte // newest file first
	for i := len(files) - 1; i >= 0 && n > 0; i-- {
		lines, err := lastLines(files[i], n)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		n -= bytes.Count(lines, []byte{'\n'})
		chunks = append(chunks, lines)
	}
	for i := len(chunks) - 1; i >= 0; i-- {
		if _, err := w.Write(chunks[i]); err != nil {
			return err
		}
	}
	return nil
}

// logBackups lists the uncompressed rotated files of path, oldest first.
// Lumberjack names them name-<UTC time>.ext, so names sort by time.
func logBackups(path string) []string {
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
// only what is printed. A final line without its newline yet is left
// out: the writer is still writing it.
func lastLines(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	const block = 64 << 10
	var tail []byte
	end := size
	for end > 0 {
		start := max(0, end-block)
		buf := make([]byte, end-start)
		if _, err := f.ReadAt(buf, start); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		tail = append(buf, tail...)
		end = start
		if bytes.Count(tail, []byte{'\n'}) > n {
			break
		}
	}
	// Drop a partial last line, then keep the last n lines.
	if i := bytes.LastIndexByte(tail, '\n'); i >= 0 {
		tail = tail[:i+1]
	} else {
		return nil, nil
	}
	if end > 0 || bytes.Count(tail, []byte{'\n'}) > n {
		cut := len(tail) - 1
		for range n {
			cut = bytes.LastIndexByte(tail[:cut], '\n')
			if cut < 0 {
				break
			}
		}
		if cut >= 0 {
			tail = tail[cut+1:]
		}
	}
	return tail, nil
}

// followFile writes lines appended to the file at path until ctx ends,
// starting at its current end. When lumberjack rotates the file (renames
// it and starts a new one) it finishes the old file, then follows the new
// one from its start. Only complete lines are written.
func followFile(ctx context.Context, w io.Writer, path string, poll time.Duration) error {
	var (
		f       *os.File
		partial []byte
		buf     = make([]byte, 64<<10)
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	open := func(atEnd bool) {
		nf, err := os.Open(path)
		if err != nil {
			return // not there yet (between rename and create): try again
		}
		if atEnd {
			if _, err := nf.Seek(0, io.SeekEnd); err != nil {
				nf.Close()
				return
			}
		}
		f, partial = nf, partial[:0]
	}
	// drain writes what f has beyond what was read, complete lines only.
	drain := func() error {
		for {
			n, err := f.Read(buf)
			if n > 0 {
				partial = append(partial, buf[:n]...)
				if i := bytes.LastIndexByte(partial, '\n'); i >= 0 {
					if _, werr := w.Write(partial[:i+1]); werr != nil {
						return werr
					}
					partial = append(partial[:0], partial[i+1:]...)
				}
			}
			if err == io.EOF || n == 0 {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", path, err)
			}
		}
	}
	open(true)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		if f != nil {
			if err := drain(); err != nil {
				return err
			}
			cur, err1 := f.Stat()
			now, err2 := os.Stat(path)
			switch {
			case err2 != nil:
				// Renamed, new file not made yet: wait.
			case err1 == nil && !os.SameFile(cur, now):
				// Rotated: read what was added to the old file
				// since the last drain, then switch.
				if err := drain(); err != nil {
					return err
				}
				f.Close()
				f = nil
				open(false)
				continue
			case err1 == nil && now.Size() < fileOffset(f):
				// Truncated in place: start over.
				f.Seek(0, io.SeekStart)
				partial = partial[:0]
			}
		} else {
			open(false)
			if f != nil {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func fileOffset(f *os.File) int64 {
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0
	}
	return off
}
