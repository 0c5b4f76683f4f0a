package tray

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestStatsLines(t *testing.T) {
	tests := []struct {
		name string
		in   Stats
		want []string
	}{
		{
			name: "no traffic yet",
			in:   Stats{},
			want: []string{
				"Requests: 0.0/s · 0 total",
				"Connections: 0 · tunnels: 0",
				"↓ 0 B/s · ↑ 0 B/s",
				"Latency p50 — · p95 — · p99 —",
				"DNS cache hits: —",
				"HTTP cache hits: —",
				"Upstream reuse: —",
				"Errors: 0.0/s",
			},
		},
		{
			name: "busy",
			in: Stats{
				Requests:       1234567,
				RequestsPerSec: 15234.4,
				ActiveConns:    1024,
				ActiveTunnels:  7,
				DownPerSec:     12_345_678,
				UpPerSec:       2_500,
				P50:            1500 * time.Microsecond,
				P95:            87 * time.Millisecond,
				P99:            2345 * time.Millisecond,
				DNSHits:        999,
				DNSMisses:      1,
				CacheHits:      3,
				CacheMisses:    2,
				CacheSaved:     1_500_000_000,
				UpstreamReused: 3,
				UpstreamDialed: 1,
				ErrorsPerSec:   2.25,
			},
			want: []string{
				"Requests: 15,234/s · 1,234,567 total",
				"Connections: 1,024 · tunnels: 7",
				"↓ 12 MB/s · ↑ 2.5 KB/s",
				"Latency p50 1.5 ms · p95 87 ms · p99 2.3 s",
				"DNS cache hits: 99%",
				"HTTP cache hits: 60% · 1.5 GB saved",
				"Upstream reuse: 75%",
				"Errors: 2.2/s",
			},
		},
		{
			name: "all hits, all reuse",
			in:   Stats{RequestsPerSec: 9.96, DNSHits: 5, UpstreamReused: 100, DownPerSec: 999, UpPerSec: 999_600},
			want: []string{
				"Requests: 10.0/s · 0 total",
				"Connections: 0 · tunnels: 0",
				"↓ 999 B/s · ↑ 1.0 MB/s",
				"Latency p50 — · p95 — · p99 —",
				"DNS cache hits: 100%",
				"HTTP cache hits: —",
				"Upstream reuse: 100%",
				"Errors: 0.0/s",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := statsLines(tt.in)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("statsLines:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestByteRateUnits(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0 B/s"},
		{512.4, "512 B/s"},
		{1000, "1.0 KB/s"},
		{9_949, "9.9 KB/s"},
		{9_950, "10 KB/s"},
		{999_499, "999 KB/s"},
		{1_500_000_000, "1.5 GB/s"},
		{3e15, "3000 TB/s"},
	}
	for _, tt := range tests {
		if got := byteRate(tt.in); got != tt.want {
			t.Errorf("byteRate(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCountSeparators(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {-1234567, "-1,234,567"}, {100000, "100,000"},
	}
	for _, tt := range tests {
		if got := count(tt.in); got != tt.want {
			t.Errorf("count(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLatencyFormat(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "—"},
		{-time.Millisecond, "—"},
		{400 * time.Microsecond, "0.4 ms"},
		{9949 * time.Microsecond, "9.9 ms"},
		{10 * time.Millisecond, "10 ms"},
		{999 * time.Millisecond, "999 ms"},
		{time.Second, "1.0 s"},
	}
	for _, tt := range tests {
		if got := latency(tt.in); got != tt.want {
			t.Errorf("latency(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTitleProblemTooltipAndState(t *testing.T) {
	inUse := errors.New("port 8877 is in use: set [proxy] listen in config.toml")
	badCfg := errors.New("config.toml line 3: [proxy] pool_max_idle_per_host = \"lots\":\nwant an integer")
	clickErr := errors.New("gsettings: not found")
	tests := []struct {
		name                string
		listenErr, cfgErr   error
		actionErr           error
		alert               string
		proxyOn             bool
		wantTitle, wantProb string
		wantTip             string
		wantState           State
	}{
		{
			name:      "off",
			wantTitle: "Sluice — 127.0.0.1:8877", wantTip: "Sluice: system proxy off\n127.0.0.1:8877 · 3.5/s",
			wantState: StateOff,
		},
		{
			name: "on", proxyOn: true,
			wantTitle: "Sluice — 127.0.0.1:8877", wantTip: "Sluice: system proxy on\n127.0.0.1:8877 · 3.5/s",
			wantState: StateOn,
		},
		{
			name: "listener failed", listenErr: inUse, proxyOn: true,
			wantTitle: "Sluice — port 8877 is in use: set [proxy] listen in config.toml",
			wantTip:   "Sluice: port 8877 is in use: set [proxy] listen in config.toml",
			wantState: StateError,
		},
		{
			name: "bad config outranks a failed click", cfgErr: badCfg, actionErr: clickErr,
			wantTitle: "Sluice — 127.0.0.1:8877",
			wantProb:  "⚠ config.toml line 3: [proxy] pool_max_idle_per_host = \"lots\": want an integer",
			wantTip:   "Sluice: error\n127.0.0.1:8877 · 3.5/s",
			wantState: StateError,
		},
		{
			name: "alert", alert: "Sluice: 12% of requests failed",
			wantTitle: "Sluice — 127.0.0.1:8877", wantProb: "⚠ Sluice: 12% of requests failed",
			wantTip:   "Sluice: system proxy off\n127.0.0.1:8877 · 3.5/s",
			wantState: StateOff,
		},
		{
			name: "failed click outranks an alert", actionErr: clickErr, alert: "Sluice: upstream down",
			wantTitle: "Sluice — 127.0.0.1:8877", wantProb: "⚠ gsettings: not found",
			wantTip:   "Sluice: system proxy off\n127.0.0.1:8877 · 3.5/s",
			wantState: StateOff,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stateOf(tt.listenErr, tt.cfgErr, tt.proxyOn)
			if st != tt.wantState {
				t.Errorf("state = %v, want %v", st, tt.wantState)
			}
			if got := titleLine("127.0.0.1:8877", tt.listenErr); got != tt.wantTitle {
				t.Errorf("title = %q, want %q", got, tt.wantTitle)
			}
			if got := problemLine(tt.cfgErr, tt.actionErr, tt.alert); got != tt.wantProb {
				t.Errorf("problem = %q, want %q", got, tt.wantProb)
			}
			if got := tooltip(st, "127.0.0.1:8877", tt.listenErr, 3.5); got != tt.wantTip {
				t.Errorf("tooltip = %q, want %q", got, tt.wantTip)
			}
		})
	}
}

func TestOneLineCutsLongMessages(t *testing.T) {
	long := strings.Repeat("x", 200)
	got := oneLine(long)
	if n := utf8.RuneCountInString(got); n != maxLabel {
		t.Errorf("oneLine kept %d runes, want %d", n, maxLabel)
	}
	if !strings.HasSuffix(got, "…") {
		t.Errorf("oneLine(%q…) = %q, want a trailing ellipsis", long[:10], got)
	}
	if got := oneLine("a\n  b\tc"); got != "a b c" {
		t.Errorf("oneLine folds whitespace: got %q", got)
	}
}

func TestUpstreamsDownLine(t *testing.T) {
	for _, c := range []struct {
		down []string
		want string
	}{
		{nil, ""},
		{[]string{"corp"}, "⚠ Upstream down: corp"},
		{[]string{"corp", "backup"}, "⚠ Upstreams down: corp, backup"},
	} {
		if got := upstreamsDownLine(c.down); got != c.want {
			t.Errorf("upstreamsDownLine(%v) = %q, want %q", c.down, got, c.want)
		}
	}
}
