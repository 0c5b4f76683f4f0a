package logs

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// timeLayout is slog's own: RFC 3339 with milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// maxValueBytes caps one string value in an access record (a path can
// be as long as max_header_bytes); longer values are cut and end in "...".
const maxValueBytes = 8 << 10

// recordWriter appends one record's fields in JSON ({"k":v,...}) or
// text (k=v k=v) form, as slog's handlers do, without allocating.
type recordWriter struct {
	buf   []byte
	json  bool
	first bool
}

func (w *recordWriter) begin(buf []byte, json bool) {
	w.buf, w.json, w.first = buf, json, true
	if json {
		w.buf = append(w.buf, '{')
	}
}

func (w *recordWriter) end() []byte {
	if w.json {
		w.buf = append(w.buf, '}')
	}
	return append(w.buf, '\n')
}

func (w *recordWriter) key(k string) {
	if !w.first {
		if w.json {
			w.buf = append(w.buf, ',')
		} else {
			w.buf = append(w.buf, ' ')
		}
	}
	w.first = false
	if w.json {
		w.buf = append(w.buf, '"')
		w.buf = append(w.buf, k...)
		w.buf = append(w.buf, '"', ':')
	} else {
		w.buf = append(w.buf, k...)
		w.buf = append(w.buf, '=')
	}
}

func (w *recordWriter) str(k, v string) {
	w.key(k)
	cut := len(v) > maxValueBytes
	if cut {
		v = v[:maxValueBytes]
	}
	switch {
	case w.json:
		w.buf = appendJSONString(w.buf, v, cut)
	case cut || needsQuoting(v):
		if cut {
			v += "..."
		}
		w.buf = strconv.AppendQuote(w.buf, v)
	default:
		w.buf = append(w.buf, v...)
	}
}

func (w *recordWriter) int(k string, v int64) {
	w.key(k)
	w.buf = strconv.AppendInt(w.buf, v, 10)
}

func (w *recordWriter) bool(k string, v bool) {
	w.key(k)
	w.buf = strconv.AppendBool(w.buf, v)
}

// millis writes a duration as milliseconds with microsecond precision
// ("31.402"), in integer arithmetic: it runs twice per access record.
func (w *recordWriter) millis(k string, d time.Duration) {
	w.key(k)
	us := d.Microseconds()
	if us < 0 {
		w.buf = append(w.buf, '-')
		us = -us
	}
	w.buf = strconv.AppendInt(w.buf, us/1000, 10)
	w.buf = appendFrac3(w.buf, int(us%1000))
}

// appendFrac3 appends '.' and n (0 to 999) as three digits.
func appendFrac3(buf []byte, n int) []byte {
	return append(buf, '.', byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
}

// time writes t in timeLayout, through tc when it is not nil.
func (w *recordWriter) time(k string, t time.Time, tc *timeCache) {
	w.key(k)
	if w.json {
		w.buf = append(w.buf, '"')
	}
	w.buf = tc.append(w.buf, t)
	if w.json {
		w.buf = append(w.buf, '"')
	}
}

// timeCache keeps the formatted second (and zone) of the last time it
// wrote. Access records come by the thousand within one second, and
// formatting a time in full costs as much as the rest of the record.
// Offsets only change on whole seconds, so the cache is keyed by the
// second and the location. A nil cache formats in full. It is not safe
// for concurrent use: each writer goroutine has its own.
type timeCache struct {
	sec    int64
	loc    *time.Location
	prefix []byte // "2006-01-02T15:04:05"
	zone   []byte // "Z07:00"
}

func (c *timeCache) append(buf []byte, t time.Time) []byte {
	if c == nil {
		return t.AppendFormat(buf, timeLayout)
	}
	if s := t.Unix(); s != c.sec || t.Location() != c.loc || c.prefix == nil {
		c.sec, c.loc = s, t.Location()
		c.prefix = t.AppendFormat(c.prefix[:0], "2006-01-02T15:04:05")
		c.zone = t.AppendFormat(c.zone[:0], "Z07:00")
	}
	buf = append(buf, c.prefix...)
	buf = appendFrac3(buf, t.Nanosecond()/1e6)
	return append(buf, c.zone...)
}

// needsQuoting reports whether a text value must be quoted to read back
// as one value: empty, or holding a space, '=', '"', a control byte or
// anything outside printable ASCII (as slog's text handler decides,
// simplified to bytes).
func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b == '=' || b == '"' || b >= 0x7f {
			return true
		}
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (RFC 8259 §7): quotes,
// backslashes and control characters escaped, invalid UTF-8 replaced by
// U+FFFD, and U+2028/U+2029 escaped as encoding/json does. cut adds
// "..." to mark a shortened value.
func appendJSONString(buf []byte, s string, cut bool) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '"', '\\':
				buf = append(buf, '\\', b)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			// A multi-byte rune cut by maxValueBytes lands here too.
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	if cut {
		buf = append(buf, "..."...)
	}
	return append(buf, '"')
}
