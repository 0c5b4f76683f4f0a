package route

import "bytes"

// domains matches host names against domain: (the name itself) and
// domain-suffix: (the name and every name under it) rules. Each map
// holds, per lower-case name, the lowest rule index that names it, so
// the first matching rule wins however many name the same domain.
// A lookup walks the host's label boundaries from the left, one map
// probe per label ("a.b.example.com", "b.example.com", "example.com",
// "com"); indexing a map with string(b) does not allocate.
type domains struct {
	exact, suffix map[string]int32
	// suffixLen marks the lengths of the names in suffix, so that the
	// walk probes the map only for a tail of a length some rule has.
	suffixLen [maxHost + 1]bool
}

func (d *domains) add(name string, suffix bool, rule int32) {
	m := &d.exact
	if suffix {
		m = &d.suffix
	}
	if *m == nil {
		*m = make(map[string]int32)
	}
	if old, ok := (*m)[name]; !ok || rule < old {
		(*m)[name] = rule
	}
	if suffix {
		d.suffixLen[len(name)] = true
	}
}

// match returns the lowest rule index matching host (lower case, no
// final dot), or -1.
func (d *domains) match(host []byte) int32 {
	best := int32(-1)
	if len(d.exact) > 0 {
		if r, ok := d.exact[string(host)]; ok {
			best = r
		}
	}
	if len(d.suffix) == 0 {
		return best
	}
	for i := 0; ; {
		if d.suffixLen[len(host)-i] {
			if r, ok := d.suffix[string(host[i:])]; ok && (best < 0 || r < best) {
				best = r
			}
		}
		j := bytes.IndexByte(host[i:], '.')
		if j < 0 {
			return best
		}
		i += j + 1
	}
}
