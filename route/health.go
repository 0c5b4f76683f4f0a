package route

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// recheckDelay is how soon a parent that failed a real request is checked
// again: soon enough that a parent that blinked is back within seconds,
// late enough that a burst of failures makes one check, not one each.
const recheckDelay = time.Second

// maxCheckTimeout bounds one check; a check also ends within its interval.
const maxCheckTimeout = 10 * time.Second

// checkLoop checks u until ctx ends: at once, then every interval, and
// recheckDelay after a real request through it failed. Requests never
// wait for it; they read the state it leaves.
func (r *Router) checkLoop(ctx context.Context, u *upstream) {
	dial := r.cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	timeout := min(u.checkInterval, maxCheckTimeout)
	tr := &http.Transport{
		// The check goes through the parent, as the relay will: an
		// http or https parent gets the request in absolute form (or
		// CONNECT for an https check URL), a SOCKS5 one a tunnel.
		Proxy:               http.ProxyURL(u.url),
		DialContext:         dial,
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: timeout,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// A redirect is an answer: the parent relayed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-u.recheck:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(recheckDelay)
			continue
		}
		r.checkOnce(ctx, client, u)
		timer.Reset(u.checkInterval)
	}
}

// checkOnce fetches the check URL through u and records the outcome.
func (r *Router) checkOnce(ctx context.Context, client *http.Client, u *upstream) {
	start := time.Now()
	err := fetch(ctx, client, u.checkURL)
	rtt := time.Since(start)
	if ctx.Err() != nil {
		return
	}
	u.lastCheck.Store(time.Now().UnixNano())
	wasDown := u.down.Load()
	if err != nil {
		msg := err.Error()
		u.lastErr.Store(&msg)
		u.down.Store(true)
		if !wasDown {
			r.log.Warn("upstream is down", "upstream", u.p.Name, "check_url", u.checkURL, "err", err)
		}
		return
	}
	u.lastErr.Store(nil)
	u.rtt.Store(max(int64(rtt), 1))
	u.down.Store(false)
	if wasDown {
		r.log.Info("upstream is up", "upstream", u.p.Name, "rtt", rtt.Round(time.Millisecond))
	}
}

// fetch GETs url and says why the answer does not show a working
// parent: no answer, 407 (the parent refused Sluice's credentials) or a
// 5xx (a parent's own error: it could not reach the check URL).
func fetch(ctx context.Context, client *http.Client, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusProxyAuthRequired:
		return errors.New("the parent refused the credentials in the upstream URL (407)")
	case resp.StatusCode >= 500:
		return fmt.Errorf("the check URL answered %s through the parent", resp.Status)
	}
	return nil
}
