// Package soak is Sluice's soak test (make soak): minutes of mixed load
// through a built Sluice binary with faults injected on both sides, to
// find what short tests cannot: goroutines, file descriptors or memory
// that a fault leaves behind, and responses delivered to the wrong client.
//
// One run starts, all on 127.0.0.1:
//   - an origin (origin.go) that answers by path: good responses whose
//     header and body name the request's unique path, and faults (a reset,
//     a stall, garbage, a response followed by extra bytes that form a
//     second response, a short body, a 204 or HEAD answer with a body);
//   - an echo server, the target of CONNECT tunnels;
//   - Sluice (`sluice run --headless`) with short timeouts, so that the
//     faults' effects end within the quiet periods;
//   - client workers (clients.go): keep-alive GETs mixed with the fault
//     paths on the same connections, pipelined GETs, uploads, tunnels, and
//     clients that stall, abort mid-body, never read, or send oversized or
//     garbage heads.
//
// It warms up, waits for quiet, reads Sluice's goroutines (go_goroutines
// from /metrics), open fds (/proc/PID/fd) and RSS (/proc/PID/status), runs
// the load for the set duration, waits for quiet again and reads them
// again (probe.go). The run fails if any figure grew beyond its tolerance,
// if any client received a response that names another request's path, if
// a request that should succeed failed, or if Sluice exited.
//
// Every worker stops at the end of its phase and after a bounded number of
// episodes, and every network operation has a deadline. The package owns
// only the processes and the temporary directory it makes; it measures
// Sluice as the built binary and does not import Sluice's packages.
package soak
