package app

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// This file writes what is derived from the key table: the commented
// assets/config.toml, docs/configuration.md (both by go generate, and
// checked for staleness by a test), the effective values `sluice config
// check` prints, and the keys a reload changed.

// RenderDefaultConfig returns the commented default config.toml.
var RenderDefaultConfig = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.WriteString(`# Sluice configuration. Every key is optional: a missing key takes the value
# shown here. Durations are written like "30s", "5m", "1h".
# Check a file with: sluice config check --config FILE
# Every key is described in docs/configuration.md.
`)
	for _, s := range Sections {
		fmt.Fprintf(&b, "\n[%s]\n", s.Name)
		comment(&b, s.Doc)
		b.WriteByte('\n')
		for i := range Keys {
			k := &Keys[i]
			sect, leaf, _ := strings.Cut(k.Name, ".")
			if sect != s.Name {
				continue
			}
			text := k.Doc
			if k.Zero != "" {
				text += " " + k.Zero
			}
			if k.Env != "" {
				text += " Env: " + k.Env + "."
			}
			if k.Default == "" {
				// A table, shown as a commented example.
				b.WriteByte('\n')
				comment(&b, text)
				fmt.Fprintf(&b, "# [%s]\n# %s\n", k.Name, k.Example)
				continue
			}
			if k.Example != "" {
				text += " Example: " + k.Example
			}
			comment(&b, text)
			fmt.Fprintf(&b, "%s = %s\n", leaf, k.Default)
		}
	}
	for _, at := range ArrayTables {
		b.WriteByte('\n')
		comment(&b, "[["+at.Name+"]] entries: "+at.Doc+" Write a [["+at.Name+"]] line and its keys for each one, like this:")
		fmt.Fprintf(&b, "#\n# [[%s]]\n", at.Name)
		for _, line := range strings.Split(at.Example, "\n") {
			b.WriteString("# " + line + "\n")
		}
		b.WriteString("#\n")
		for _, k := range at.Keys {
			_, leaf, _ := strings.Cut(k.Name, ".")
			text := leaf + ": " + k.Doc
			if k.Default != "" {
				text += " Default: " + k.Default + "."
			}
			comment(&b, text)
		}
	}
	return b.Bytes()
})

// comment writes text as # lines of at most 78 columns.
func comment(b *bytes.Buffer, text string) {
	line := "#"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 78 && line != "#" {
			b.WriteString(line + "\n")
			line = "#"
		}
		line += " " + w
	}
	b.WriteString(line + "\n")
}

