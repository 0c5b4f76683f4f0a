package app

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file turns key values to and from their forms: decoded TOML,
// strings from flags and the environment, and TOML text for config
// check, the generated files and reload's change log. A key's kind is
// the type its Field points at.

// decodeValue stores a decoded TOML value in k's field, or says in plain
// words what is wrong with it.
func decodeValue(k *Key, c *Config, v any) string {
	wrong := func(want string) string {
		return fmt.Sprintf("%s; write %s, like %s", describe(v), want, k.example())
	}
	switch p := k.Field(c).(type) {
	case *string:
		s, ok := v.(string)
		if !ok {
			return wrong("text in quotes")
		}
		*p = s
	case *bool:
		b, ok := v.(bool)
		if !ok {
			return wrong("true or false")
		}
		*p = b
	case *int:
		n, ok := v.(int64)
		if !ok || int64(int(n)) != n {
			return wrong("a whole number")
		}
		*p = int(n)
	case *int64:
		n, ok := v.(int64)
		if !ok {
			return wrong("a whole number")
		}
		*p = n
	case *float64:
		switch n := v.(type) {
		case float64:
			*p = n
		case int64:
			*p = float64(n)
		default:
			return wrong("a number")
		}
	case *Duration:
		s, ok := v.(string)
		if !ok {
			return wrong("a duration in quotes")
		}
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return err.Error()
		}
		*p = d
	case *[]int:
		list, ok := v.([]any)
		if !ok {
			return wrong("a list of whole numbers")
		}
		out := make([]int, 0, len(list))
		for _, e := range list {
			n, ok := e.(int64)
			if !ok || int64(int(n)) != n {
				return fmt.Sprintf("an entry, %s; write a list of whole numbers, like %s", describe(e), k.example())
			}
			out = append(out, int(n))
		}
		*p = out
	case *[]string:
		list, ok := v.([]any)
		if !ok {
			return wrong("a list of strings")
		}
		out := make([]string, 0, len(list))
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return fmt.Sprintf("an entry, %s; write a list of strings in quotes, like %s", describe(e), k.example())
			}
			out = append(out, s)
		}
		*p = out
	case *[]Prefix:
		list, ok := v.([]any)
		if !ok {
			return wrong("a list of address ranges")
		}
		out := make([]Prefix, 0, len(list))
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return fmt.Sprintf("an entry, %s; write a list of address ranges in quotes, like %s", describe(e), k.example())
			}
			var pfx Prefix
			if err := pfx.UnmarshalText([]byte(s)); err != nil {
				return err.Error()
			}
			out = append(out, pfx)
		}
		*p = out
	case *map[string]string:
		table, ok := v.(map[string]any)
		if !ok {
			return wrong("a table of names and values")
		}
		out := make(map[string]string, len(table))
		for name, e := range table {
			s, ok := e.(string)
			if !ok {
				return fmt.Sprintf("%s: %s; write a value in quotes, like %s", name, describe(e), k.example())
			}
			out[name] = s
		}
		*p = out
	default:
		panic(fmt.Sprintf("key %s: no decoder for %T", k.Name, p))
	}
	return ""
}

// setFromString stores a flag or environment value in k's field, or says
// what is wrong with it.
func setFromString(k *Key, c *Config, s string) string {
	switch p := k.Field(c).(type) {
	case *string:
		*p = s
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return "not true or false"
		}
		*p = b
	case *int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return "not a whole number"
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return "not a whole number"
		}
		*p = n
	case *float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return "not a number"
		}
		*p = f
	case *Duration:
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return err.Error()
		}
		*p = d
	default:
		return "this key cannot be set from a flag or the environment"
	}
	return ""
}

// checkBounds checks a whole number or duration against k's Min and Max.
func checkBounds(k *Key, c *Config) string {
	if !k.HasBounds {
		return ""
	}
	switch p := k.Field(c).(type) {
	case *Duration:
		switch {
		case k.Min > 0 && p.Duration < time.Duration(k.Min):
			return p.String() + " must be more than zero"
		case p.Duration < time.Duration(k.Min):
			return p.String() + " must not be negative"
		case k.Max > 0 && p.Duration > time.Duration(k.Max):
			return fmt.Sprintf("%s is over the largest allowed, %s", p, time.Duration(k.Max))
		}
	default:
		n, ok := intValue(p)
		if !ok {
			panic(fmt.Sprintf("key %s: bounds on %T", k.Name, p))
		}
		if n < k.Min {
			return fmt.Sprintf("%d is too small (the least allowed is %d)", n, k.Min)
		}
		if k.Max > 0 && n > k.Max {
			return fmt.Sprintf("%d is over the largest allowed, %d", n, k.Max)
		}
	}
	return ""
}

func intValue(p any) (int64, bool) {
	switch p := p.(type) {
	case *int:
		return int64(*p), true
	case *int64:
		return *p, true
	}
	return 0, false
}

// boundsText describes k's bounds for the reference page, or "".
func (k *Key) boundsText() string {
	if !k.HasBounds {
		return ""
	}
	var field any
	if k.Elem != nil {
		field = k.Elem(withOneEntryEach(), 0)
	} else {
		field = k.Field(&Config{})
	}
	if _, ok := field.(*Duration); ok {
		if k.Min > 0 {
			return "More than zero."
		}
		return "Not negative."
	}
	if k.Max > 0 {
		return fmt.Sprintf("From %d to %d.", k.Min, k.Max)
	}
	return fmt.Sprintf("At least %d.", k.Min)
}

// example is a value of k's kind to show in errors.
func (k *Key) example() string {
	if k.Example != "" {
		return k.Example
	}
	return k.Default
}

// describe names a decoded TOML value and its type, as in `"lots" is a
// string`.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return tomlString(v) + " is a string"
	case int64:
		return strconv.FormatInt(v, 10) + " is a whole number"
	case float64:
		return formatFloat(v) + " is a number with a fraction"
	case bool:
		return strconv.FormatBool(v) + " is true/false"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("%v is a date or time", v)
	}
}

// formatValue writes the value k's field holds as TOML. Users are listed
// by name only (their hashes stay out of logs).
func formatValue(p any) string {
	switch p := p.(type) {
	case *string:
		return tomlString(*p)
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *float64:
		return formatFloat(*p)
	case *Duration:
		return tomlString(p.String())
	case *[]int:
		return list(*p, strconv.Itoa)
	case *[]string:
		return list(*p, tomlString)
	case *[]Prefix:
		return list(*p, func(x Prefix) string { return tomlString(x.String()) })
	case *map[string]string:
		return list(slices.Sorted(maps.Keys(*p)), func(s string) string { return s })
	}
	panic(fmt.Sprintf("no format for %T", p))
}

// sameValue reports whether two fields hold the same value; durations
// compare by length, not by how they were written, and users by hash too.
func sameValue(a, b any) bool {
	switch a := a.(type) {
	case *Duration:
		return a.Duration == b.(*Duration).Duration
	case *map[string]string:
		return maps.Equal(*a, *b.(*map[string]string))
	}
	return formatValue(a) == formatValue(b)
}

func list[T any](xs []T, f func(T) string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = f(x)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
