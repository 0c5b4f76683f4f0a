//go:build linux

package soak

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// tally counts what the clients saw: outcomes per class of episode, and
// the three kinds of failure.
type tally struct {
	// crossTalk counts responses (or tunnel bytes) that belong to another
	// request: a different target in the path header, a 2xx without it,
	// echo bytes that differ from those sent.
	crossTalk atomic.Int64
	// corrupt counts responses for the right target whose body is wrong
	// although the origin sent it whole.
	corrupt atomic.Int64
	// failed counts requests that should have succeeded (good targets,
	// uploads, tunnels) and did not.
	failed atomic.Int64

	mu       sync.Mutex
	outcomes map[string]map[string]int64 // class → outcome → count
	samples  []string                    // the first problems of each kind, for the report
	perKind  map[string]int
	paths    []string // the request paths of those problems
}

// maxSamples is how many problems of each kind the report lists.
const maxSamples = 10

func newTally() *tally {
	return &tally{outcomes: map[string]map[string]int64{}, perKind: map[string]int{}}
}

// note counts one outcome of class.
func (t *tally) note(class, outcome string) {
	t.mu.Lock()
	m := t.outcomes[class]
	if m == nil {
		m = map[string]int64{}
		t.outcomes[class] = m
	}
	m[outcome]++
	t.mu.Unlock()
}

// sample records a problem of kind for the report; target is the request
// it happened to, "" if none.
func (t *tally) sample(kind, target, format string, args ...any) {
	t.mu.Lock()
	if t.perKind[kind] < maxSamples {
		t.perKind[kind]++
		t.samples = append(t.samples, kind+": "+fmt.Sprintf(format, args...))
		if path, _, _ := strings.Cut(target, "?"); path != "" {
			t.paths = append(t.paths, path)
		}
	}
	t.mu.Unlock()
}

func (t *tally) crossed(target, format string, args ...any) {
	t.crossTalk.Add(1)
	t.sample("cross-talk", target, format, args...)
}

func (t *tally) corrupted(target, format string, args ...any) {
	t.corrupt.Add(1)
	t.sample("corrupt", target, format, args...)
}

func (t *tally) fail(target, format string, args ...any) {
	t.failed.Add(1)
	t.sample("failed", target, format, args...)
}

// problemPaths returns the paths of the requests in the samples.
func (t *tally) problemPaths() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.paths)
}

// episodes returns the number of outcomes counted.
func (t *tally) episodes() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for _, m := range t.outcomes {
		for _, v := range m {
			n += v
		}
	}
	return n
}

// table writes the outcomes per class, one line each, sorted.
func (t *tally) table() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	classes := make([]string, 0, len(t.outcomes))
	for c := range t.outcomes {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	var b strings.Builder
	b.WriteString("| class | outcomes |\n|---|---|\n")
	for _, c := range classes {
		m := t.outcomes[c]
		outs := make([]string, 0, len(m))
		for o := range m {
			outs = append(outs, o)
		}
		slices.SortFunc(outs, func(a, b string) int { return int(m[b] - m[a]) })
		parts := make([]string, len(outs))
		for i, o := range outs {
			parts[i] = fmt.Sprintf("%s ×%d", o, m[o])
		}
		fmt.Fprintf(&b, "| %s | %s |\n", c, strings.Join(parts, ", "))
	}
	return b.String()
}
