package resolver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size we advertise: the DNS Flag Day 2020 value,
// small enough to avoid IP fragmentation on any real path.
const ednsSize = 1232

// upstream is one server that can answer one query.
type upstream interface {
	// exchange sends q and returns a reply that matchResponse accepted. The
	// caller bounds the time with ctx.
	exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error)
	String() string
}

// plainUpstream speaks classic DNS: UDP first, TCP when the UDP reply is
// truncated (RFC 7766 section 5).
type plainUpstream struct {
	addr    string
	timeout time.Duration
}

func (u *plainUpstream) String() string { return u.addr }

func (u *plainUpstream) exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	m, err := exchangeConn(ctx, "udp", u.addr, nil, q, u.timeout)
	if err != nil || !m.Truncated {
		return m, err
	}
	return exchangeConn(ctx, "tcp", u.addr, nil, q, u.timeout)
}

// tlsUpstream speaks DNS over TLS (RFC 7858), one connection per query.
type tlsUpstream struct {
	addr    string
	tls     *tls.Config
	timeout time.Duration
}

func (u *tlsUpstream) String() string { return "tls://" + u.addr }

func (u *tlsUpstream) exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	return exchangeConn(ctx, "tcp-tls", u.addr, u.tls, q, u.timeout)
}

// exchangeConn does one query over a fresh connection. Over UDP a reply that
// does not match is skipped, since anyone can send us datagrams; over a
// stream it is an error.
func exchangeConn(ctx context.Context, network, addr string, tlsConf *tls.Config, q *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := dns.Client{Net: network, TLSConfig: tlsConf, Timeout: timeout}
	co, err := c.DialContext(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	deadline, _ := ctx.Deadline()
	co.SetDeadline(deadline)
	// Close (through ctx) must not wait for the deadline.
	stop := context.AfterFunc(ctx, func() { co.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	co.UDPSize = 4096 // read buffer; larger than what we advertise
	if err := co.WriteMsg(q); err != nil {
		return nil, err
	}
	udp := network == "udp"
	for {
		raw, err := co.ReadMsgHeader(nil)
		if err != nil {
			if isTimeout(err) {
				if errors.Is(ctx.Err(), context.Canceled) {
					return nil, ctx.Err()
				}
				return nil, fmt.Errorf("no answer within %v: %w", timeout, context.DeadlineExceeded)
			}
			return nil, err
		}
		m, err := decodeResponse(q, raw)
		if err == nil {
			return m, nil
		}
		// A truncated reply may not unpack completely; its header is enough
		// to move to TCP.
		if udp && m != nil && m.Truncated && m.Id == q.Id && m.Response {
			return m, nil
		}
		if !udp {
			return nil, err
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// httpsUpstream speaks DNS over HTTPS (RFC 8484) with POST.
type httpsUpstream struct {
	url     string
	client  *http.Client
	timeout time.Duration
}

func newHTTPSUpstream(url string, tlsConf *tls.Config, timeout time.Duration) *httpsUpstream {
	tr := &http.Transport{
		// Never Proxy: the system proxy may be Sluice itself.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		TLSClientConfig:     tlsConf,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: timeout,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 2,
	}
	client := &http.Client{
		Transport: tr,
		// A redirect would turn the POST into a GET without a query; the
		// configured URL is the endpoint or it is wrong.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &httpsUpstream{url: url, client: client, timeout: timeout}
}

func (u *httpsUpstream) String() string { return u.url }

func (u *httpsUpstream) exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	// RFC 8484 section 4.1: the ID should be 0 so HTTP caches can share
	// replies; TLS already ties the reply to the request.
	wq := q.Copy()
	wq.Id = 0
	body, err := wq.Pack()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/dns-message")
	req.Header.Set("Accept", "application/dns-message")
	resp, err := u.client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("no answer within %v: %w", u.timeout, context.DeadlineExceeded)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("server answered HTTP %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/dns-message" {
		return nil, fmt.Errorf("server answered with Content-Type %q, want application/dns-message", ct)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, dns.MaxMsgSize+1))
	if err != nil {
		return nil, fmt.Errorf("read reply: %w", err)
	}
	if len(raw) > dns.MaxMsgSize {
		return nil, errors.New("reply larger than a DNS message can be")
	}
	m, err := decodeResponse(wq, raw)
	if err != nil {
		return nil, err
	}
	m.Id = q.Id
	return m, nil
}

func (u *httpsUpstream) close() {
	u.client.CloseIdleConnections()
}
