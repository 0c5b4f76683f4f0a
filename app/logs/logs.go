package logs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
)

// Logs is the app log and the access log of one running Sluice.
type Logs struct {
	cfg     Config
	level   slog.LevelVar
	json    atomic.Bool
	app     *stream[[]byte]
	term    *stream[[]byte]             // the app log's text copy on Stderr; nil without one
	access  *stream[proxy.AccessRecord] // nil when the access log is off
	logger  *slog.Logger
	accessL proxy.AccessLogger
}

// New creates cfg.Dir if needed and starts the writers. Files are opened
// on the first write.
func New(cfg Config) (*Logs, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir (set [log] dir to a writable place): %w", err)
	}
	l := &Logs{cfg: cfg}
	l.level.Set(cfg.Level)
	l.json.Store(cfg.Format == "json")

	l.app = newStream(&cfg, AppFile, cfg.Stderr,
		func(buf []byte, rec *[]byte) []byte { return append(buf, *rec...) },
		func(buf []byte, now time.Time, n int64) []byte { return formatDropLine(buf, now, n, l.json.Load()) })
	w := appWriter{l.app}
	opts := &slog.HandlerOptions{Level: &l.level}
	var h slog.Handler = &switchHandler{
		json:    slog.NewJSONHandler(w, opts),
		text:    slog.NewTextHandler(w, opts),
		useJSON: &l.json,
	}
	if cfg.Stderr != nil {
		// The terminal copy of the app log (headless runs) is always
		// text, whatever the file's format: people read the terminal,
		// programs read the file. It has a queue and writer of its own,
		// so a stalled terminal cannot hold up the app either.
		termCfg := cfg
		termCfg.Sink = func(string, io.Writer) io.Writer { return cfg.Stderr }
		l.term = newStream(&termCfg, "stderr", nil,
			func(buf []byte, rec *[]byte) []byte { return append(buf, *rec...) },
			func(buf []byte, now time.Time, n int64) []byte { return formatDropLine(buf, now, n, false) })
		h = teeHandler{h, slog.NewTextHandler(appWriter{l.term}, opts)}
	}
	l.logger = slog.New(h)

	if cfg.AccessLog {
		var tc timeCache // used by the access stream's writer goroutine only
		l.access = newStream(&cfg, AccessFile, cfg.Stderr,
			func(buf []byte, rec *proxy.AccessRecord) []byte { return formatAccess(buf, rec, l.json.Load(), &tc) },
			func(buf []byte, now time.Time, n int64) []byte { return formatDropLine(buf, now, n, l.json.Load()) })
		l.accessL = &accessLog{s: l.access}
	}
	return l, nil
}

// App returns the app log.
func (l *Logs) App() *slog.Logger { return l.logger }

// Access returns the access log for proxy.Config.Access, or nil when the
// access log is off (so the proxy makes no records at all).
func (l *Logs) Access() proxy.AccessLogger { return l.accessL }

// Dir returns the log directory.
func (l *Logs) Dir() string { return l.cfg.Dir }

// Dropped returns how many records both streams have dropped so far
// (queue full, or a failed write), for stats.Collector.SetDroppedFunc.
func (l *Logs) Dropped() int64 {
	n := l.app.dropped.Load()
	if l.access != nil {
		n += l.access.dropped.Load()
	}
	return n
}

// Close drains both queues, writes what they held and closes the files.
// Records logged after Close are dropped. Call it after the proxy has
// stopped, so its last records are written.
func (l *Logs) Close() error {
	var errs []error
	if l.access != nil {
		errs = append(errs, l.access.close())
	}
	errs = append(errs, l.app.close())
	if l.term != nil {
		errs = append(errs, l.term.close())
	}
	return errors.Join(errs...)
}

// Reconfigure applies a changed [log] section: level, format and the
// rotation settings take effect at once. A changed Dir or AccessLog
// takes effect only on restart; the error then wraps ErrNeedsRestart,
// and everything else was still applied. Queue and flush settings,
// Stderr and Sink keep their first values.
func (l *Logs) Reconfigure(cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	l.level.Set(cfg.Level)
	l.json.Store(cfg.Format == "json")
	l.app.file.set(&cfg)
	if l.access != nil {
		l.access.file.set(&cfg)
	}
	switch {
	case cfg.Dir != l.cfg.Dir:
		return fmt.Errorf("log dir: %w", ErrNeedsRestart)
	case cfg.AccessLog != l.cfg.AccessLog:
		return fmt.Errorf("access_log: %w", ErrNeedsRestart)
	}
	return nil
}
