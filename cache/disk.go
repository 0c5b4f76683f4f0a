package cache

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The disk tier keeps one file per object:
//
//	magic (8) | meta length (4) | meta (JSON) | body | footer (16)
//
// with the footer holding the body's length, a CRC-32C of meta and body,
// and an end mark. A file is written under a temporary name, synced, and
// renamed into place, so a crash leaves either the whole file or a
// temporary one; Open drops temporary files and any file whose length or
// checksum does not hold (a torn write whose rename the disk reordered,
// a truncated copy).

const (
	fileMagic  = "SLUICEC1"
	footerMark = "SLCE"
	footerLen  = 16
	fileExt    = ".obj"
	tmpPrefix  = "tmp-"
	// diskRetry is how long the disk tier rests after a write failed (a
	// full disk, most often): requests go on, only storing stops.
	diskRetry = time.Minute
	// diskWriters bounds concurrent disk writes, maxPendingWrites the
	// ones queued (each holds its body in memory): past it, an object
	// stays in memory only rather than memory growing with a slow disk.
	diskWriters      = 2
	maxPendingWrites = 32
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// meta is what a file says about its object besides the body.
type meta struct {
	Key       string      `json:"key"`
	VaryNames []string    `json:"vary_names,omitempty"`
	VaryVals  []string    `json:"vary_vals,omitempty"`
	Status    int         `json:"status"`
	Header    http.Header `json:"header"`
	ReqTime   time.Time   `json:"req_time"`
	RespTime  time.Time   `json:"resp_time"`
	AuthOK    bool        `json:"auth_ok,omitempty"`
}

// diskSize is what obj's file takes; mu is held.
func (o *Object) diskSize() int64 { return o.bodyAt + o.size + footerLen }

// writeLater writes obj to the disk tier in the background, its body from
// chunks or, when nil, from the file obj has now; mu is held.
func (c *Cache) writeLater(obj *Object, chunks [][]byte) {
	if obj.writing || c.closed {
		return
	}
	if c.sem == nil {
		c.sem = make(chan struct{}, diskWriters)
	}
	obj.writing = true
	src := obj.file
	c.pending++
	c.writes.Add(1)
	go func() {
		defer c.writes.Done()
		c.sem <- struct{}{}
		name, bodyAt, err := c.writeFile(obj, chunks, src)
		<-c.sem
		c.mu.Lock()
		defer c.mu.Unlock()
		c.pending--
		obj.writing = false
		if err != nil {
			c.diskOff = time.Now().Add(diskRetry)
			c.log.Warn("cache: disk tier stops storing for a while", "dir", c.cfg.Dir, "retry_in", diskRetry, "err", err)
			if obj.body == nil && obj.file == "" {
				c.remove(obj)
			}
			return
		}
		if obj.gone || c.closed {
			if !c.closed {
				os.Remove(name)
			}
			return
		}
		if obj.diskElem != nil {
			c.disk.Remove(obj.diskElem)
			c.diskBytes -= obj.diskSize()
		}
		if obj.file != "" && obj.file != name {
			os.Remove(obj.file)
		}
		obj.file, obj.bodyAt = name, bodyAt
		obj.diskElem = c.disk.PushFront(obj)
		c.diskBytes += obj.diskSize()
		c.evictDisk()
	}()
}

// evictDisk drops the least recently used files until the tier fits; an
// object with no body in memory leaves the cache. mu is held.
func (c *Cache) evictDisk() {
	for c.diskBytes > c.cfg.DiskBytes {
		e := c.disk.Back()
		if e == nil {
			return
		}
		obj := e.Value.(*Object)
		c.dropFile(obj)
		if obj.body == nil {
			c.remove(obj)
		}
	}
}

// writeFile writes obj into a new file and returns its name and where
// the body starts.
func (c *Cache) writeFile(obj *Object, chunks [][]byte, src string) (name string, bodyAt int64, err error) {
	m, err := json.Marshal(meta{Key: obj.key, VaryNames: obj.varyNames, VaryVals: obj.varyVals, Status: obj.status,
		Header: obj.header, ReqTime: obj.reqTime, RespTime: obj.respTime, AuthOK: obj.authOK})
	if err != nil {
		return "", 0, err
	}
	tmp, err := os.CreateTemp(c.cfg.Dir, tmpPrefix+"*")
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	crc := crc32.New(crcTable)
	w := bufio.NewWriterSize(io.MultiWriter(tmp, crc), 64<<10)
	var pre [12]byte
	copy(pre[:], fileMagic)
	binary.LittleEndian.PutUint32(pre[8:], uint32(len(m)))
	tmp.Write(pre[:]) // the checksum covers meta and body only
	w.Write(m)
	if chunks != nil {
		_, err = writeChunks(w, chunks, 0, obj.size)
	} else {
		err = copyBody(w, src, obj)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return "", 0, err
	}
	var foot [footerLen]byte
	binary.LittleEndian.PutUint64(foot[:], uint64(obj.size))
	binary.LittleEndian.PutUint32(foot[8:], crc.Sum32())
	copy(foot[12:], footerMark)
	if _, err = tmp.Write(foot[:]); err != nil {
		return "", 0, err
	}
	if err = tmp.Sync(); err != nil {
		return "", 0, err
	}
	if err = tmp.Close(); err != nil {
		return "", 0, err
	}
	name = filepath.Join(c.cfg.Dir, fmt.Sprintf("%08x-%d%s", crc32.Checksum([]byte(obj.key), crcTable), c.seq.Add(1)+uint64(time.Now().UnixNano()), fileExt))
	if err = os.Rename(tmp.Name(), name); err != nil {
		return "", 0, err
	}
	return name, int64(len(pre) + len(m)), nil
}

// copyBody copies obj's body out of its current file src.
func copyBody(w io.Writer, src string, obj *Object) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, io.NewSectionReader(f, obj.bodyAt, obj.size))
	return err
}

