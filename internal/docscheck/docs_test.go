package docscheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// root is the repository, seen from this package's directory.
var root = filepath.Join("..", "..")

// maxReadmeLines is what fits on two screens (issue 12: "about 250 lines or
// fewer"); details go to a page in docs/.
const maxReadmeLines = 250

func TestReadmeFitsOnTwoScreens(t *testing.T) {
	lines := bytes.Count(read(t, "README.md"), []byte("\n"))
	if lines > maxReadmeLines {
		t.Errorf("README.md has %d lines, more than %d: move the details to a page in docs/ and link it", lines, maxReadmeLines)
	}
}

func TestEveryDocsPageIsLinkedFromReadme(t *testing.T) {
	linked := map[string]bool{}
	for _, l := range links(read(t, "README.md")) {
		linked[filepath.ToSlash(filepath.Clean(l.path))] = true
	}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no docs/*.md found: is the test running from internal/docscheck?")
	}
	for _, p := range pages {
		rel := "docs/" + filepath.Base(p)
		if !linked[rel] {
			t.Errorf("%s is not linked from README.md: add it to the Documentation table", rel)
		}
	}
	if !linked["CONTRIBUTING.md"] {
		t.Error("CONTRIBUTING.md is not linked from README.md")
	}
}

// TestDocLinksResolve checks every relative link in the README, CONTRIBUTING
// and docs/: the file must exist, and a #fragment must name a heading of
// the file it points into.
func TestDocLinksResolve(t *testing.T) {
	docs := []string{"README.md", "CONTRIBUTING.md"}
	pages, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	for _, p := range pages {
		docs = append(docs, "docs/"+filepath.Base(p))
	}
	for _, doc := range docs {
		for _, l := range links(read(t, doc)) {
			target := doc // a bare #fragment points into the same file
			if l.path != "" {
				target = filepath.ToSlash(filepath.Join(filepath.Dir(doc), l.path))
			}
			if _, err := os.Stat(filepath.Join(root, target)); err != nil {
				t.Errorf("%s:%d: link to %s: no such file", doc, l.line, l.raw)
				continue
			}
			if l.fragment == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			if !slices.Contains(anchors(read(t, target)), l.fragment) {
				t.Errorf("%s:%d: link to %s: %s has no heading #%s", doc, l.line, l.raw, target, l.fragment)
			}
		}
	}
}

// TestAnchors pins the heading-to-anchor rule the link check relies on to
// GitHub's: lower case, punctuation dropped, spaces to hyphens, repeats
// numbered.
func TestAnchors(t *testing.T) {
	md := "# Sluice\n## `[dns]` settings\n```sh\n# not a heading\n```\n## DNS: Sluice's own resolver\n## 407, 421, 429\n## Tests\n### Tests\n"
	want := []string{"sluice", "dns-settings", "dns-sluices-own-resolver", "407-421-429", "tests", "tests-1"}
	if got := anchors([]byte(md)); !slices.Equal(got, want) {
		t.Errorf("anchors = %q, want %q", got, want)
	}
	got := links([]byte("see [a](docs/a.md#x), ![i](docs/i.png \"t\")\n`[b](not/a/link.md)` [c](https://example.com/) [d](#local)\n```\n[e](in/code.md)\n```\n"))
	var paths []string
	for _, l := range got {
		paths = append(paths, l.path+"#"+l.fragment)
	}
	if want := []string{"docs/a.md#x", "docs/i.png#", "#local"}; !slices.Equal(paths, want) {
		t.Errorf("links = %q, want %q", paths, want)
	}
}

type link struct {
	raw, path, fragment string
	line                int
}

var (
	linkRE       = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	inlineCodeRE = regexp.MustCompile("`[^`]*`")
)

// links returns the relative links of a Markdown file, outside code.
func links(md []byte) []link {
	var out []link
	lineNo, fenced := 0, false
	sc := bufio.NewScanner(bytes.NewReader(md))
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, m := range linkRE.FindAllStringSubmatch(inlineCodeRE.ReplaceAllString(line, ""), -1) {
			raw := m[1]
			if strings.Contains(raw, "://") || strings.HasPrefix(raw, "mailto:") {
				continue
			}
			path, fragment, _ := strings.Cut(raw, "#")
			out = append(out, link{raw: raw, path: path, fragment: fragment, line: lineNo})
		}
	}
	return out
}

// anchors returns the anchors GitHub gives a Markdown file's headings.
func anchors(md []byte) []string {
	var out []string
	seen := map[string]int{}
	fenced := false
	sc := bufio.NewScanner(bytes.NewReader(md))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		text, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if fenced || !strings.HasPrefix(line, "#") || !ok {
			continue
		}
		slug := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				return unicode.ToLower(r)
			}
			return -1
		}, strings.TrimSpace(text))
		if n := seen[slug]; n > 0 {
			out = append(out, fmt.Sprintf("%s-%d", slug, n))
		} else {
			out = append(out, slug)
		}
		seen[slug]++
	}
	return out
}

func read(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
