package logs

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
)

// appWriter is what the slog handlers write to: each Write is one whole
// record (slog's built-in handlers write a record in one call), copied
// and queued.
type appWriter struct{ s *stream[[]byte] }

func (w appWriter) Write(p []byte) (int, error) {
	b := append([]byte(nil), p...)
	w.s.put(&b)
	return len(p), nil
}

// switchHandler holds a JSON and a text handler over the same writer and
// uses the one the current format names, so Reconfigure can change the
// format of loggers already handed out (including ones made by With).
type switchHandler struct {
	json, text slog.Handler
	useJSON    *atomic.Bool
}

func (h *switchHandler) pick() slog.Handler {
	if h.useJSON.Load() {
		return h.json
	}
	return h.text
}

func (h *switchHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.pick().Enabled(ctx, l)
}

func (h *switchHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.pick().Handle(ctx, r)
}

func (h *switchHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &switchHandler{json: h.json.WithAttrs(attrs), text: h.text.WithAttrs(attrs), useJSON: h.useJSON}
}

func (h *switchHandler) WithGroup(name string) slog.Handler {
	return &switchHandler{json: h.json.WithGroup(name), text: h.text.WithGroup(name), useJSON: h.useJSON}
}

// teeHandler sends each record to two handlers: the app log file and its
// text copy on the terminal.
type teeHandler struct{ a, b slog.Handler }

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.a.Enabled(ctx, l) || h.b.Enabled(ctx, l)
}

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var errA, errB error
	if h.a.Enabled(ctx, r.Level) {
		errA = h.a.Handle(ctx, r.Clone())
	}
	if h.b.Enabled(ctx, r.Level) {
		errB = h.b.Handle(ctx, r)
	}
	return errors.Join(errA, errB)
}

func (h teeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return teeHandler{h.a.WithAttrs(attrs), h.b.WithAttrs(attrs)}
}

func (h teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{h.a.WithGroup(name), h.b.WithGroup(name)}
}
