package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptrace"
	"net/netip"
	"strconv"
	"time"
)

// Dialer connects to host:port addresses, resolving through Resolver and
// racing the addresses Happy Eyeballs style (RFC 8305). The zero value
// resolves with the system resolver and uses the defaults below.
type Dialer struct {
	// Resolver looks names up. Nil means the system resolver
	// (net.DefaultResolver), for when [dns] enabled = false.
	Resolver *Resolver
	// Timeout bounds the whole dial, lookup included. Zero means 10s.
	Timeout time.Duration
	// FallbackDelay is how long one attempt runs before the next address
	// is tried alongside it. Zero means 250ms, the "Connection Attempt
	// Delay" RFC 8305 section 5 recommends.
	FallbackDelay time.Duration
}

const (
	defaultDialTimeout   = 10 * time.Second
	defaultFallbackDelay = 250 * time.Millisecond
)

// DialContext is Dial without the cache flag, for http.Transport and
// friends.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, _, err := d.Dial(ctx, network, address)
	return c, err
}

// Dial connects to address ("host:port") over network ("tcp", "tcp4" or
// "tcp6"). The connection is always a *net.TCPConn, never wrapped, so the
// proxy can splice it. dnsCached reports whether the lookup was answered
// without waiting for a DNS server. A name that does not exist fails with a
// *net.DNSError whose IsNotFound is set.
func (d *Dialer) Dial(ctx context.Context, network, address string) (c net.Conn, dnsCached bool, err error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, false, fmt.Errorf("dial %s: network %q is not supported, only tcp", address, network)
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, false, fmt.Errorf("dial %s: %w", address, err)
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = defaultDialTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	port, err := lookupPort(ctx, network, portStr)
	if err != nil {
		return nil, false, fmt.Errorf("dial %s: %w", address, err)
	}

	// Callers that time the lookup (the dashboard's request details) set
	// an httptrace.ClientTrace, as net/http's transport does.
	trace := httptrace.ContextClientTrace(ctx)
	if trace != nil && trace.DNSStart != nil {
		trace.DNSStart(httptrace.DNSStartInfo{Host: host})
	}
	addrs, dnsCached, err := d.lookup(ctx, host)
	if trace != nil && trace.DNSDone != nil {
		trace.DNSDone(httptrace.DNSDoneInfo{Err: err})
	}
	if err != nil {
		return nil, dnsCached, fmt.Errorf("dial %s: %w", address, err)
	}
	addrs = interleave(addrs, network)
	if len(addrs) == 0 {
		return nil, dnsCached, fmt.Errorf("dial %s: %w", address,
			&net.DNSError{Err: "no " + network + " address", Name: host, IsNotFound: true})
	}
	delay := d.FallbackDelay
	if delay <= 0 {
		delay = defaultFallbackDelay
	}
	c, err = race(ctx, addrs, port, delay)
	if err != nil {
		return nil, dnsCached, fmt.Errorf("dial %s: %w", address, err)
	}
	return c, dnsCached, nil
}

func (d *Dialer) lookup(ctx context.Context, host string) ([]netip.Addr, bool, error) {
	if d.Resolver != nil {
		return d.Resolver.LookupNetIP(ctx, host)
	}
	if ip, ok := parseIPLiteral(host); ok {
		return []netip.Addr{ip}, true, nil
	}
	if isLocalhost(canonicalName(host)) {
		return loopbackAddrs(), true, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, false, err
}

func lookupPort(ctx context.Context, network, s string) (uint16, error) {
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return uint16(n), nil
	}
	n, err := net.DefaultResolver.LookupPort(ctx, network, s)
	return uint16(n), err
}

// interleave keeps the addresses network allows and orders them IPv6,
// IPv4, IPv6, ... starting with the family of the first address (RFC 8305
// section 4), so one broken family costs one fallback delay, not many.
func interleave(addrs []netip.Addr, network string) []netip.Addr {
	var v6, v4 []netip.Addr
	for _, a := range addrs {
		switch {
		case a.Is4() || a.Is4In6():
			if network != "tcp6" {
				v4 = append(v4, a.Unmap())
			}
		case network != "tcp4":
			v6 = append(v6, a)
		}
	}
	first, second := v6, v4
	if len(addrs) > 0 && (addrs[0].Is4() || addrs[0].Is4In6()) {
		first, second = v4, v6
	}
	out := make([]netip.Addr, 0, len(v6)+len(v4))
	for i := 0; i < len(first) || i < len(second); i++ {
		if i < len(first) {
			out = append(out, first[i])
		}
		if i < len(second) {
			out = append(out, second[i])
		}
	}
	return out
}

// race connects to addrs in order, starting the next attempt when the
// previous one fails or after delay, whichever is first. The first
// connection wins; the other attempts are cancelled and any that connect
// anyway are closed. The error, if all fail, is the first attempt's: it is
// the preferred address and usually says most.
func race(ctx context.Context, addrs []netip.Addr, port uint16, delay time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		c   net.Conn
		err error
	}
	results := make(chan result, len(addrs))
	var nd net.Dialer
	next, inflight := 0, 0
	start := func() {
		addr := netip.AddrPortFrom(addrs[next], port).String()
		next++
		inflight++
		go func() {
			c, err := nd.DialContext(ctx, "tcp", addr)
			results <- result{c, err}
		}()
	}
	start()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var firstErr error
	for inflight > 0 {
		select {
		case res := <-results:
			inflight--
			if res.err == nil {
				cancel()
				// Losers still dialing return soon after cancel; close any
				// that connected in the meantime.
				go func(n int) {
					for range n {
						if r := <-results; r.c != nil {
							r.c.Close()
						}
					}
				}(inflight)
				return res.c, nil
			}
			if firstErr == nil {
				firstErr = res.err
			}
			if next < len(addrs) {
				start()
				timer.Reset(delay)
			}
		case <-timer.C:
			if next < len(addrs) {
				start()
				timer.Reset(delay)
			}
		}
	}
	if firstErr == nil {
		firstErr = errors.New("no address to dial")
	}
	return nil, firstErr
}
