package inspect

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sluiceproxy/sluice/proxy"
)

// MaxCaptureDuration bounds a capture, so one whose CLI was killed
// does not write for ever.
const MaxCaptureDuration = 24 * time.Hour

// Bounds on what a capture holds in memory while its file catches up:
// entries past either are dropped (and counted), never queued without
// bound.
const (
	captureQueue      = 256
	capturePendingMax = 32 << 20
)

// Captures runs HAR captures, one at a time: exchanges go to a file in
// its directory as they finish, written by one goroutine that a capture
// starts and its end stops. Nothing runs while no capture does. The CLI
// moves the finished file where the user asked: the running instance
// only ever writes inside its own directory.
type Captures struct {
	dir     string
	version string
	bodyMax atomic.Int64

	cur atomic.Pointer[capture]

	mu   sync.Mutex
	last *capture // the latest capture, running or ended; guarded by mu
	// running hears when a capture starts (true) and ends (false), so the
	// proxy hands plain-HTTP heads to access records only meanwhile
	// (proxy.Server.CaptureHeads); guarded by mu.
	running func(bool)
}

// OnRunning sets f to hear when a capture starts (true) and ends (false).
func (cs *Captures) OnRunning(f func(bool)) {
	cs.mu.Lock()
	cs.running = f
	cs.mu.Unlock()
}

// NewCaptures returns Captures writing to dir; version names Sluice in
// the files.
func NewCaptures(dir, version string, bodyMax int64) *Captures {
	cs := &Captures{dir: dir, version: version}
	cs.SetBodyMax(bodyMax)
	return cs
}

// SetBodyMax sets how many bytes of each body a capture keeps (for
// captures started after); 0 keeps none.
func (cs *Captures) SetBodyMax(n int64) { cs.bodyMax.Store(max(n, 0)) }

// CaptureInfo describes a capture, as the /capture endpoints answer.
type CaptureInfo struct {
	ID      string `json:"id"`
	Path    string `json:"path"`
	Entries int64  `json:"entries"`
	Dropped int64  `json:"dropped"`
	Running bool   `json:"running"`
}

// capture is one running HAR capture.
type capture struct {
	id, path string
	host     *patterns // nil: every host
	bodyMax  int64
	f        *os.File
	timer    *time.Timer

	mu     sync.RWMutex
	closed bool // guarded by mu; ch is closed
	ch     chan *harEntryJSON

	pending, entries, dropped atomic.Int64
	done                      chan struct{} // closed when the file is complete
	err                       error         // the writer's error, read after done
}

// active returns the running capture taking exchanges with host, or nil.
// A nil Captures has none.
func (cs *Captures) active(host string) *capture {
	if cs == nil {
		return nil
	}
	c := cs.cur.Load()
	if c == nil || (c.host != nil && !c.host.match(normalHost(host))) {
		return nil
	}
	return c
}

