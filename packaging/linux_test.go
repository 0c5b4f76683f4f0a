package packaging

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// desktopEntry parses the [Desktop Entry] group of a .desktop file.
func desktopEntry(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kv := map[string]string{}
	group := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			group = line
		case group == "[Desktop Entry]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: line %q is not key=value", path, line)
			}
			kv[k] = v
		}
	}
	return kv
}

// TestDesktopEntriesLaunchSluice checks what the app menu and autostart
// rely on: the command, the icon name the hicolor files are installed
// under, and the Network category.
func TestDesktopEntriesLaunchSluice(t *testing.T) {
	for _, name := range []string{"sluice.desktop", "sluice-autostart.desktop"} {
		e := desktopEntry(t, filepath.Join("linux", name))
		want := map[string]string{"Type": "Application", "Name": "Sluice", "Exec": "sluice", "Icon": "sluice", "Terminal": "false"}
		for k, v := range want {
			if e[k] != v {
				t.Errorf("%s: %s=%q, want %q", name, k, e[k], v)
			}
		}
		if name == "sluice.desktop" && !slices.Contains(strings.Split(e["Categories"], ";"), "Network") {
			t.Errorf("%s: Categories=%q lacks Network", name, e["Categories"])
		}
	}
}

// TestDesktopFilesValidate runs the freedesktop validator, as the Debian
// and Fedora packaging checks do.
func TestDesktopFilesValidate(t *testing.T) {
	needTool(t, "desktop-file-validate", "desktop-file-utils")
	for _, name := range []string{"sluice.desktop", "sluice-autostart.desktop"} {
		if out, err := runErr(t, ".", nil, "desktop-file-validate", filepath.Join("linux", name)); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("desktop-file-validate %s: %v\n%s", name, err, out)
		}
	}
}

// TestSystemdUnitRunsHeadless checks the user unit starts the headless
// proxy from the packaged path and can be enabled for a login session.
func TestSystemdUnitRunsHeadless(t *testing.T) {
	data, err := os.ReadFile("linux/sluice.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	for _, want := range []string{
		"\nExecStart=/usr/bin/sluice run --headless\n",
		"\nWantedBy=default.target\n",
		"\n[Service]\n",
		"\n[Install]\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("sluice.service lacks %q", strings.TrimSpace(want))
		}
	}
}

// TestManPageIsCleanRoff runs groff in its strictest warning mode: a
// typo in a macro shows up as a warning, not as a garbled page.
func TestManPageIsCleanRoff(t *testing.T) {
	needTool(t, "groff", "groff-base")
	out := run(t, ".", nil, "groff", "-man", "-Tutf8", "-ww", "-z", "linux/sluice.1")
	if strings.TrimSpace(out) != "" {
		t.Errorf("groff warnings:\n%s", out)
	}
}

