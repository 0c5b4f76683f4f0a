//go:build linux

package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// figures are what the soak watches in Sluice: a reading, or the median
// of several.
type figures struct {
	// Goroutines is go_goroutines from /metrics.
	Goroutines int64
	// FDs counts /proc/PID/fd; Pipes and Sockets are the pipes (Go's
	// splice pipes) and sockets among them.
	FDs, Pipes, Sockets int64
	// RSS is VmRSS, split into RssAnon (heap, stacks) and RssFile (the
	// binary's pages), in bytes.
	RSS, Anon, File int64
	// From /stats: open client connections, tunnels, idle pooled
	// upstream connections.
	Conns, Tunnels, PoolIdle int64
}

// probe reads Sluice's figures.
type probe struct {
	pid    int
	addr   string
	client *http.Client
}

func newProbe(pid int, addr string) *probe {
	// No keep-alive: a connection left open would be one more fd and
	// goroutine in the next reading.
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	return &probe{pid: pid, addr: addr, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// read takes one reading. The fds come first, before this reading's own
// connections to /metrics and /stats exist.
func (p *probe) read(ctx context.Context) (figures, error) {
	var f figures
	if err := p.readFDs(&f); err != nil {
		return f, err
	}
	if err := p.readStatus(&f); err != nil {
		return f, err
	}
	g, err := p.goroutines(ctx)
	if err != nil {
		return f, err
	}
	f.Goroutines = g
	var st struct {
		ConnsActive   int64 `json:"conns_active"`
		TunnelsActive int64 `json:"tunnels_active"`
		Upstream      struct {
			PoolIdle int64 `json:"pool_idle"`
		} `json:"upstream"`
	}
	if err := p.getJSON(ctx, "/stats", &st); err != nil {
		return f, err
	}
	// This reading's own connection to /stats is open while it counts.
	f.Conns, f.Tunnels, f.PoolIdle = st.ConnsActive-1, st.TunnelsActive, st.Upstream.PoolIdle
	return f, nil
}

// median takes n readings gap apart and returns each figure's median.
func (p *probe) median(ctx context.Context, n int, gap time.Duration) (figures, error) {
	var rs []figures
	for i := range n {
		if i > 0 {
			select {
			case <-ctx.Done():
				return figures{}, ctx.Err()
			case <-time.After(gap):
			}
		}
		f, err := p.read(ctx)
		if err != nil {
			return figures{}, err
		}
		rs = append(rs, f)
	}
	med := func(get func(figures) int64) int64 {
		v := make([]int64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return figures{
		Goroutines: med(func(f figures) int64 { return f.Goroutines }),
		FDs:        med(func(f figures) int64 { return f.FDs }),
		Pipes:      med(func(f figures) int64 { return f.Pipes }),
		Sockets:    med(func(f figures) int64 { return f.Sockets }),
		RSS:        med(func(f figures) int64 { return f.RSS }),
		Anon:       med(func(f figures) int64 { return f.Anon }),
		File:       med(func(f figures) int64 { return f.File }),
		Conns:      med(func(f figures) int64 { return f.Conns }),
		Tunnels:    med(func(f figures) int64 { return f.Tunnels }),
		PoolIdle:   med(func(f figures) int64 { return f.PoolIdle }),
	}, nil
}

func (p *probe) readFDs(f *figures) error {
	dir := fmt.Sprintf("/proc/%d/fd", p.pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("count fds: %w", err)
	}
	f.FDs = int64(len(ents))
	for _, e := range ents {
		link, err := os.Readlink(dir + "/" + e.Name())
		switch {
		case err != nil:
		case strings.HasPrefix(link, "pipe:"):
			f.Pipes++
		case strings.HasPrefix(link, "socket:"):
			f.Sockets++
		}
	}
	return nil
}

func (p *probe) readStatus(f *figures) error {
	file, err := os.Open(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return fmt.Errorf("read memory: %w", err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &f.RSS
		case "RssAnon":
			dst = &f.Anon
		case "RssFile":
			dst = &f.File
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return fmt.Errorf("parse %s %q: %w", name, rest, err)
		}
		*dst = kb << 10
	}
	return sc.Err()
}

// goroutines reads go_goroutines from /metrics.
func (p *probe) goroutines(ctx context.Context) (int64, error) {
	resp, err := p.get(ctx, "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("/metrics: go_goroutines %q: %w", v, err)
			}
			return int64(n), nil
		}
	}
	return 0, fmt.Errorf("/metrics has no go_goroutines (status %d)", resp.StatusCode)
}

func (p *probe) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return resp, nil
}

func (p *probe) getJSON(ctx context.Context, path string, v any) error {
	resp, err := p.get(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("read %s: status %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}
