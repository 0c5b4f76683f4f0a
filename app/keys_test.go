package app

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/assets"
)

// TestGeneratedFilesAreCurrent fails when assets/config.toml or
// docs/configuration.md no longer match the key table.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	if !bytes.Equal(assets.DefaultConfig, RenderDefaultConfig()) {
		t.Error("assets/config.toml is stale: run make generate (go generate ./app)")
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, RenderReference()) {
		t.Error("docs/configuration.md is stale: run make generate (go generate ./app)")
	}
}

// TestKeyTableCoversConfig checks that every Config field is reached by
// exactly one key, so a field added without a key (or two keys on one
// field) fails here.
func TestKeyTableCoversConfig(t *testing.T) {
	var c Config
	seen := map[uintptr]string{}
	for _, k := range Keys {
		p := reflect.ValueOf(k.Field(&c)).Pointer()
		if other, ok := seen[p]; ok {
			t.Errorf("%s and %s point at the same field", k.Name, other)
		}
		seen[p] = k.Name
		if _, ok := lookupKey(k.Name); !ok || !strings.Contains(k.Name, ".") {
			t.Errorf("key %q is not section.name", k.Name)
		}
	}
	// An array of tables' slice is reached by its ArrayTable, and each
	// field of an entry by one of its keys.
	entry := withOneEntryEach()
	for _, at := range ArrayTables {
		seen[reflect.ValueOf(at.Field(&c)).Pointer()] = "[[" + at.Name + "]]"
		fields := map[uintptr]string{}
		for _, k := range at.Keys {
			p := reflect.ValueOf(k.Elem(entry, 0)).Pointer()
			if other, ok := fields[p]; ok {
				t.Errorf("%s and %s point at the same field", k.Name, other)
			}
			fields[p] = k.Name
		}
		e := at.entries(entry).Index(0)
		for j := 0; j < e.NumField(); j++ {
			if _, ok := fields[e.Field(j).Addr().Pointer()]; !ok {
				t.Errorf("[[%s]] field %s has no key in ArrayTables (app/keys.go)", at.Name, e.Type().Field(j).Name)
			}
		}
	}
	v := reflect.ValueOf(&c).Elem()
	for i := 0; i < v.NumField(); i++ {
		sect := v.Field(i)
		if !v.Type().Field(i).IsExported() {
			continue
		}
		if sect.Kind() == reflect.Slice {
			if _, ok := seen[sect.Addr().Pointer()]; !ok {
				t.Errorf("Config field %s has no entry in ArrayTables (app/keys.go)", v.Type().Field(i).Name)
			}
			continue
		}
		for j := 0; j < sect.NumField(); j++ {
			name := v.Type().Field(i).Name + "." + sect.Type().Field(j).Name
			if _, ok := seen[sect.Field(j).Addr().Pointer()]; !ok {
				t.Errorf("Config field %s has no entry in the key table (app/keys.go)", name)
			}
		}
	}
}

