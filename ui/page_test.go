package ui

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/assets"
)

// TestPageLoadsNothingFromElsewhere checks the embedded page: every
// script and stylesheet it loads is one of its own assets, and no URL to
// another host appears in its files (uPlot names its home in its licence
// banner, and the SVG namespace, a name, not a fetch).
func TestPageLoadsNothingFromElsewhere(t *testing.T) {
	files, err := fs.Sub(assets.UI, "ui")
	if err != nil {
		t.Fatal(err)
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(string(index), -1)
	if len(refs) < 4 {
		t.Fatalf("index.html loads %d files; expected the script, uPlot and two stylesheets", len(refs))
	}
	for _, m := range refs {
		name, ok := strings.CutPrefix(m[1], "/ui/assets/")
		if !ok {
			t.Errorf("index.html loads %q, not one of its own assets", m[1])
			continue
		}
		if _, err := fs.Stat(files, name); err != nil {
			t.Errorf("index.html loads %q, which is not embedded", m[1])
		}
	}
	url := regexp.MustCompile(`(?:https?:)?//[a-zA-Z0-9.-]+\.[a-z]{2,}`)
	for _, name := range []string{"index.html", "app.js", "app.css", "uPlot.iife.min.js", "uPlot.min.css"} {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if strings.HasPrefix(text, "/*!") { // a licence banner
			_, text, _ = strings.Cut(text, "*/")
		}
		for _, u := range url.FindAllString(text, -1) {
			if u != "http://www.w3.org" {
				t.Errorf("%s names %s", name, u)
			}
		}
	}
	js, _ := fs.ReadFile(files, "app.js")
	for _, m := range regexp.MustCompile(`(?:fetch|EventSource)\(\s*[`+"`"+`"']([^`+"`"+`"']*)`).FindAllStringSubmatch(string(js), -1) {
		if !strings.HasPrefix(m[1], "/ui/") {
			t.Errorf("app.js asks %q, not Sluice's /ui/", m[1])
		}
	}
}