// TestManPageCoversCLIContract checks the man page documents every
// command, flag and file location of the CLI contract, so a user reading
// it finds what `sluice` accepts.
func TestManPageCoversCLIContract(t *testing.T) {
	data, err := os.ReadFile("linux/sluice.1")
	if err != nil {
		t.Fatal(err)
	}
	// Strip roff escapes so "\-\-headless" reads as "--headless".
	page := strings.ReplaceAll(string(data), `\-`, "-")
	page = strings.ReplaceAll(page, `\[rs]`, `\`)
	for _, want := range []string{
		".B run", "--headless", "--config", "--listen", "--system-proxy",
		".B config path", ".B config init", ".B config check",
		".B sysproxy on", ".B sysproxy off", ".B sysproxy status", ".B sysproxy restore",
		".B logs path", ".B logs tail", ".B stats", "--json", ".B access hash-password", ".B version",
		"PROXY_LISTEN", "PROXY_POOL_SIZE", "PROXY_IDLE_TIMEOUT", "PROXY_MAX_CONCURRENT", "PROXY_CONNECT_TIMEOUT", "PROXY_BODY_TIMEOUT",
		"$XDG_CONFIG_HOME/sluice/config.toml", "$XDG_STATE_HOME/sluice/logs/",
		"~/Library/Application Support/sluice/config.toml", "~/Library/Logs/sluice/",
		`%AppData%\sluice\config.toml`, `%LocalAppData%\sluice\logs\`,
		"127.0.0.1:8877",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
}

// TestDebianCopyrightCarriesLicense checks the packaged copyright file
// holds the repository's licence text, so the two cannot drift apart.
func TestDebianCopyrightCarriesLicense(t *testing.T) {
	lic, err := os.ReadFile(filepath.Join(repoRoot, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile("linux/copyright")
	if err != nil {
		t.Fatal(err)
	}
	// DEP-5 indents the licence by one space and writes blank lines as " .".
	var body []string
	for _, line := range strings.Split(string(cp), "\n") {
		if line == " ." {
			body = append(body, "")
		} else if strings.HasPrefix(line, " ") {
			body = append(body, line[1:])
		}
	}
	licBody := strings.SplitN(string(lic), "\n\n", 3)[2] // after the title and copyright lines
	if strings.TrimSpace(strings.Join(body, "\n")) != strings.TrimSpace(licBody) {
		t.Errorf("linux/copyright licence text differs from LICENSE")
	}
	if !strings.Contains(string(lic), "Copyright (c) 2026 The Sluice Authors") || !strings.Contains(string(cp), "Copyright: 2026 The Sluice Authors") {
		t.Errorf("copyright holder missing from LICENSE or linux/copyright")
	}
}

// debFiles are the paths and modes the .deb must install, and nothing
// else.
func debFiles() map[string]string {
	files := map[string]string{
		"./usr/bin/sluice":                            "-rwxr-xr-x",
		"./usr/share/applications/sluice.desktop":     "-rw-r--r--",
		"./usr/share/sluice/autostart/sluice.desktop": "-rw-r--r--",
		"./usr/lib/systemd/user/sluice.service":       "-rw-r--r--",
		"./usr/share/man/man1/sluice.1.gz":            "-rw-r--r--",
		"./usr/share/doc/sluice/copyright":            "-rw-r--r--",
	}
	for _, n := range []string{"16", "22", "24", "32", "48", "64", "128", "256", "512"} {
		files["./usr/share/icons/hicolor/"+n+"x"+n+"/apps/sluice.png"] = "-rw-r--r--"
	}
	return files
}

// buildDeb runs nfpm as packaging.mk does, with a stand-in binary so the
// test does not depend on the app compiling, and returns the .deb path.
func buildDeb(t *testing.T, packager, version string) string {
	t.Helper()
	needTool(t, "go", "golang") // go tool nfpm
	dir := t.TempDir()
	bin := filepath.Join(dir, "sluice")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho stand-in\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("linux/sluice.1")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(page)
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "sluice.1.gz"), gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sluice."+packager)
	env := []string{"PKG_VERSION=" + version, "PKG_ARCH=amd64", "PKG_BIN=" + bin, "PKG_BUILD=" + dir}
	run(t, repoRoot, env, "go", "tool", "nfpm", "pkg", "--config", "packaging/linux/nfpm.yaml", "--packager", packager, "--target", out)
	return out
}

// TestDebInstallsExactlyTheseFiles builds the .deb and checks its file
// list, modes, metadata, the gzipped man page, and that it carries no
// maintainer scripts (which could touch a user's home on removal).
func TestDebInstallsExactlyTheseFiles(t *testing.T) {
	needTool(t, "dpkg-deb", "dpkg")
	deb := buildDeb(t, "deb", "1.2.3+4.gabc1234")

	want := debFiles()
	got := map[string]string{}
	for _, line := range strings.Split(run(t, ".", nil, "dpkg-deb", "--contents", deb), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || strings.HasPrefix(f[0], "d") {
			continue
		}
		got[f[5]] = f[0]
	}
	for path, mode := range want {
		if got[path] != mode {
			t.Errorf("%s: mode %q, want %q", path, got[path], mode)
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("unexpected file in .deb: %s", path)
		}
	}

	fields := map[string]string{"Package": "sluice", "Version": "1.2.3+4.gabc1234-1", "Architecture": "amd64", "Section": "net"}
	for k, v := range fields {
		if got := strings.TrimSpace(run(t, ".", nil, "dpkg-deb", "--field", deb, k)); got != v {
			t.Errorf("control %s: %q, want %q", k, got, v)
		}
	}

	ctrl := t.TempDir()
	run(t, ".", nil, "dpkg-deb", "--control", deb, ctrl)
	entries, err := os.ReadDir(ctrl)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if slices.Contains([]string{"preinst", "postinst", "prerm", "postrm", "config"}, e.Name()) {
			t.Errorf("maintainer script %s in the .deb: uninstall must not run code that could touch $HOME", e.Name())
		}
	}

	root := t.TempDir()
	run(t, ".", nil, "dpkg-deb", "--extract", deb, root)
	f, err := os.Open(filepath.Join(root, "usr/share/man/man1/sluice.1.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("man page is not gzip: %v", err)
	}
	page, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(page, []byte(`.\" Man page for sluice(1)`)) {
		t.Errorf("packaged man page does not start like linux/sluice.1: %q", page[:min(40, len(page))])
	}
}

// TestRPMIsBuilt builds the .rpm and checks its lead and, when the rpm
// tool is installed, its file list and licence marking.
func TestRPMIsBuilt(t *testing.T) {
	rpm := buildDeb(t, "rpm", "1.2.3-rc1+4.gabc1234")
	data, err := os.ReadFile(rpm)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte{0xed, 0xab, 0xee, 0xdb}) {
		t.Fatalf("%s does not start with the RPM lead magic", rpm)
	}
	if _, err := runErr(t, ".", nil, "rpm", "--version"); err != nil {
		t.Skip("rpm not installed (Debian: apt-get install rpm): checked the lead only")
	}
	list := run(t, ".", nil, "rpm", "-qlp", rpm)
	for _, want := range []string{"/usr/bin/sluice", "/usr/share/applications/sluice.desktop", "/usr/share/icons/hicolor/512x512/apps/sluice.png", "/usr/share/man/man1/sluice.1.gz", "/usr/share/licenses/sluice/LICENSE"} {
		if !regexp.MustCompile("(?m)^" + regexp.QuoteMeta(want) + "$").MatchString(list) {
			t.Errorf("rpm lacks %s:\n%s", want, list)
		}
	}
	if lic := strings.TrimSpace(run(t, ".", nil, "rpm", "-qp", "--licensefiles", rpm)); lic != "/usr/share/licenses/sluice/LICENSE" {
		t.Errorf("rpm licence files: %q, want /usr/share/licenses/sluice/LICENSE", lic)
	}
	if scripts := strings.TrimSpace(run(t, ".", nil, "rpm", "-qp", "--scripts", rpm)); scripts != "" {
		t.Errorf("rpm has scripts:\n%s", scripts)
	}
	if v := strings.TrimSpace(run(t, ".", nil, "rpm", "-qp", "--queryformat", "%{VERSION}", rpm)); v != "1.2.3~rc1+4.gabc1234" {
		t.Errorf("rpm version %q, want 1.2.3~rc1+4.gabc1234", v)
	}
}
