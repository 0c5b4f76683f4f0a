//go:build linux

package harness

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Transfer describes one large transfer made with curl.
type Transfer struct {
	// Proxy is the proxy's "host:port"; empty goes direct.
	Proxy string
	// Tunnel asks the proxy for a CONNECT tunnel (curl --proxytunnel)
	// and sends the request inside it.
	Tunnel bool
	// SOCKS5h is a SOCKS5 proxy's "host:port" to go through instead
	// (curl --socks5-hostname: the name goes to the proxy).
	SOCKS5h string
	// URL is fetched, or posted to when Upload is set.
	URL string
	// Upload names a file streamed as a POST body (curl -T, which reads
	// the file as it sends instead of loading it whole).
	Upload string
	// Size is the body size expected to arrive; anything else is an error.
	Size int64
	// MaxTime bounds the transfer.
	MaxTime time.Duration
}

// RunTransfer runs t and returns its speed in bytes per second as curl
// measured it (bytes over the whole transfer time, connection setup
// included).
func RunTransfer(ctx context.Context, t Transfer) (float64, error) {
	args := []string{"-sS", "-o", "/dev/null", "--max-time", strconv.Itoa(int(t.MaxTime.Seconds())),
		"-w", "%{http_code} %{size_download} %{size_upload} %{speed_download} %{speed_upload}"}
	if t.Proxy != "" {
		args = append(args, "-x", "http://"+t.Proxy)
		if t.Tunnel {
			args = append(args, "--proxytunnel")
		}
	}
	if t.SOCKS5h != "" {
		args = append(args, "--socks5-hostname", t.SOCKS5h)
	}
	if t.Upload != "" {
		// An empty Expect stops curl from waiting for 100-continue,
		// which some proxies never send (curl then waits 1s).
		args = append(args, "-X", "POST", "-T", t.Upload, "-H", "Expect:")
	}
	args = append(args, t.URL)
	out, err := exec.CommandContext(ctx, "curl", args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("curl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	f := strings.Fields(string(out))
	if len(f) != 5 {
		return 0, fmt.Errorf("curl %s: unexpected -w output %q", strings.Join(args, " "), out)
	}
	if f[0] != "200" {
		return 0, fmt.Errorf("curl %s: status %s", strings.Join(args, " "), f[0])
	}
	sizeField, speedField := f[1], f[3]
	if t.Upload != "" {
		sizeField, speedField = f[2], f[4]
	}
	size, err := strconv.ParseFloat(sizeField, 64)
	if err != nil || int64(size) != t.Size {
		return 0, fmt.Errorf("curl %s: moved %s bytes, want %d", strings.Join(args, " "), sizeField, t.Size)
	}
	speed, err := strconv.ParseFloat(speedField, 64)
	if err != nil {
		return 0, fmt.Errorf("curl %s: speed %q: %w", strings.Join(args, " "), speedField, err)
	}
	return speed, nil
}
