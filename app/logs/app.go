package logs

import (
	"context"
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
