//go:build race

package proxy

// raceEnabled is true under the race detector, where sync.Pool drops a
// quarter of what is put back on purpose, so the standard library's
// pooled objects (the splice pipes among them) are made anew that often.
const raceEnabled = true
