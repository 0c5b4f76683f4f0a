package proxy

import (
	"sync"
	"time"
)

// slots bounds the client connections served at once (max_concurrent). A
// connection over the limit waits, first come first served, until one
// ends or its wait runs out.
//
// A buffered channel or golang.org/x/sync/semaphore would fix the limit
// when made, but max_concurrent changes on reload while connections hold
// slots. One semaphore per config generation would let the old
// connections and the new each fill their own, serving up to twice the
// limit across a reload. So slots is a count under a mutex, checked
// against the current limit: a lowered limit admits no one until enough
// connections end, a raised one wakes waiters at once. sync.Cond has no
// timed wait, so each waiter has a channel of its own, closed when it is
// given a slot.
type slots struct {
	mu      sync.Mutex
	used    int             // guarded by mu
	limit   int             // guarded by mu
	waiters []chan struct{} // guarded by mu; oldest first
}

// tryAcquire takes a slot if one is free now.
func (s *slots) tryAcquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// No one waits while a slot is free: grant hands it over first.
	if s.used < s.limit {
		s.used++
		return true
	}
	return false
}

// acquire takes a slot, waiting up to wait for one to be freed. It
// reports whether it got one.
func (s *slots) acquire(wait time.Duration) bool {
	s.mu.Lock()
	if s.used < s.limit {
		s.used++
		s.mu.Unlock()
		return true
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-ch:
		return true // granted as the wait ran out
	default:
	}
	for i, w := range s.waiters {
		if w == ch {
			s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
			break
		}
	}
	return false
}

// release frees a slot taken by tryAcquire or acquire.
func (s *slots) release() {
	s.mu.Lock()
	s.used--
	s.grant()
	s.mu.Unlock()
}

// setLimit applies a new max_concurrent. Connections over a lowered
// limit keep their slots; no waiter gets one until the count is under it.
func (s *slots) setLimit(n int) {
	s.mu.Lock()
	s.limit = n
	s.grant()
	s.mu.Unlock()
}

// grant hands free slots to the oldest waiters; mu is held.
func (s *slots) grant() {
	for s.used < s.limit && len(s.waiters) > 0 {
		close(s.waiters[0])
		s.waiters[0] = nil
		s.waiters = s.waiters[1:]
		s.used++
	}
}
