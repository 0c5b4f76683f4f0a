package proxy

import (
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"testing"

	"github.com/gorilla/websocket"
)

// startEchoWS starts a WebSocket echo origin (gorilla) on loopback.
func startEchoWS(t *testing.T) *origin {
	up := websocket.Upgrader{}
	return startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			typ, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if err := ws.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	}))
}

// TestWebSocketThroughConnect echoes messages with gorilla's client, which
// reaches a proxied ws:// origin through a CONNECT tunnel.
func TestWebSocketThroughConnect(t *testing.T) {
	log := &accessLog{}
	p := startProxy(t, Config{Access: log})
	o := startEchoWS(t)
	d := websocket.Dialer{Proxy: http.ProxyURL(p.url), HandshakeTimeout: patience}
	ws, resp, err := d.Dial("ws://"+o.hostPort()+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, msg := range []string{"hello", string(make([]byte, 100<<10)), "bye"} {
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Fatalf("echo of %d bytes came back as %d bytes", len(msg), len(got))
		}
	}
	ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("after close: %v", err)
	}
	ws.Close()
	waitFor(t, "the tunnel's access record", func() bool {
		for _, r := range log.records() {
			if r.Method == "CONNECT" && r.Tunnel && r.Status == 200 {
				return true
			}
		}
		return false
	})
}

// TestWebSocketThroughUpgrade sends the handshake in absolute form
// ("GET ws://host/echo" with Upgrade), as a plain-HTTP proxy client does,
// and speaks WebSocket frames over the relayed connection.
func TestWebSocketThroughUpgrade(t *testing.T) {
	log := &accessLog{}
	p := startProxy(t, Config{Access: log})
	o := startEchoWS(t)
	rc := dialRaw(t, p.addr)
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	rc.send("GET ws://" + o.hostPort() + "/echo HTTP/1.1\r\nHost: " + o.hostPort() +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, _ := rc.response("GET")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(h[:]); got != want {
		t.Errorf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	if resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get("Connection") != "Upgrade" {
		t.Errorf("101 without Upgrade/Connection: %v", resp.Header)
	}
	for _, msg := range []string{"hello", "through the upgrade"} {
		writeWSFrame(t, rc, 0x1, []byte(msg))
		op, got := readWSFrame(t, rc)
		if op != 0x1 || string(got) != msg {
			t.Fatalf("echo: opcode %d %q, want text %q", op, got, msg)
		}
	}
	writeWSFrame(t, rc, 0x8, []byte{0x03, 0xe8}) // close, 1000
	if op, _ := readWSFrame(t, rc); op != 0x8 {
		t.Errorf("opcode %d after close, want close (8)", op)
	}
	// The origin closed: the proxy passes that on as a half-close, and
	// the tunnel ends when the client closes too.
	rc.expectClosed()
	rc.c.Close()
	waitFor(t, "the upgrade's access record", func() bool {
		for _, r := range log.records() {
			if r.Method == "GET" && r.Scheme == "http" && r.Tunnel && r.Status == 101 {
				return true
			}
		}
		return false
	})
}

// writeWSFrame writes one masked client frame (RFC 6455 §5.2) with a
// payload under 126 bytes.
func writeWSFrame(t *testing.T, rc *rawClient, opcode byte, payload []byte) {
	t.Helper()
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	b := []byte{0x80 | opcode, 0x80 | byte(len(payload))}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	if _, err := rc.c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readWSFrame reads one unmasked server frame with a payload under 126
// bytes.
func readWSFrame(t *testing.T, rc *rawClient) (opcode byte, payload []byte) {
	t.Helper()
	var hdr [2]byte
	if _, err := io.ReadFull(rc.br, hdr[:]); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	n := int(hdr[1] & 0x7f)
	if hdr[1]&0x80 != 0 || n >= 126 {
		t.Fatalf("unexpected frame header %x", hdr)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(rc.br, payload); err != nil {
		t.Fatalf("read frame payload: %v", err)
	}
	return hdr[0] & 0x0f, payload
}