// RenderReference returns docs/configuration.md.
func RenderReference() []byte {
	var b bytes.Buffer
	b.WriteString(`# Configuration

<!-- Generated from the key table in app/keys.go by "make generate"
(go generate ./app); edit the table, not this page. -->

Sluice reads one file, ` + "`config.toml`" + `; ` + "`sluice config path`" + ` prints where it
is, and Sluice writes it with the commented defaults on first run
(` + "`sluice config init --config FILE`" + ` writes a fresh copy). Every key is
optional: a missing key takes the default below. Durations are written
like ` + "`\"30s\"`, `\"5m\"`, `\"1h\"`" + `.

A value is taken from, in order: a flag (` + "`--listen`" + `), an environment
variable, the file, the default. ` + "`sluice config check --config FILE`" + ` lists
every problem in the file at once, with line numbers, then prints the
values in force, marking those that came from the environment or a flag.
Editing the file while Sluice runs reloads it; the log says which keys
changed (` + "`config reloaded`" + `). A file with a problem changes nothing.

## Environment variables

| Variable | Key |
|---|---|
`)
	for _, k := range Keys {
		if k.Env != "" {
			fmt.Fprintf(&b, "| `%s` | [`%s`](#%s) |\n", k.Env, k.Name, k.Section())
		}
	}
	for _, s := range Sections {
		fmt.Fprintf(&b, "\n## [%s]\n\n%s\n\n| Key | Default | Meaning |\n|---|---|---|\n", s.Name, s.Doc)
		for i := range Keys {
			k := &Keys[i]
			sect, leaf, _ := strings.Cut(k.Name, ".")
			if sect != s.Name {
				continue
			}
			def := "none"
			if k.Default != "" {
				def = "`" + k.Default + "`"
			}
			if k.Default == "" {
				leaf = "[" + k.Name + "]"
			}
			text := k.Doc
			for _, more := range []string{k.Zero, k.boundsText()} {
				if more != "" {
					text += " " + more
				}
			}
			if k.Env != "" {
				text += " Env: `" + k.Env + "`."
			}
			if k.Example != "" {
				text += " Example: `" + k.Example + "`."
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", leaf, cell(def), cell(text))
		}
	}
	for _, at := range ArrayTables {
		fmt.Fprintf(&b, "\n## [[%s]]\n\n%s Each entry is a `[[%s]]` line and its keys:\n\n```toml\n[[%s]]\n%s\n```\n\n| Key | Default | Meaning |\n|---|---|---|\n",
			at.Name, at.Doc, at.Name, at.Name, at.Example)
		for _, k := range at.Keys {
			_, leaf, _ := strings.Cut(k.Name, ".")
			def := "required"
			if k.Default != "" {
				def = "`" + k.Default + "`"
			}
			text := k.Doc
			if bt := k.boundsText(); bt != "" {
				text += " " + bt
			}
			if k.Example != "" {
				text += " Example: `" + k.Example + "`."
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", leaf, cell(def), cell(text))
		}
	}
	return b.Bytes()
}

// Section returns the section k is in ("proxy" for proxy.listen).
func (k *Key) Section() string {
	s, _, _ := strings.Cut(k.Name, ".")
	return s
}

// cell escapes text for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// WriteEffective writes the values in force as TOML, in the table's
// order, marking those from the environment or a flag with a trailing
// comment ("# from env PROXY_LISTEN").
func (c *Config) WriteEffective(w io.Writer) error {
	var b bytes.Buffer
	for _, s := range Sections {
		fmt.Fprintf(&b, "\n[%s]\n", s.Name)
		for i := range Keys {
			k := &Keys[i]
			sect, leaf, _ := strings.Cut(k.Name, ".")
			if sect != s.Name {
				continue
			}
			if users, ok := k.Field(c).(*map[string]string); ok {
				if len(*users) > 0 {
					fmt.Fprintf(&b, "\n[%s]\n", k.Name)
					for _, name := range slices.Sorted(maps.Keys(*users)) {
						fmt.Fprintf(&b, "%s = %s\n", tomlString(name), tomlString((*users)[name]))
					}
				}
				continue
			}
			fmt.Fprintf(&b, "%s = %s", leaf, formatValue(k.Field(c)))
			if src := c.sources[k.Name]; src != "" {
				fmt.Fprintf(&b, "  # from %s", src)
			}
			b.WriteByte('\n')
		}
	}
	for ai := range ArrayTables {
		at := &ArrayTables[ai]
		for i := range at.entries(c).Len() {
			fmt.Fprintf(&b, "\n[[%s]]\n", at.Name)
			for _, k := range at.Keys {
				_, leaf, _ := strings.Cut(k.Name, ".")
				fmt.Fprintf(&b, "%s = %s\n", leaf, formatValue(k.Elem(c, i)))
			}
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// logValue is formatValue with durations unquoted, as people write them
// in prose: 10s, not "10s".
func logValue(p any) string {
	if d, ok := p.(*Duration); ok {
		return d.String()
	}
	return formatValue(p)
}

// changedKeys lists the keys whose values differ from old to cfg as slog
// attributes: "proxy.connect_timeout", "10s → 3s".
func changedKeys(old, cfg *Config) []any {
	var attrs []any
	for i := range Keys {
		k := &Keys[i]
		a, b := k.Field(old), k.Field(cfg)
		if sameValue(a, b) {
			continue
		}
		change := logValue(a) + " → " + logValue(b)
		if k.Secret && formatValue(a) == formatValue(b) {
			change = "a password hash changed"
		}
		attrs = append(attrs, k.Name, change)
	}
	// Entries are logged by count: a URL may hold a password.
	for ai := range ArrayTables {
		at := &ArrayTables[ai]
		a, b := at.entries(old), at.entries(cfg)
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			attrs = append(attrs, at.Name, fmt.Sprintf("%d → %d entries, changed", a.Len(), b.Len()))
		}
	}
	return attrs
}