// TestNoStrayKeyNames checks that the key table is the only place in the
// module's Go code (tests aside) where a key's dotted name or an
// environment variable is written, and, in app and cmd, a distinctive
// default (the libraries keep their own documented defaults for a zero
// field).
func TestNoStrayKeyNames(t *testing.T) {
	names, defaults := map[string]string{}, map[string]string{}
	word := regexp.MustCompile(`^"[a-z]*"$`)
	for _, k := range Keys {
		names[strconv.Quote(k.Name)] = "the key name " + k.Name
		if k.Env != "" {
			names[strconv.Quote(k.Env)] = "the variable " + k.Env
		}
		// A plain word ("json") is also a flag's name; the rest are distinctive.
		if strings.HasPrefix(k.Default, `"`) && !word.MatchString(k.Default) {
			defaults[k.Default] = "the default of " + k.Name
		}
		if n, err := strconv.Atoi(k.Default); err == nil && n >= 100 {
			defaults[k.Default] = "the default of " + k.Name
		}
	}
	env := regexp.MustCompile(`PROXY_[A-Z_]+`)
	fset := token.NewFileSet()
	root := ".."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, "app/keys") {
			return nil
		}
		appOrCmd := strings.HasPrefix(rel, "app/") && strings.Count(rel, "/") == 1 || strings.HasPrefix(rel, "cmd/")
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok {
				return true
			}
			if what, ok := names[lit.Value]; ok {
				t.Errorf("%s: %s is written outside the key table (app/keys.go)", fset.Position(lit.Pos()), what)
			} else if what, ok := defaults[lit.Value]; ok && appOrCmd {
				t.Errorf("%s: %s is written outside the key table (app/keys.go)", fset.Position(lit.Pos()), what)
			} else if lit.Kind == token.STRING && env.MatchString(lit.Value) {
				t.Errorf("%s: an environment variable (%s) is written outside the key table", fset.Position(lit.Pos()), env.FindString(lit.Value))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestConfigErrorsAllAtOnce checks that one load reports every problem,
// in file order, with its line, in plain words, with "did you mean" for
// near misses.
func TestConfigErrorsAllAtOnce(t *testing.T) {
	clearProxyEnv(t)
	body := `via = false
[proxy]
max_concurrent = "lots"
max_concurent = 10
connect_timeout = "0s"
level = "debug"

[prox]
listen = "127.0.0.1:1"

[dns]
servers = "system"
max_entries = 2.5

[log]
format = "xml"
`
	path := writeTestConfig(t, body)
	_, err := LoadConfig(path)
	var list *ConfigErrors
	if !errors.As(err, &list) {
		t.Fatalf("error %v (%T), want a *ConfigErrors", err, err)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Line != 1 {
		t.Errorf("errors.As finds %v, want the first problem, at line 1", ce)
	}
	want := []string{
		path + `:1: via: a key outside any section; did you mean proxy.via (put it under [proxy])?`,
		path + `:3: proxy.max_concurrent: "lots" is a string; write a whole number, like 2048`,
		path + `:4: proxy.max_concurent: unknown key; did you mean max_concurrent?`,
		path + `:5: proxy.connect_timeout: 0s must be more than zero`,
		path + `:6: proxy.level: unknown key; did you mean log.level (in [log])?`,
		path + `:8: unknown section [prox]; did you mean [proxy]?`,
		path + `:12: dns.servers: "system" is a string; write a list of strings, like ["system"]`,
		path + `:13: dns.max_entries: 2.5 is a number with a fraction; write a whole number, like 10000`,
		path + `:16: log.format: "xml" is not one of json, text`,
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEnvErrorsJoinFileErrors checks that a bad environment value is
// reported with the file's problems, after them, naming the variable.
func TestEnvErrorsJoinFileErrors(t *testing.T) {
	clearProxyEnv(t)
	t.Setenv("PROXY_MAX_CONCURRENT", "many")
	path := writeTestConfig(t, "[log]\nlevel = \"loud\"\n")
	_, err := LoadConfig(path)
	want := path + `:2: log.level: "loud" is not one of debug, info, warn, error` + "\n" +
		`proxy.max_concurrent: env PROXY_MAX_CONCURRENT="many": not a whole number`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

// TestInitConfigOverExistingFile checks that init refuses to overwrite,
// saying how to see or replace the file, instead of a raw open error.
func TestInitConfigOverExistingFile(t *testing.T) {
	path := writeTestConfig(t, "[proxy]\n")
	err := InitConfig(path)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("InitConfig over a file: %v, want fs.ErrExist", err)
	}
	for _, w := range []string{path + ": file already exists", "sluice config check --config " + path, "move it away"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "open ") {
		t.Errorf("error %q is the raw open error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "[proxy]\n" {
		t.Errorf("the file was changed: %q", b)
	}
}

// TestEffectiveMarksSourcesAndKeepsDurations checks config check's
// output: a value from the environment or a flag is marked, and a
// duration reads as it was written.
func TestEffectiveMarksSourcesAndKeepsDurations(t *testing.T) {
	clearProxyEnv(t)
	t.Setenv("PROXY_CONNECT_TIMEOUT", "1m30s")
	cfg, err := LoadConfig(writeTestConfig(t, "[proxy]\npool_idle_timeout = \"90s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Set(KeyListen, "127.0.0.1:9000", "flag --listen"); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := cfg.WriteEffective(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range []string{
		"\npool_idle_timeout = \"90s\"\n",
		"\nconnect_timeout = \"1m30s\"  # from env PROXY_CONNECT_TIMEOUT\n",
		"\nlisten = \"127.0.0.1:9000\"  # from flag --listen\n",
		"\nmax_ttl = \"24h\"\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("config check output lacks %q:\n%s", w, out)
		}
	}
	// What config check prints loads back to the same values.
	again, err := parseConfig(b.Bytes(), "effective")
	if err != nil {
		t.Fatalf("config check output does not load: %v", err)
	}
	if d := changedKeys(cfg, again); len(d) != 0 {
		t.Errorf("config check output loads back with changes: %v", d)
	}
}

// TestDisabledMeansDisabledInTheLibraries checks that 0 for
// pool_max_idle_per_host and stale_ttl reaches the proxy and resolver as
// their explicit "off" fields, not as their defaults.
func TestDisabledMeansDisabledInTheLibraries(t *testing.T) {
	clearProxyEnv(t)
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	a, err := New(Options{ConfigPath: writeTestConfig(t, fmt.Sprintf("[proxy]\npool_max_idle_per_host = 0\n[log]\ndir = %q\n", dir))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.logs.Close() })
	if pc := a.proxyConfig(a.cfg, &upstream{}, nil); !pc.NoPool {
		t.Errorf("pool_max_idle_per_host = 0: proxy.Config.NoPool is false (MaxIdlePerHost %d)", pc.MaxIdlePerHost)
	}
	if pc := a.proxyConfig(DefaultConfig(), &upstream{}, nil); pc.NoPool || pc.MaxIdlePerHost != 64 {
		t.Errorf("default pool: NoPool %v, MaxIdlePerHost %d", pc.NoPool, pc.MaxIdlePerHost)
	}
}

// TestChangedKeys checks what reload logs: each changed key with its old
// and new value, durations compared by length and shown as written.
func TestChangedKeys(t *testing.T) {
	clearProxyEnv(t)
	old, err := LoadConfig(writeTestConfig(t, "[proxy]\nconnect_timeout = \"10s\"\npool_idle_timeout = \"90s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(writeTestConfig(t, "[proxy]\nconnect_timeout = \"3s\"\npool_idle_timeout = \"1m30s\"\nvia = false\n[dns]\nservers = [\"9.9.9.9:53\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := changedKeys(old, cfg)
	want := []any{"proxy.via", "true → false", "proxy.connect_timeout", "10s → 3s", "dns.servers", `["system"] → ["9.9.9.9:53"]`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changedKeys = %q, want %q", got, want)
	}
	if cfg.Proxy.PoolIdleTimeout.Duration != 90*time.Second {
		t.Errorf("1m30s read as %v", cfg.Proxy.PoolIdleTimeout)
	}
}

// TestReloadLogsChangedKeys checks the app log after a reload names each
// changed key with its old and new value.
func TestReloadLogsChangedKeys(t *testing.T) {
	addr := freePort(t)
	a, path := startWatchedApp(t, addr)
	dir := filepath.Dir(path)
	body := strings.Replace(configWithListen(addr, dir), "shutdown_grace = \"1s\"", "shutdown_grace = \"1s\"\nconnect_timeout = \"3s\"", 1)
	writeConfig(t, path, body)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	want := `"proxy.connect_timeout":"10s → 3s"`
	waitFor(t, "the change in app.log", func() error {
		b, err := os.ReadFile(filepath.Join(dir, "logs", "app.log"))
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, `"config reloaded"`) && strings.Contains(line, want) {
				return nil
			}
		}
		return errors.New("no config reloaded record with " + want + " in:\n" + string(b))
	})
}
