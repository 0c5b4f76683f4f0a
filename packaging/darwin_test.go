package packaging

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// plistValue is a decoded XML property list value: string, bool, int64
// (kept as its text), []plistValue or map[string]plistValue.
type plistValue any

// parsePlist decodes an XML property list the way plutil -lint checks it:
// the DOCTYPE, a <plist version="1.0"> root holding exactly one value,
// <dict> as alternating <key> and value elements with no duplicate keys,
// and only the value elements the DTD allows.
func parsePlist(data []byte) (plistValue, error) {
	if !bytes.Contains(data, []byte(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`)) {
		return nil, fmt.Errorf("missing the Apple plist DOCTYPE")
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	root, err := nextStart(d)
	if err != nil {
		return nil, err
	}
	if root.Name.Local != "plist" {
		return nil, fmt.Errorf("root element <%s>, want <plist>", root.Name.Local)
	}
	if v := attr(root, "version"); v != "1.0" {
		return nil, fmt.Errorf(`<plist version=%q>, want "1.0"`, v)
	}
	start, err := nextStart(d)
	if err != nil {
		return nil, err
	}
	val, err := plistElem(d, start)
	if err != nil {
		return nil, err
	}
	if end, err := nextToken(d); err != nil {
		return nil, err
	} else if e, ok := end.(xml.EndElement); !ok || e.Name.Local != "plist" {
		return nil, fmt.Errorf("more than one value under <plist>")
	}
	if tok, err := nextToken(d); err != io.EOF {
		return nil, fmt.Errorf("content after </plist>: %v %v", tok, err)
	}
	return val, nil
}

// nextToken returns the next token that is not whitespace, a comment or a
// processing instruction.
func nextToken(d *xml.Decoder) (xml.Token, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return nil, fmt.Errorf("stray text %q", strings.TrimSpace(string(t)))
			}
		case xml.Comment, xml.ProcInst, xml.Directive:
		default:
			return tok, nil
		}
	}
}

func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	tok, err := nextToken(d)
	if err != nil {
		return xml.StartElement{}, err
	}
	s, ok := tok.(xml.StartElement)
	if !ok {
		return xml.StartElement{}, fmt.Errorf("want an element, got %T", tok)
	}
	return s, nil
}

func attr(s xml.StartElement, name string) string {
	for _, a := range s.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// text reads the character data of a simple element up to its end tag.
func text(d *xml.Decoder, name string) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			return b.String(), nil
		case xml.StartElement:
			return "", fmt.Errorf("<%s> inside <%s>", t.Name.Local, name)
		}
	}
}

var plistInteger = regexp.MustCompile(`^[+-]?[0-9]+$`)

func plistElem(d *xml.Decoder, s xml.StartElement) (plistValue, error) {
	switch s.Name.Local {
	case "string", "date", "data", "real":
		return text(d, s.Name.Local)
	case "integer":
		t, err := text(d, "integer")
		if err == nil && !plistInteger.MatchString(t) {
			err = fmt.Errorf("<integer>%s</integer> is not an integer", t)
		}
		return t, err
	case "true", "false":
		if t, err := text(d, s.Name.Local); err != nil || t != "" {
			return nil, fmt.Errorf("<%s/> must be empty", s.Name.Local)
		}
		return s.Name.Local == "true", nil
	case "array":
		var out []plistValue
		for {
			tok, err := nextToken(d)
			if err != nil {
				return nil, err
			}
			if _, ok := tok.(xml.EndElement); ok {
				return out, nil
			}
			v, err := plistElem(d, tok.(xml.StartElement))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	case "dict":
		out := map[string]plistValue{}
		for {
			tok, err := nextToken(d)
			if err != nil {
				return nil, err
			}
			if _, ok := tok.(xml.EndElement); ok {
				return out, nil
			}
			k := tok.(xml.StartElement)
			if k.Name.Local != "key" {
				return nil, fmt.Errorf("<%s> where a <key> belongs in <dict>", k.Name.Local)
			}
			key, err := text(d, "key")
			if err != nil {
				return nil, err
			}
			if _, dup := out[key]; dup {
				return nil, fmt.Errorf("duplicate key %q", key)
			}
			vs, err := nextStart(d)
			if err != nil {
				return nil, fmt.Errorf("key %q has no value: %w", key, err)
			}
			if out[key], err = plistElem(d, vs); err != nil {
				return nil, fmt.Errorf("key %q: %w", key, err)
			}
		}
	}
	return nil, fmt.Errorf("<%s> is not a plist element", s.Name.Local)
}

// TestParsePlistRejectsBrokenFiles makes sure the validator used below
// can fail: each of these is a mistake plutil -lint reports.
func TestParsePlistRejectsBrokenFiles(t *testing.T) {
	const head = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n"
	cases := map[string]string{
		"no doctype":        `<plist version="1.0"><dict/></plist>`,
		"unclosed":          head + `<plist version="1.0"><dict><key>A</key><string>x</dict></plist>`,
		"key without value": head + `<plist version="1.0"><dict><key>A</key></dict></plist>`,
		"value without key": head + `<plist version="1.0"><dict><string>x</string></dict></plist>`,
		"duplicate key":     head + `<plist version="1.0"><dict><key>A</key><true/><key>A</key><false/></dict></plist>`,
		"unknown element":   head + `<plist version="1.0"><dict><key>A</key><bool>1</bool></dict></plist>`,
		"bad integer":       head + `<plist version="1.0"><dict><key>A</key><integer>1.5</integer></dict></plist>`,
		"two roots":         head + `<plist version="1.0"><dict/><dict/></plist>`,
		"wrong version":     head + `<plist version="2.0"><dict/></plist>`,
		"unescaped amp":     head + `<plist version="1.0"><dict><key>A</key><string>a & b</string></dict></plist>`,
	}
	for name, doc := range cases {
		if _, err := parsePlist([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAppBundleLayout is acceptance test 3 of the packaging issue:
// mkapp.sh assembles Sluice.app, and its Info.plist is a valid property
// list with the keys macOS needs to launch a menu-bar-only app.
func TestAppBundleLayout(t *testing.T) {
	needTool(t, "sh", "dash")
	dir := t.TempDir()
	bin := filepath.Join(dir, "sluice-darwin")
	if err := os.WriteFile(bin, []byte("stand-in for the darwin binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(dir, "Sluice.app")
	const version = "v1.4.2-7-g0123abc-dirty"
	run(t, ".", nil, "sh", "darwin/mkapp.sh", "-v", version, "-o", app, "-b", bin)

	info, err := os.ReadFile(filepath.Join(app, "Contents", "Info.plist"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := parsePlist(info)
	if err != nil {
		t.Fatalf("Info.plist: %v", err)
	}
	dict, ok := v.(map[string]plistValue)
	if !ok {
		t.Fatalf("Info.plist root is %T, want a dict", v)
	}
	want := map[string]plistValue{
		"CFBundleIdentifier":            "org.sluiceproxy.sluice",
		"CFBundleName":                  "Sluice",
		"CFBundleDisplayName":           "Sluice",
		"CFBundleExecutable":            "sluice",
		"CFBundlePackageType":           "APPL",
		"CFBundleInfoDictionaryVersion": "6.0",
		"CFBundleIconFile":              "sluice.icns",
		"CFBundleShortVersionString":    "1.4.2",
		"CFBundleVersion":               "1.4.2",
		"SluiceBuildVersion":            version,
		"LSUIElement":                   true,
		"NSHighResolutionCapable":       true,
	}
	for k, w := range want {
		if got, ok := dict[k]; !ok {
			t.Errorf("Info.plist lacks %s", k)
		} else if got != w {
			t.Errorf("Info.plist %s = %#v, want %#v", k, got, w)
		}
	}
	if m, _ := dict["LSMinimumSystemVersion"].(string); !regexp.MustCompile(`^\d+(\.\d+){0,2}$`).MatchString(m) {
		t.Errorf("LSMinimumSystemVersion %q is not a macOS version", m)
	}

	exe := filepath.Join(app, "Contents", "MacOS", "sluice")
	if st, err := os.Stat(exe); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("Contents/MacOS/sluice missing or not executable: %v", err)
	}
	if pkginfo, err := os.ReadFile(filepath.Join(app, "Contents", "PkgInfo")); err != nil || string(pkginfo) != "APPL????" {
		t.Errorf("PkgInfo = %q (%v), want APPL????", pkginfo, err)
	}
	icns, err := os.ReadFile(filepath.Join(app, "Contents", "Resources", "sluice.icns"))
	if err != nil {
		t.Fatal(err)
	}
	if len(icns) < 8 || string(icns[:4]) != "icns" || int(icns[4])<<24|int(icns[5])<<16|int(icns[6])<<8|int(icns[7]) != len(icns) {
		t.Errorf("Resources/sluice.icns is not an icns container of its own length")
	}

	if plutil, err := exec.LookPath("plutil"); err == nil {
		run(t, ".", nil, plutil, "-lint", filepath.Join(app, "Contents", "Info.plist"))
	}

	// Run again over the existing bundle, without a binary: the bundle is
	// replaced, not merged with the old one.
	run(t, ".", nil, "sh", "darwin/mkapp.sh", "-v", "v2.0.0", "-o", app)
	if _, err := os.Stat(exe); !os.IsNotExist(err) {
		t.Errorf("rebuilt bundle without -b still has Contents/MacOS/sluice (stat: %v)", err)
	}
	info, _ = os.ReadFile(filepath.Join(app, "Contents", "Info.plist"))
	if v, err := parsePlist(info); err != nil || v.(map[string]plistValue)["CFBundleShortVersionString"] != "2.0.0" {
		t.Errorf("rebuilt Info.plist: %v, version %v", err, v)
	}
}
