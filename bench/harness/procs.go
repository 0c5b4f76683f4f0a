//go:build linux

package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process the harness started.
type Proc struct {
	// Name labels the process in messages ("squid", "origin").
	Name string

	cmd  *exec.Cmd
	out  *capBuffer
	done chan struct{}
	err  error // set before done is closed
}

// Pid returns the child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the child has exited, and its wait error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Output returns the tail of the child's combined stdout and stderr.
func (p *Proc) Output() string { return p.out.String() }

// Procs starts children and kills them all on StopAll. Each child gets its
// own process group, so that a forking server (nginx's master and worker)
// dies as a whole, and PDEATHSIG, so that no child outlives a harness that
// was killed with SIGKILL.
type Procs struct {
	mu   sync.Mutex
	list []*Proc
}

// Start starts cmd as a supervised child.
func (ps *Procs) Start(name string, cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{Name: name, cmd: cmd, out: &capBuffer{max: 16 << 10}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.out
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

// Stop sends SIGTERM to p's process group, waits up to grace for it to
// exit, then kills the group.
func (ps *Procs) Stop(p *Proc, grace time.Duration) {
	pgid := p.cmd.Process.Pid
	if exited, _ := p.Exited(); !exited {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	// The group may hold workers even after the leader exited.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// StopAll stops every child, in reverse start order, concurrently enough
// that a slow shutdown (squid's) does not hold up the rest.
func (ps *Procs) StopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for i := len(list) - 1; i >= 0; i-- {
		wg.Add(1)
		go func(p *Proc) {
			defer wg.Done()
			ps.Stop(p, 3*time.Second)
		}(list[i])
	}
	wg.Wait()
}

// WaitListening dials addr until it accepts a connection, p exits, ctx ends
// or timeout passes.
func WaitListening(ctx context.Context, p *Proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil {
			if exited, werr := p.Exited(); exited {
				return fmt.Errorf("%s exited before listening on %s (%v); its output:\n%s", p.Name, addr, werr, p.Output())
			}
		}
		if time.Now().After(deadline) {
			name := addr
			if p != nil {
				name = p.Name + " on " + addr
			}
			return fmt.Errorf("%s did not accept connections within %s: %w", name, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// FreePort returns a loopback port nothing listens on right now. Another
// process could take it before the child binds it; on this machine that
// race is rare, and the child's start then fails loudly.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// capBuffer keeps the last max bytes written to it.
type capBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *capBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// errSkipped marks a target that could not be set up; the run goes on
// without it and the table shows "n/a".
var errSkipped = errors.New("skipped")