// Start begins a capture of exchanges with hosts matching pattern ("" for
// all) for d (0 or more than MaxCaptureDuration means
// MaxCaptureDuration).
func (cs *Captures) Start(pattern string, d time.Duration) (CaptureInfo, error) {
	var host *patterns
	if pattern != "" {
		ps, err := newPatterns([]string{pattern})
		if err != nil {
			return CaptureInfo{}, err
		}
		host = &ps
	}
	if d <= 0 || d > MaxCaptureDuration {
		d = MaxCaptureDuration
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c := cs.cur.Load(); c != nil {
		return CaptureInfo{}, fmt.Errorf("capture %s is running; stop it first", c.id)
	}
	if err := os.MkdirAll(cs.dir, 0o700); err != nil {
		return CaptureInfo{}, fmt.Errorf("make the capture dir: %w", err)
	}
	id := make([]byte, 8)
	rand.Read(id)
	c := &capture{id: hex.EncodeToString(id), host: host, bodyMax: cs.bodyMax.Load(),
		ch: make(chan *harEntryJSON, captureQueue), done: make(chan struct{})}
	c.path = filepath.Join(cs.dir, "capture-"+time.Now().Format("20060102-150405")+"-"+c.id+".har")
	f, err := os.OpenFile(c.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return CaptureInfo{}, fmt.Errorf("create the capture file: %w", err)
	}
	c.f = f
	go c.write(cs.version)
	c.timer = time.AfterFunc(d, func() { cs.Stop(c.id) })
	cs.cur.Store(c)
	cs.last = c
	if cs.running != nil {
		cs.running(true)
	}
	return c.info(true), nil
}

// Stop ends the capture id, if it still runs, waits until its file is
// complete, and describes it.
func (cs *Captures) Stop(id string) (CaptureInfo, error) {
	cs.mu.Lock()
	c := cs.last
	if c == nil || c.id != id {
		cs.mu.Unlock()
		return CaptureInfo{}, fmt.Errorf("no capture %q", id)
	}
	if cs.cur.Load() == c {
		cs.cur.Store(nil)
		if cs.running != nil {
			cs.running(false)
		}
		c.timer.Stop()
		c.mu.Lock()
		c.closed = true
		close(c.ch)
		c.mu.Unlock()
	}
	cs.mu.Unlock()
	<-c.done
	return c.info(false), c.err
}

// Close ends a running capture, completing its file.
func (cs *Captures) Close() {
	if cs == nil {
		return
	}
	if c := cs.cur.Load(); c != nil {
		cs.Stop(c.id)
	}
}

func (c *capture) info(running bool) CaptureInfo {
	return CaptureInfo{ID: c.id, Path: c.path, Entries: c.entries.Load(), Dropped: c.dropped.Load(), Running: running}
}

// add queues an entry for the file, or drops it when the queue is full:
// the request path never waits for the disk.
func (c *capture) add(e *harEntryJSON) {
	size := e.size()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed || c.pending.Load()+size > capturePendingMax {
		c.dropped.Add(1)
		return
	}
	c.pending.Add(size)
	select {
	case c.ch <- e:
	default:
		c.pending.Add(-size)
		c.dropped.Add(1)
	}
}

// write writes the file: the HAR head, each entry as it comes, the tail
// once the capture ends.
func (c *capture) write(version string) {
	defer close(c.done)
	w := bufio.NewWriterSize(c.f, 64<<10)
	creator, _ := json.Marshal(map[string]string{"name": "Sluice", "version": version})
	fmt.Fprintf(w, "{\"log\":{\"version\":\"1.2\",\"creator\":%s,\"pages\":[],\"entries\":[\n", creator)
	enc := json.NewEncoder(w)
	var err error
	for e := range c.ch {
		if err != nil {
			continue // keep draining so add never blocks
		}
		if c.entries.Load() > 0 {
			w.WriteString(",")
		}
		err = enc.Encode(e)
		c.pending.Add(-e.size())
		c.entries.Add(1)
		if len(c.ch) == 0 {
			err = errors.Join(err, w.Flush())
		}
	}
	w.WriteString("]}}\n")
	c.err = errors.Join(err, w.Flush(), c.f.Close())
}

// LogAccess takes plain-HTTP exchanges from the proxy's access records
// into a running capture: method, URL, status, sizes, timings and both
// heads (the relay keeps no bodies). It never blocks, and costs one
// atomic load while no capture runs.
func (cs *Captures) LogAccess(rec *proxy.AccessRecord) {
	if rec.Scheme != "http" {
		return // tunnels say nothing; inspected exchanges come whole from the inspector
	}
	c := cs.active(rec.Host)
	if c == nil {
		return
	}
	reqLine, reqFields := parseHead(rec.RequestHead)
	respLine, respFields := parseHead(rec.ResponseHead)
	reqVersion, respVersion := "HTTP/1.1", "HTTP/1.1"
	if f := strings.Fields(reqLine); len(f) == 3 {
		reqVersion = f[2]
	}
	// A head for another status (an error Sluice answered itself after
	// a 1xx) is not this answer's.
	if f := strings.Fields(respLine); len(f) >= 2 && f[1] == strconv.Itoa(rec.Status) {
		respVersion = f[0]
	} else {
		respFields = []harNV{}
	}
	mt := "x-unknown"
	for _, f := range respFields {
		if strings.EqualFold(f.Name, "Content-Type") {
			mt = f.Value
		}
	}
	u := "http://" + net.JoinHostPort(rec.Host, rec.Port) + rec.Path
	if f := strings.Fields(reqLine); len(f) == 3 && strings.HasPrefix(f[1], "http://") {
		u = f[1] // with its query, as the inspected entries have
	}
	e := &harEntryJSON{
		Started: rec.Time.Format(time.RFC3339Nano),
		Time:    ms(rec.Duration),
		Request: harRequest{Method: rec.Method, URL: u, HTTPVersion: reqVersion, Headers: reqFields,
			Cookies: []harNV{}, QueryString: queryOf(u), HeadersSize: len(rec.RequestHead), BodySize: rec.BytesIn},
		Response: harResponse{Status: rec.Status, StatusText: http.StatusText(rec.Status), HTTPVersion: respVersion,
			Headers: respFields, Cookies: []harNV{}, Content: harContent{Size: rec.BytesOut, MimeType: mt}, HeadersSize: -1, BodySize: rec.BytesOut},
		Cache:   struct{}{},
		Timings: timings(rec),
		Comment: "plain HTTP: Sluice keeps the heads of relayed requests, not their bodies",
	}
	c.add(e)
}

// parseHead splits a raw HTTP/1 head into its first line and fields,
// leaving out the client's proxy credentials. It copies: the head's
// buffer is the proxy's.
func parseHead(head []byte) (string, []harNV) {
	fields := []harNV{}
	lines := strings.Split(strings.TrimRight(string(head), "\r\n"), "\n")
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(strings.TrimSuffix(l, "\r"), ":")
		if !ok || strings.EqualFold(name, "Proxy-Authorization") {
			continue
		}
		fields = append(fields, harNV{name, strings.TrimSpace(value)})
	}
	return strings.TrimSuffix(lines[0], "\r"), fields
}

