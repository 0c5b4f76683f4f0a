package logs

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// maxBatchBytes writes the buffer early once it grows this large, so a
// batch of long records stays well under a rotation size of 1 MB (a
// single write larger than max_size_mb is refused by lumberjack).
const maxBatchBytes = 256 << 10

// stream is one log file with its queue and writer goroutine. T is what
// the queue holds: a record value copied from the caller.
type stream[T any] struct {
	name  string
	queue chan T

	// format appends one record, ending in a newline.
	format func(buf []byte, rec *T) []byte
	// dropLine appends the line reporting n dropped records.
	dropLine func(buf []byte, now time.Time, n int64) []byte

	file *rotator
	out  io.Writer // file, or what Config.Sink made of it
	// errOut hears of the first failed write (the file is the record,
	// so a failure must be said somewhere); nil for nowhere.
	errOut io.Writer

	flushEvery   time.Duration
	flushRecords int

	closed     atomic.Bool
	dropped    atomic.Int64  // every record lost, for Dropped
	unreported atomic.Int64  // lost since the last drop line
	kick       chan struct{} // put's early wake-up; capacity 1
	stop       chan struct{}
	exited     chan struct{}
	writeErr   error // first failed write; owned by the writer goroutine
}

func newStream[T any](cfg *Config, name string, errOut io.Writer,
	format func([]byte, *T) []byte, dropLine func([]byte, time.Time, int64) []byte) *stream[T] {
	file := &rotator{lj: &lumberjack.Logger{
		Filename:   filepath.Join(cfg.Dir, name),
		MaxSize:    cfg.MaxSizeMB,
		MaxBackups: cfg.MaxBackups,
		MaxAge:     cfg.MaxAgeDays,
		Compress:   cfg.Compress,
	}}
	s := &stream[T]{
		name:         name,
		queue:        make(chan T, cfg.QueueSize),
		format:       format,
		dropLine:     dropLine,
		file:         file,
		out:          file,
		errOut:       errOut,
		flushEvery:   cfg.FlushEvery,
		flushRecords: cfg.FlushRecords,
		kick:         make(chan struct{}, 1),
		stop:         make(chan struct{}),
		exited:       make(chan struct{}),
	}
	if cfg.Sink != nil {
		s.out = cfg.Sink(name, file)
	}
	go s.run()
	return s
}

// put queues a copy of rec without waiting: a full queue (or a closed
// stream) drops it and counts the drop.
func (s *stream[T]) put(rec *T) {
	if s.closed.Load() {
		s.drop(1)
		return
	}
	select {
	case s.queue <- *rec:
		// The writer sleeps until a batch is due; wake it early once a
		// batch's worth is waiting. Waking it for every record would cost
		// a goroutine switch (and often a futex call) per request.
		if len(s.queue) >= s.flushRecords {
			select {
			case s.kick <- struct{}{}:
			default:
			}
		}
	default:
		s.drop(1)
	}
}

func (s *stream[T]) drop(n int64) {
	s.dropped.Add(n)
	s.unreported.Add(n)
}

// run is the writer goroutine. It waits for the first record, then
// gives the batch until flushEvery, or until put says flushRecords are
// queued, and writes everything queued in one go. So it wakes once per
// batch, not once per record.
func (s *stream[T]) run() {
	defer close(s.exited)
	var (
		buf   = make([]byte, 0, 64<<10)
		n     int // records in buf
		timer = time.NewTimer(time.Hour)
	)
	timer.Stop()
	add := func(rec *T) {
		buf = s.format(buf, rec)
		n++
		if len(buf) >= maxBatchBytes {
			buf = s.write(buf, n)
			n = 0
		}
	}
	// drain formats everything queued now and writes it.
	drain := func() {
		for {
			select {
			case rec := <-s.queue:
				add(&rec)
			default:
				buf = s.write(buf, n)
				n = 0
				return
			}
		}
	}
	for {
		select {
		case rec := <-s.queue:
			add(&rec)
		case <-s.stop:
			drain()
			return
		}
		timer.Reset(s.flushEvery)
		select {
		case <-s.kick:
		case <-timer.C:
		case <-s.stop:
			timer.Stop()
			drain()
			return
		}
		timer.Stop()
		drain()
	}
}

// write writes the batch in buf (n records), then, if records were
// dropped meanwhile, the line that says how many. It returns buf emptied.
func (s *stream[T]) write(buf []byte, n int) []byte {
	if n > 0 {
		s.emit(buf, int64(n))
		buf = buf[:0]
	}
	// The write above may have blocked while the queue filled up; now
	// that it returned there is space again, so report the drops.
	if lost := s.unreported.Swap(0); lost > 0 {
		buf = s.dropLine(buf, time.Now(), lost)
		s.emit(buf, 0)
		buf = buf[:0]
	}
	return buf
}

// emit writes one batch to the file. If the write fails, the batch's n
// records count as dropped, and the first failure is told to errOut.
func (s *stream[T]) emit(b []byte, n int64) {
	if _, err := s.out.Write(b); err != nil {
		s.dropped.Add(n)
		if s.writeErr == nil {
			s.writeErr = fmt.Errorf("write %s: %w", s.name, err)
			if s.errOut != nil {
				fmt.Fprintf(s.errOut, "sluice: %v (further errors not shown)\n", s.writeErr)
			}
		}
	}
}

// close stops taking records, waits for the writer to drain the queue
// and closes the file. It returns the first write error, if any.
func (s *stream[T]) close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	<-s.exited
	return errors.Join(s.writeErr, s.file.Close())
}

// rotator is the lumberjack file, with a mutex so that Reconfigure can
// change its rotation settings while the writer goroutine writes.
type rotator struct {
	mu sync.Mutex
	lj *lumberjack.Logger
}

func (r *rotator) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lj.Write(p)
}

func (r *rotator) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lj.Close()
}

// set applies cfg's rotation settings. Lumberjack's background goroutine
// that deletes and compresses old files reads these settings without a
// lock, so a change is made on a new Logger rather than on fields the
// goroutine may be reading; the old Logger is closed (its goroutine stays,
// idle, as lumberjack cannot stop it).
func (r *rotator) set(cfg *Config) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.lj
	if old.MaxSize == cfg.MaxSizeMB && old.MaxBackups == cfg.MaxBackups &&
		old.MaxAge == cfg.MaxAgeDays && old.Compress == cfg.Compress {
		return
	}
	old.Close()
	r.lj = &lumberjack.Logger{
		Filename:   old.Filename,
		MaxSize:    cfg.MaxSizeMB,
		MaxBackups: cfg.MaxBackups,
		MaxAge:     cfg.MaxAgeDays,
		Compress:   cfg.Compress,
	}
}
