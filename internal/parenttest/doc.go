// Package parenttest runs real parent proxies for tests: squid as an
// HTTP parent and microsocks as a SOCKS5 one, each in the foreground on
// a free loopback port with a private config, killed when the test ends.
// A test that calls it is skipped, naming the Debian package, when the
// program is not installed.
//
// It is imported only by _test.go files (packages proxy, route, app and
// cmd/sluice); it must not import any Sluice package.
//
//	squid.go      Squid: start, kill, access log, Basic credentials
//	microsocks.go Microsocks
package parenttest