// queryOf lists the query of u for HAR's queryString.
func queryOf(u string) []harNV {
	l := []harNV{}
	if pu, err := url.Parse(u); err == nil {
		for name, vs := range pu.Query() {
			for _, v := range vs {
				l = append(l, harNV{name, v})
			}
		}
	}
	return l
}

// The HAR 1.2 objects (http://www.softwareishard.com/blog/har-12-spec/),
// with the fields Chrome DevTools needs to import a file.
type harEntryJSON struct {
	Started  string      `json:"startedDateTime"`
	Time     float64     `json:"time"`
	Request  harRequest  `json:"request"`
	Response harResponse `json:"response"`
	Cache    struct{}    `json:"cache"`
	Timings  harTimings  `json:"timings"`
	ServerIP string      `json:"serverIPAddress,omitempty"`
	Comment  string      `json:"comment,omitempty"`
}

type harNV struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harRequest struct {
	Method      string       `json:"method"`
	URL         string       `json:"url"`
	HTTPVersion string       `json:"httpVersion"`
	Cookies     []harNV      `json:"cookies"`
	Headers     []harNV      `json:"headers"`
	QueryString []harNV      `json:"queryString"`
	PostData    *harPostData `json:"postData,omitempty"`
	HeadersSize int          `json:"headersSize"`
	BodySize    int64        `json:"bodySize"`
}

type harPostData struct {
	MimeType string  `json:"mimeType"`
	Params   []harNV `json:"params"`
	Text     string  `json:"text"`
	Encoding string  `json:"_encoding,omitempty"`
	Comment  string  `json:"comment,omitempty"`
}

type harResponse struct {
	Status      int        `json:"status"`
	StatusText  string     `json:"statusText"`
	HTTPVersion string     `json:"httpVersion"`
	Cookies     []harNV    `json:"cookies"`
	Headers     []harNV    `json:"headers"`
	Content     harContent `json:"content"`
	RedirectURL string     `json:"redirectURL"`
	HeadersSize int        `json:"headersSize"`
	BodySize    int64      `json:"bodySize"`
}

