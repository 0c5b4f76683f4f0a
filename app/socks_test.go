package app

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestSOCKSKeyReload checks [proxy] socks end to end: on by default, a
// SOCKS5 greeting on the proxy's port is answered as one; after a reload
// with socks = false the same bytes read as a malformed HTTP request.
func TestSOCKSKeyReload(t *testing.T) {
	listen := freePort(t)
	a, path := startWatchedApp(t, listen)
	greet := func() (string, error) {
		c, err := net.DialTimeout("tcp", a.ListenAddr(), 10*time.Second)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write([]byte{5, 1, 0}); err != nil {
			return "", err
		}
		b := make([]byte, 2)
		_, err = io.ReadFull(c, b)
		return string(b), err
	}
	if got, err := greet(); err != nil || got != "\x05\x00" {
		t.Fatalf("greeting with socks on: %q, %v", got, err)
	}
	dir := filepath.Dir(path)
	writeConfig(t, path, fmt.Sprintf("[proxy]\nlisten = %q\nsocks = false\nread_header_timeout = \"1s\"\nshutdown_grace = \"1s\"\n\n[log]\ndir = %q\n", listen, filepath.Join(dir, "logs")))
	waitFor(t, "the reload to turn SOCKS5 off", func() error {
		got, err := greet()
		if got != "HT" {
			return fmt.Errorf("greeting answered %q, %v", got, err)
		}
		return nil
	})
}
