package app

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/sluiceproxy/sluice/route"
)

// This file reads, checks and writes the arrays of tables ([[upstream]],
// [[group]], [[rule]]). Their keys are described in ArrayTables as the
// sections' keys are in Keys; an entry's key is named in errors as
// "upstream[2].url", counting entries from 1.

func lookupArrayTable(name string) *ArrayTable {
	for i := range ArrayTables {
		if ArrayTables[i].Name == name {
			return &ArrayTables[i]
		}
	}
	return nil
}

func (at *ArrayTable) key(leaf string) *Key {
	for i := range at.Keys {
		if _, l, _ := strings.Cut(at.Keys[i].Name, "."); l == leaf {
			return &at.Keys[i]
		}
	}
	return nil
}

// at returns k bound to entry i: its Field points into that entry, so
// the sections' decoding, bounds and formatting serve entries too.
func (k *Key) at(i int) *Key {
	b := *k
	b.Field = func(c *Config) any { return k.Elem(c, i) }
	return &b
}

// entryKey names key leaf of entry i (from 0) of a table in messages.
func entryKey(table string, i int, leaf string) string {
	return fmt.Sprintf("%s[%d].%s", table, i+1, leaf)
}

// withOneEntryEach returns a Config with one zero entry in each array of
// tables, to look at an entry key's type.
func withOneEntryEach() *Config {
	c := &Config{}
	for i := range ArrayTables {
		v := ArrayTables[i].entries(c)
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
	}
	return c
}

// entries returns the slice at's Field points at.
func (at *ArrayTable) entries(c *Config) reflect.Value {
	return reflect.ValueOf(at.Field(c)).Elem()
}

// appendEntry adds an entry holding the keys' defaults.
func (at *ArrayTable) appendEntry(c *Config) int {
	v := at.entries(c)
	v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	i := v.Len() - 1
	for j := range at.Keys {
		k := &at.Keys[j]
		if k.Default == "" {
			continue
		}
		var raw map[string]any
		if _, err := toml.Decode("v = "+k.Default, &raw); err != nil || decodeValue(k.at(i), c, raw["v"]) != "" {
			// The table is tested; failing here is a build defect.
			panic(fmt.Sprintf("key %s: bad default %s", k.Name, k.Default))
		}
	}
	return i
}

// decodeArrayTable decodes the [[at.Name]] entries from their TOML value.
func decodeArrayTable(at *ArrayTable, c *Config, data []byte, v any) []*ConfigError {
	var problems []*ConfigError
	add := func(key string, line int, msg string) {
		problems = append(problems, &ConfigError{File: c.path, Key: key, Line: line, Msg: msg})
	}
	list, ok := v.([]map[string]any)
	if !ok {
		add(at.Name, sectionLine(data, at.Name), fmt.Sprintf("write each entry as a table under its own [[%s]] line", at.Name))
		return problems
	}
	for _, e := range list {
		i := at.appendEntry(c)
		for leaf, val := range e {
			// entryLine scans the file: only for a problem, or a config
			// of 10k rules takes a minute to load.
			full := entryKey(at.Name, i, leaf)
			k := at.key(leaf)
			if k == nil {
				var keys []string
				for _, k := range at.Keys {
					_, l, _ := strings.Cut(k.Name, ".")
					keys = append(keys, l)
				}
				add(full, entryLine(data, at.Name, i, leaf), fmt.Sprintf("unknown key (a [[%s]] has %s)", at.Name, strings.Join(keys, ", ")))
				continue
			}
			if msg := decodeValue(k.at(i), c, val); msg != "" {
				add(full, entryLine(data, at.Name, i, leaf), msg)
			}
		}
	}
	return problems
}

// entryLine finds the line of key leaf in entry i (from 0) of [[table]],
// or the entry's [[table]] line when the key is not written there, or 0.
func entryLine(data []byte, table string, i int, leaf string) int {
	n, header := -1, 0
	for ln, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			if n == i {
				break // the entry ended without the key
			}
			if strings.Trim(strings.SplitN(line, "#", 2)[0], "[] \t") == table && strings.HasPrefix(line, "[[") {
				n++
				if n == i {
					header = ln + 1
				}
			}
			continue
		}
		if n != i {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); ok && strings.Trim(strings.TrimSpace(k), `"'`) == leaf {
			return ln + 1
		}
	}
	return header
}

// arrayProblems checks the entries: their keys' bounds, then the routing
// config as a whole (names that must exist, URLs, strategies, match
// entries), as route.New sees it.
func (c *Config) arrayProblems(data []byte) []*ConfigError {
	var out []*ConfigError
	for ai := range ArrayTables {
		at := &ArrayTables[ai]
		for i := range at.entries(c).Len() {
			for j := range at.Keys {
				k := &at.Keys[j]
				if msg := checkBounds(k.at(i), c); msg != "" {
					_, leaf, _ := strings.Cut(k.Name, ".")
					out = append(out, &ConfigError{File: c.path, Key: entryKey(at.Name, i, leaf), Line: entryLine(data, at.Name, i, leaf), Msg: msg})
				}
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	_, err := route.New(routeConfig(c, nil, ""))
	for _, e := range routeErrors(err) {
		ce := &ConfigError{File: c.path, Msg: e.Msg}
		if e.Table == "route" {
			ce.Key = "route." + e.Key
			if src, ok := c.sources[ce.Key]; ok {
				ce.File, ce.Msg = "", ce.Msg+" (from "+src+")"
			} else {
				ce.Line = keyLine(data, ce.Key)
			}
		} else {
			ce.Key = entryKey(e.Table, e.Index, e.Key)
			ce.Line = entryLine(data, e.Table, e.Index, e.Key)
		}
		out = append(out, ce)
	}
	return out
}

// routeErrors lists the *route.Error values in err, which route.New
// joins when it finds more than one.
func routeErrors(err error) []*route.Error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*route.Error
		for _, e := range j.Unwrap() {
			out = append(out, routeErrors(e)...)
		}
		return out
	}
	var re *route.Error
	if errors.As(err, &re) {
		return []*route.Error{re}
	}
	return nil
}
