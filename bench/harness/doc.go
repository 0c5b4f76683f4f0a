// Package harness is Sluice's load-test harness: in one run it starts an
// origin (nginx serving a 64-byte body and a 1 GiB file, plus an upload
// sink), the peer proxies (privoxy, tinyproxy, squid), reference relays
// (nginx as a fixed reverse proxy, a fasthttp prototype, a bare Go splice
// relay) and Sluice itself, drives the same loads through each with wrk
// and curl in interleaved rounds, samples each proxy's memory from /proc,
// and prints one table of medians with Sluice's ratios and the PASS/FAIL
// of the targets in issues 2, 3, 6, 8 and 11.
//
// The harness owns only its own temporary directory and the processes it
// starts: everything listens on 127.0.0.1, every child runs in its own
// process group and is killed when the run ends (also on SIGINT/SIGTERM),
// and the temporary directory (with the 1 GiB file) is removed. It installs
// missing Debian packages with apt-get and stops the system service a fresh
// install may have started, but never touches a config file outside its
// temporary directory. It imports none of Sluice's own packages, only the
// test tray host (internal/snihost) that the tray tests use too: Sluice is
// measured as the built binary, as users run it.
package harness
