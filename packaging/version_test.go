package packaging

import (
	"strings"
	"testing"
)

// TestVersionScriptMapsGitDescribe pins how `git describe` output becomes
// each package format's version: dpkg needs a leading digit and must sort
// a build after a tag above the tag, Windows needs four integers, macOS
// three.
func TestVersionScriptMapsGitDescribe(t *testing.T) {
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
