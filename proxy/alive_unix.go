//go:build unix

package proxy

// peekState is the one-byte buffer a non-blocking MSG_PEEK reads into
// (peekNothing, peek_linux.go and peek_unix.go).
type peekState struct{ b [1]byte }

func canPeek() bool { return true }

func (s *peekState) nothingToRead(fd uintptr) bool { return peekNothing(fd, &s.b) }
