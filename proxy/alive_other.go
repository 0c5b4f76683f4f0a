//go:build !unix && !windows

package proxy

import "net"

// probe is empty here: there is no non-blocking peek without a syscall
// package for it.
type probe struct{}

func (*probe) init(net.Conn) {}

// connAlive cannot peek without blocking here; a dead pooled conn shows
// up as a failed request, and one that sent stray bytes as a malformed
// response.
func connAlive(*upstreamConn) bool { return true }
