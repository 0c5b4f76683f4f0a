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
//
// The queue is a slice that grows as records arrive, up to queueSize, and
// that the writer swaps for an empty one to take every queued record at
// once. A channel of queueSize is allocated whole at start, and the
// collector scans the whole buffer of one that holds pointers, so the
// three channels (with the writers' preallocated buffers) kept about 1 MiB
// of an idle Sluice resident.
type stream[T any] struct {
	name string

	mu    sync.Mutex
	queue []T // records not yet taken by the writer
	// queued is len(queue), readable without mu: a full queue drops a
	// record without taking the lock the writer may hold.
	queued atomic.Int64
	// spare is the slice the writer took last time, emptied, for the
	// next swap; nil once a quiet batch let it shrink.
	spare     []T
	queueSize int
	// wake tells the writer that records are waiting: the first of a
	// batch, and again once flushRecords are queued. Capacity 1.
	wake chan struct{}

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
	dropped    atomic.Int64 // every record lost, for Dropped
	unreported atomic.Int64 // lost since the last drop line
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
		queueSize:    cfg.QueueSize,
		wake:         make(chan struct{}, 1),
		format:       format,
		dropLine:     dropLine,
		file:         file,
		out:          file,
		errOut:       errOut,
		flushEvery:   cfg.FlushEvery,
		flushRecords: cfg.FlushRecords,
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
	if s.queued.Load() >= int64(s.queueSize) {
		s.drop(1)
		return
	}
	s.mu.Lock()
	n := len(s.queue)
	if n >= s.queueSize {
		s.mu.Unlock()
		s.drop(1)
		return
	}
	s.queue = append(s.queue, *rec)
	s.queued.Store(int64(n + 1))
	s.mu.Unlock()
	// The writer sleeps until a batch is due: wake it for the first
	// record, and again once a batch's worth is waiting. Waking it for
	// every record would cost a goroutine switch (and often a futex call)
	// per request.
	if n == 0 || n+1 >= s.flushRecords {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *stream[T]) drop(n int64) {
	s.dropped.Add(n)
	s.unreported.Add(n)
}

// take returns every queued record and leaves an empty queue.
func (s *stream[T]) take() []T {
	s.mu.Lock()
	batch := s.queue
	s.queue = s.spare[:0]
	s.spare = nil
	s.queued.Store(0)
	s.mu.Unlock()
	return batch
}

// giveBack returns a batch's slice, emptied, for the next swap. A slice
// grown by a burst is dropped instead when this batch used little of it,
// so the memory of a burst is not kept for good.
func (s *stream[T]) giveBack(batch []T) {
	if cap(batch) > 4*s.flushRecords && len(batch) < cap(batch)/4 {
		return
	}
	clear(batch) // the records' strings can go
	s.mu.Lock()
	s.spare = batch[:0]
	s.mu.Unlock()
}

// run is the writer goroutine. It waits for the first record, then
// gives the batch until flushEvery, or until put says flushRecords are
// queued, and writes everything queued in one go. So it wakes once per
// batch, not once per record.
func (s *stream[T]) run() {
	defer close(s.exited)
	var (
		buf   []byte // grows to the size of the batches written
		timer = time.NewTimer(time.Hour)
	)
	timer.Stop()
	// drain formats everything queued now and writes it.
	drain := func() {
		batch := s.take()
		n := 0 // records in buf
		for i := range batch {
			buf = s.format(buf, &batch[i])
			n++
			if len(buf) >= maxBatchBytes {
				buf = s.write(buf, n)
				n = 0
			}
		}
		buf = s.write(buf, n)
		s.giveBack(batch)
	}
	for {
		select {
		case <-s.wake:
		case <-s.stop:
			drain()
			return
		}
		timer.Reset(s.flushEvery)
		select {
		case <-s.wake:
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
