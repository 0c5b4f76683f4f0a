package sysproxy

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// gsettings prints and reads values in GVariant text format
// (https://docs.gtk.org/glib/gvariant-text-format.html). Sluice needs only
// three of its types: strings (and enums, which print as strings), 32-bit
// integers and arrays of strings.

// gvString parses a GVariant text string: 'single' or "double" quoted,
// with backslash escapes.
func gvString(s string) (string, error) {
	v, rest, err := gvParseString(strings.TrimSpace(s))
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(rest) != "" {
		return "", fmt.Errorf("gvariant %q: text after the string", s)
	}
	return v, nil
}

// gvInt parses a GVariant text integer, with or without a type prefix
// ("3128", "int32 3128").
func gvInt(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return 0, fmt.Errorf("gvariant %q: not an integer", s)
	}
	n, err := strconv.ParseInt(f[len(f)-1], 0, 64)
	if err != nil {
		return 0, fmt.Errorf("gvariant %q: not an integer", s)
	}
	return n, nil
}

// gvStrings parses a GVariant text array of strings ("['a', 'b']",
// "@as []").
func gvStrings(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSpace(strings.TrimPrefix(s, "@as"))
	if !strings.HasPrefix(s, "[") {
		return nil, fmt.Errorf("gvariant %q: not an array", s)
	}
	rest := strings.TrimSpace(s[1:])
	out := []string{}
	if after, ok := strings.CutPrefix(rest, "]"); ok {
		if strings.TrimSpace(after) != "" {
			return nil, fmt.Errorf("gvariant %q: text after the array", s)
		}
		return out, nil
	}
	for {
		v, r, err := gvParseString(rest)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		r = strings.TrimSpace(r)
		switch {
		case strings.HasPrefix(r, ","):
			rest = strings.TrimSpace(r[1:])
		case strings.HasPrefix(r, "]"):
			if strings.TrimSpace(r[1:]) != "" {
				return nil, fmt.Errorf("gvariant %q: text after the array", s)
			}
			return out, nil
		default:
			return nil, fmt.Errorf("gvariant %q: expected , or ]", s)
		}
	}
}

// gvParseString reads one quoted string from the start of s and returns
// it and the text after its closing quote.
func gvParseString(s string) (string, string, error) {
	if s == "" || (s[0] != '\'' && s[0] != '"') {
		return "", "", fmt.Errorf("gvariant %q: not a quoted string", s)
	}
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), s[i+1:], nil
		case c != '\\':
			b.WriteByte(c)
		case i+1 >= len(s):
			return "", "", fmt.Errorf("gvariant %q: backslash at the end", s)
		default:
			i++
			switch e := s[i]; e {
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'v':
				b.WriteByte('\v')
			case 'u', 'U':
				n := 4
				if e == 'U' {
					n = 8
				}
				if i+n >= len(s) {
					return "", "", fmt.Errorf("gvariant %q: short \\%c escape", s, e)
				}
				r, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
				if err != nil {
					return "", "", fmt.Errorf("gvariant %q: bad \\%c escape", s, e)
				}
				b.WriteRune(rune(r))
				i += n
			default:
				// \\, \', \" and any other escaped character stand for
				// themselves, as in GLib's parser.
				b.WriteByte(e)
			}
		}
	}
	return "", "", fmt.Errorf("gvariant %q: no closing quote", s)
}

// gvQuote writes s as GVariant text: single-quoted, with backslash,
// quote and control characters escaped, so gsettings reads back s.
func gvQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\\' || r == '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || r == utf8.RuneError:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// gvQuoteStrings writes an array of strings as GVariant text.
func gvQuoteStrings(ss []string) string {
	if len(ss) == 0 {
		return "@as []"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = gvQuote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