// loadDisk indexes the files in the disk tier, dropping what is torn or
// not the cache's, most recently used last into the lists.
func (c *Cache) loadDisk() error {
	if err := os.MkdirAll(c.cfg.Dir, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(c.cfg.Dir)
	if err != nil {
		return err
	}
	type found struct {
		obj   *Object
		mtime time.Time
	}
	var objs []found
	for _, e := range ents {
		name := filepath.Join(c.cfg.Dir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), tmpPrefix):
			os.Remove(name) // a write a crash cut short
			continue
		case !strings.HasSuffix(e.Name(), fileExt) || !e.Type().IsRegular():
			continue
		}
		obj, err := readFile(name, c.cfg.Shared)
		if err != nil {
			c.log.Warn("cache: dropped a damaged file", "file", name, "err", err)
			os.Remove(name)
			continue
		}
		info, _ := e.Info()
		var mt time.Time
		if info != nil {
			mt = info.ModTime()
		}
		objs = append(objs, found{obj, mt})
	}
	slices.SortFunc(objs, func(a, b found) int { return a.mtime.Compare(b.mtime) })
	for _, f := range objs {
		o := f.obj
		if old, _ := c.findExact(o); old != nil {
			c.remove(old) // two files for one variant: the newer wins
		}
		o.lastUse = f.mtime
		c.index[o.key] = append(c.index[o.key], o)
		o.diskElem = c.disk.PushFront(o)
		c.diskBytes += o.diskSize()
	}
	c.evictDisk()
	return nil
}

// errTorn is a file whose length or checksum does not hold.
var errTorn = errors.New("torn or damaged cache file")

// readFile checks a file whole and returns its object (body on disk).
func readFile(name string, shared bool) (*Object, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var pre [12]byte
	if _, err := io.ReadFull(f, pre[:]); err != nil || string(pre[:8]) != fileMagic {
		return nil, errTorn
	}
	mlen := int64(binary.LittleEndian.Uint32(pre[8:]))
	size := info.Size()
	if mlen > size {
		return nil, errTorn
	}
	var foot [footerLen]byte
	if _, err := f.ReadAt(foot[:], size-footerLen); err != nil || string(foot[12:]) != footerMark {
		return nil, errTorn
	}
	bodyLen := int64(binary.LittleEndian.Uint64(foot[:]))
	if 12+mlen+bodyLen+footerLen != size {
		return nil, errTorn
	}
	crc := crc32.New(crcTable)
	if _, err := io.Copy(crc, io.NewSectionReader(f, 12, mlen+bodyLen)); err != nil {
		return nil, err
	}
	if crc.Sum32() != binary.LittleEndian.Uint32(foot[8:]) {
		return nil, errTorn
	}
	mb := make([]byte, mlen)
	if _, err := f.ReadAt(mb, 12); err != nil {
		return nil, err
	}
	var m meta
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, errTorn
	}
	r, reason := storable(&Request{Method: http.MethodGet, Key: m.Key, Header: http.Header{}}, &noDirectives, m.Status, m.Header, m.ReqTime, m.RespTime, shared)
	if reason != "" {
		return nil, fmt.Errorf("no longer storable: %s", reason)
	}
	r.authOK = r.authOK || m.AuthOK
	o := &Object{key: m.Key, host: hostOf(m.Key), varyNames: m.VaryNames, varyVals: m.VaryVals, status: m.Status,
		header: m.Header, reqTime: m.ReqTime, respTime: m.RespTime, rules: r, size: bodyLen, file: name, bodyAt: 12 + mlen}
	o.etag, o.lastModified = m.Header.Get("ETag"), m.Header.Get("Last-Modified")
	o.buildHead()
	return o, nil
}
