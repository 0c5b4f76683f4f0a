package resolver

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// hostsRecheck is how often the hosts file is checked for changes, the same
// interval Go's own resolver uses.
const hostsRecheck = 5 * time.Second

// hostsTable maps a lower-case name without the trailing dot to its
// addresses in file order.
type hostsTable map[string][]netip.Addr

// hostsFile answers from the hosts file and notices when it changes.
type hostsFile struct {
	path  string
	table atomic.Pointer[hostsTable]
	// nextCheck is the clock reading (UnixNano) after which the file is
	// looked at again; atomic so the lookup path takes no lock.
	nextCheck atomic.Int64

	mu      sync.Mutex // serialises reloads
	modTime time.Time
	size    int64
}

func newHostsFile(path string, now time.Time) *hostsFile {
	h := &hostsFile{path: path}
	h.reload(now)
	return h
}

// lookup returns the file's addresses for name (already lower-case, no
// trailing dot).
func (h *hostsFile) lookup(name string, now time.Time) ([]netip.Addr, bool) {
	if now.UnixNano() >= h.nextCheck.Load() {
		h.reload(now)
	}
	t := h.table.Load()
	if t == nil {
		return nil, false
	}
	addrs, ok := (*t)[name]
	return addrs, ok
}

// reload rereads the file if its size or modification time changed. A
// missing or unreadable file answers nothing, as an empty one would.
func (h *hostsFile) reload(now time.Time) {
	if !h.mu.TryLock() {
		return // another lookup is already reloading
	}
	defer h.mu.Unlock()
	h.nextCheck.Store(now.Add(hostsRecheck).UnixNano())
	fi, err := os.Stat(h.path)
	if err != nil {
		h.modTime, h.size = time.Time{}, -1
		h.table.Store(nil)
		return
	}
	if h.table.Load() != nil && fi.ModTime().Equal(h.modTime) && fi.Size() == h.size {
		return
	}
	data, err := os.ReadFile(h.path)
	if err != nil {
		h.table.Store(nil)
		return
	}
	t := parseHosts(data)
	h.table.Store(&t)
	h.modTime, h.size = fi.ModTime(), fi.Size()
}

// parseHosts reads "address name [alias...]" lines; # starts a comment.
// Lines with an unparsable address are skipped, as every resolver does.
func parseHosts(data []byte) hostsTable {
	t := make(hostsTable)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(fields[0])
		if err != nil {
			continue
		}
		for _, name := range fields[1:] {
			key := strings.ToLower(strings.TrimSuffix(name, "."))
			if !containsAddr(t[key], ip) {
				t[key] = append(t[key], ip)
			}
		}
	}
	return t
}
