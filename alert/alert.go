package alert

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Kind names an alert.
type Kind string

// The alert kinds, as [alerts] names them.
const (
	ErrorRate    Kind = "error_rate"
	UpstreamDown Kind = "upstream_down"
)

// Window is the span the error rate is taken over; Quiet the least time
// between two notifications of one kind; MinRequests the fewest requests
// in Window for the error rate to count (two failures out of three is
// no trend). packaging/prometheus/sluice-alerts.yml uses the same.
const (
	Window      = time.Minute
	Quiet       = 5 * time.Minute
	MinRequests = 20
)

// Config is the [alerts] section.
type Config struct {
	// ErrorRate alerts when more than this share of the requests in the
	// last minute failed; 0 turns the alert off.
	ErrorRate float64
	// UpstreamDown alerts when an upstream proxy goes down.
	UpstreamDown bool
}

// Sample is the figures at one moment.
type Sample struct {
	Time time.Time
	// Requests and Errors count finished and failed requests since the
	// start (stats.Snapshot's Requests and Errors).
	Requests, Errors int64
	// Down names the upstream proxies that are down now; empty without
	// routing.
	Down []string
}

// Notifier shows a desktop notification.
type Notifier interface {
	Notify(title, body string) error
}

// Watcher checks samples against the rules. Its methods are safe for
// concurrent use.
type Watcher struct {
	notifier Notifier
	log      *slog.Logger

	mu       sync.Mutex
	cfg      Config
	samples  []Sample // the last Window of samples, oldest first
	notified map[Kind]time.Time
	active   map[Kind]string
}

// New returns a Watcher that notifies through n.
func New(cfg Config, n Notifier, log *slog.Logger) *Watcher {
	return &Watcher{cfg: cfg, notifier: n, log: log, notified: map[Kind]time.Time{}, active: map[Kind]string{}}
}

// SetConfig applies a reloaded [alerts] section.
func (w *Watcher) SetConfig(cfg Config) {
	w.mu.Lock()
	w.cfg = cfg
	w.mu.Unlock()
}

// Active returns the alerts whose trouble lasts, one line each, in a
// fixed order.
func (w *Watcher) Active() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lines []string
	for _, k := range []Kind{ErrorRate, UpstreamDown} {
		if s, ok := w.active[k]; ok {
			lines = append(lines, s)
		}
	}
	return lines
}

// Run samples every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context, interval time.Duration, sample func() Sample) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.Check(sample())
		}
	}
}

// Check adds s and raises or clears each alert; a raised alert notifies
// unless its kind notified less than Quiet ago.
func (w *Watcher) Check(s Sample) {
	w.mu.Lock()
	w.samples = append(w.samples, s)
	// Keep the newest sample at least Window old, as the base.
	for len(w.samples) > 1 && s.Time.Sub(w.samples[1].Time) >= Window {
		w.samples = w.samples[1:]
	}
	type raised struct {
		kind        Kind
		title, body string
	}
	var raise []raised
	set := func(k Kind, on bool, title, body string) {
		if !on {
			delete(w.active, k)
			return
		}
		w.active[k] = title + ": " + body
		if last, ok := w.notified[k]; !ok || s.Time.Sub(last) >= Quiet {
			w.notified[k] = s.Time
			raise = append(raise, raised{k, title, body})
		}
	}
	base := w.samples[0]
	req, errs := s.Requests-base.Requests, s.Errors-base.Errors
	rate := 0.0
	if req > 0 {
		rate = float64(errs) / float64(req)
	}
	on := w.cfg.ErrorRate > 0 && req >= MinRequests && rate > w.cfg.ErrorRate
	set(ErrorRate, on, fmt.Sprintf("Sluice: %.0f%% of requests failed", rate*100),
		fmt.Sprintf("%d of %d in the last %s (alert above %.0f%%; the dashboard and the log say why)", errs, req, s.Time.Sub(base.Time).Round(time.Second), w.cfg.ErrorRate*100))
	set(UpstreamDown, w.cfg.UpstreamDown && len(s.Down) > 0, "Sluice: upstream down",
		strings.Join(s.Down, ", ")+" cannot be reached; requests routed through it fail or take another member of its group")
	w.mu.Unlock()

	// Outside the lock: a notification may take a while (D-Bus, a
	// process start).
	for _, r := range raise {
		if err := w.notifier.Notify(r.title, r.body); err != nil {
			w.log.Warn("show an alert notification", "alert", string(r.kind), "err", err)
		}
		w.log.Warn("alert: "+r.title, "alert", string(r.kind), "detail", r.body)
	}
}
