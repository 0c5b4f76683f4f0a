package cache

// Status is the Cache-Status field value (RFC 9211) for l's answer, with
// name as the cache's identifier: "Sluice; hit", "Sluice; fwd=miss;
// stored", "Sluice; fwd=stale; fwd-status=304", "Sluice; fwd=miss;
// collapsed" and so on. Call it once the answer's fate is known (after
// the body for a stored answer).
func (l *Lookup) CacheStatus(name string) string {
	s := name
	switch {
	case l.Action == Serve && !l.Collapsed && l.detail == "":
		s += "; hit"
	case l.Action == Unsatisfied:
		s += "; fwd=miss; detail=only-if-cached"
	default:
		fwd := l.fwd
		if fwd == "" {
			fwd = "miss"
		}
		s += "; fwd=" + fwd
		if l.stored {
			s += "; stored"
		}
		if l.Collapsed {
			s += "; collapsed"
		}
	}
	if l.detail != "" {
		s += "; " + l.detail
	}
	return s
}