type harContent struct {
	Size     int64  `json:"size"`
	MimeType string `json:"mimeType"`
	Text     string `json:"text,omitempty"`
	Encoding string `json:"encoding,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

type harTimings struct {
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
}

// size estimates the memory an entry holds while queued.
func (e *harEntryJSON) size() int64 {
	n := int64(len(e.Response.Content.Text) + 512)
	if e.Request.PostData != nil {
		n += int64(len(e.Request.PostData.Text))
	}
	for _, h := range e.Request.Headers {
		n += int64(len(h.Name) + len(h.Value))
	}
	for _, h := range e.Response.Headers {
		n += int64(len(h.Name) + len(h.Value))
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func timings(rec *proxy.AccessRecord) harTimings {
	wait := rec.TTFB
	if wait == 0 {
		wait = rec.Duration
	}
	return harTimings{Send: 0, Wait: ms(wait), Receive: ms(rec.Duration - wait)}
}

// harEntry makes the entry for an inspected exchange.
func harEntry(ex *exchange, r *http.Request, rec *proxy.AccessRecord) *harEntryJSON {
	u := "https://" + r.Host + r.URL.RequestURI()
	req := harRequest{Method: r.Method, URL: u, HTTPVersion: r.Proto, Cookies: []harNV{}, Headers: headerList(r.Header, r.Host),
		QueryString: []harNV{}, HeadersSize: -1, BodySize: rec.BytesIn}
	for name, vs := range r.URL.Query() {
		for _, v := range vs {
			req.QueryString = append(req.QueryString, harNV{name, v})
		}
	}
	if b, trunc := ex.reqBody.bytes(); rec.BytesIn > 0 {
		text, enc := bodyText(b)
		req.PostData = &harPostData{MimeType: r.Header.Get("Content-Type"), Params: []harNV{}, Text: text, Encoding: enc, Comment: truncNote(trunc, len(b), rec.BytesIn)}
	}
	resp := harResponse{Status: rec.Status, StatusText: http.StatusText(rec.Status), HTTPVersion: r.Proto,
		Cookies: []harNV{}, Headers: headerList(ex.respHeader, ""), HeadersSize: -1, BodySize: rec.BytesOut}
	mt := ex.respHeader.Get("Content-Type")
	if mt == "" {
		mt = "x-unknown"
	}
	b, trunc := ex.respBody.bytes()
	text, enc := bodyText(b)
	resp.Content = harContent{Size: rec.BytesOut, MimeType: mt, Text: text, Encoding: enc, Comment: truncNote(trunc, len(b), rec.BytesOut)}
	if loc := ex.respHeader.Get("Location"); loc != "" {
		resp.RedirectURL = loc
	}
	e := &harEntryJSON{Started: rec.Time.Format(time.RFC3339Nano), Time: ms(rec.Duration), Request: req, Response: resp, Timings: timings(rec)}
	if rec.UpstreamProto != "" && rec.UpstreamProto != rec.ClientProto {
		e.Comment = "origin spoke " + rec.UpstreamProto
	}
	return e
}

// headerList lists h's fields; host, when set, goes first as Host (an
// HTTP/2 request's :authority).
func headerList(h http.Header, host string) []harNV {
	l := make([]harNV, 0, len(h)+1)
	if host != "" {
		l = append(l, harNV{"Host", host})
	}
	for name, vs := range h {
		for _, v := range vs {
			l = append(l, harNV{name, v})
		}
	}
	return l
}

// bodyText is a body as HAR text: as is when it is UTF-8, else base64.
func bodyText(b []byte) (text, encoding string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

func truncNote(truncated bool, kept int, total int64) string {
	if !truncated {
		return ""
	}
	return "truncated: the first " + strconv.Itoa(kept) + " of " + strconv.FormatInt(total, 10) + " bytes ([inspect] capture_body_max)"
}

// Handler serves the capture endpoints on the proxy port (loopback
// clients only, as every local endpoint): POST /capture/start?host=&duration=,
// POST /capture/stop?id=. Each answers a
// CaptureInfo in JSON. Both need the header X-Sluice-Capture, which a
// web page cannot send to another origin without a CORS preflight
// Sluice never answers.
func (cs *Captures) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /capture/start", func(w http.ResponseWriter, r *http.Request) {
		if !captureHeader(w, r) {
			return
		}
		var d time.Duration
		if s := r.FormValue("duration"); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil || v < 0 {
				http.Error(w, fmt.Sprintf("duration %q is not a duration (write it like 30s or 5m)", s), http.StatusBadRequest)
				return
			}
			d = v
		}
		if host := r.FormValue("host"); host != "" {
			if err := CheckPattern(host); err != nil {
				http.Error(w, "host: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		info, err := cs.Start(r.FormValue("host"), d)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		writeJSON(w, info)
	})
	mux.HandleFunc("POST /capture/stop", func(w http.ResponseWriter, r *http.Request) {
		if !captureHeader(w, r) {
			return
		}
		info, err := cs.Stop(r.FormValue("id"))
		if err != nil && info.ID == "" {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, "the capture file is incomplete: "+err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, info)
	})
	return mux
}

func captureHeader(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("X-Sluice-Capture") == "" {
		http.Error(w, "the capture endpoints need an X-Sluice-Capture header (use `sluice capture`)", http.StatusForbidden)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
