package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionScriptMapsGitDescribe pins how `git describe` output becomes
// each package format's version: dpkg needs a leading digit and must sort
// a build after a tag above the tag, Windows needs four integers, macOS
// three.
func TestVersionScriptMapsGitDescribe(t *testing.T) {
	needTool(t, "sh", "dash")
	cases := []struct {
		in                  string
		pkg, numeric, short string
	}{
		{"v1.2.3", "1.2.3", "1.2.3.0", "1.2.3"},
		{"1.2.3", "1.2.3", "1.2.3.0", "1.2.3"},
		{"v1.2.3-dirty", "1.2.3+dirty", "1.2.3.0", "1.2.3"},
		{"v1.2.3-4-gabc1234", "1.2.3+4.gabc1234", "1.2.3.4", "1.2.3"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+4.gabc1234.dirty", "1.2.3.4", "1.2.3"},
		{"v1.2.0-rc1", "1.2.0-rc1", "1.2.0.0", "1.2.0"},
		{"v1.2.0-rc1-2-gdeadbee", "1.2.0-rc1+2.gdeadbee", "1.2.0.2", "1.2.0"},
		{"d1a8163", "0.0.0+gd1a8163", "0.0.0.0", "0.0.0"},
		{"d1a8163-dirty", "0.0.0+gd1a8163.dirty", "0.0.0.0", "0.0.0"},
		{"dev", "0.0.0+dev", "0.0.0.0", "0.0.0"},
		{"0.1.0-dev+abc1234", "0.1.0-dev+abc1234", "0.1.0.0", "0.1.0"},
		{"0.1.0-dev+abc1234.dirty", "0.1.0-dev+abc1234.dirty", "0.1.0.0", "0.1.0"},
		{"0.1.0-dev", "0.1.0-dev", "0.1.0.0", "0.1.0"},
		{"release/2026", "0.0.0+release.2026", "0.0.0.0", "0.0.0"},
	}
	for _, c := range cases {
		for _, f := range []struct{ format, want string }{
			{"pkg", c.pkg}, {"numeric", c.numeric}, {"short", c.short},
		} {
			got := strings.TrimSpace(run(t, ".", nil, "sh", "version.sh", f.format, c.in))
			if got != f.want {
				t.Errorf("version.sh %s %q = %q, want %q", f.format, c.in, got, f.want)
			}
		}
	}
}

// TestDebVersionsSortAfterTheirTag checks with dpkg itself that the pkg
// versions order as releases do: a pre-release before its release, a
// build after a tag after that tag, and untagged builds below everything.
func TestDebVersionsSortAfterTheirTag(t *testing.T) {
	needTool(t, "dpkg", "dpkg")
	ascending := []string{"d1a8163", "v1.2.0-rc1", "v1.2.0-rc1-2-gdeadbee", "v1.2.0", "v1.2.0-3-gabc1234", "v1.2.1"}
	var prev string
	for _, in := range ascending {
		// nfpm writes a semver pre-release with "~" for dpkg and adds the
		// release "-1".
		v := strings.TrimSpace(run(t, ".", nil, "sh", "version.sh", "pkg", in))
		v = strings.Replace(v, "-", "~", 1) + "-1"
		if prev != "" {
			if _, err := runErr(t, ".", nil, "dpkg", "--compare-versions", prev, "lt", v); err != nil {
				t.Errorf("dpkg does not order %q below %q (from %s)", prev, v, in)
			}
		}
		prev = v
	}
}

// TestBuildVersionReadsAsAVersion checks scripts/version.sh, the
// Makefile's VERSION, in a fresh repository: the VERSION file and the
// commit while no v* tag is in reach (tags need not travel with a
// clone), the tag on its commit, git describe after it.
func TestBuildVersionReadsAsAVersion(t *testing.T) {
	needTool(t, "git", "git")
	script, err := filepath.Abs("../scripts/version.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@localhost", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@localhost", "GIT_CONFIG_GLOBAL=/dev/null"}
	git := func(args ...string) string { return strings.TrimSpace(run(t, dir, env, "git", args...)) }
	version := func() string { return strings.TrimSpace(run(t, dir, env, "sh", script)) }
	git("init", "-q")
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte("0.1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "VERSION")
	git("commit", "-qm", "one")
	hash := git("rev-parse", "--short", "HEAD")
	if got, want := version(), "0.1.0-dev+"+hash; got != want {
		t.Errorf("untagged: %q, want %q", got, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte("0.1.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := version(), "0.1.1-dev+"+hash+".dirty"; got != want {
		t.Errorf("untagged, changed: %q, want %q", got, want)
	}
	git("checkout", "-q", "VERSION")
	git("tag", "v0.1.0")
	if got := version(); got != "0.1.0" {
		t.Errorf("tagged: %q, want 0.1.0", got)
	}
	git("commit", "-q", "--allow-empty", "-m", "two")
	if got, want := version(), "0.1.0-1-g"+git("rev-parse", "--short", "HEAD"); got != want {
		t.Errorf("after the tag: %q, want %q", got, want)
	}
	if got := strings.TrimSpace(run(t, ".", nil, "sh", "version.sh", "pkg", "0.1.0-dev+"+hash)); got != "0.1.0-dev+"+hash {
		t.Errorf("packaging/version.sh pkg of the untagged version = %q", got)
	}
}
