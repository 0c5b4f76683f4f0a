package cache

import (
	"net/http"
	"slices"
	"strings"
)

// varyNames lists the request fields a response's Vary names,
// canonicalised, in order.
func varyNames(h http.Header) []string {
	var names []string
	for _, v := range h.Values("Vary") {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, http.CanonicalHeaderKey(n))
			}
		}
	}
	return names
}

// varyValues is what req sends in each of names, normalised so that
// requests the origin cannot tell apart select one variant (RFC 9111
// §4.1 allows normalising by the field's syntax).
func varyValues(req http.Header, names []string) []string {
	vals := make([]string, len(names))
	for i, n := range names {
		v := headerValue(req, n)
		if n == "Accept-Encoding" {
			v = normalizeAcceptEncoding(v)
		} else {
			v = strings.Join(strings.Fields(v), " ")
		}
		vals[i] = v
	}
	return vals
}

// normalizeAcceptEncoding reduces Accept-Encoding to the sorted set of
// codings it accepts: "gzip, deflate, br" and "br;q=0.9, gzip, deflate"
// select the same variant, and so do an absent field and "identity".
// A coding with q=0 is refused, so it is left out.
func normalizeAcceptEncoding(v string) string {
	var codings []string
	for _, part := range strings.Split(v, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" || name == "identity" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok && strings.Trim(q, "0.") == "" {
			continue
		}
		if name == "x-gzip" {
			name = "gzip" // RFC 9110 §8.4.1.3
		}
		codings = append(codings, name)
	}
	slices.Sort(codings)
	return strings.Join(slices.Compact(codings), ",")
}

// varyMatches reports whether a request with header h selects a variant
// stored with names and vals (§4.1).
func varyMatches(h http.Header, names, vals []string) bool {
	if len(names) == 0 {
		return true
	}
	return slices.Equal(varyValues(h, names), vals)
}
