package app

import (
	"testing"
)

// TestSystemProxyTargetFor checks the target each [sysproxy] mode gives,
// and that a mode outside manual and pac is a config error naming the key
// and line.
func TestSystemProxyTargetFor(t *testing.T) {
	clearProxyEnv(t)
	for _, tc := range []struct{ body, listen, pac string }{
		{"", "127.0.0.1:8877", ""},
		{"[sysproxy]\nmode = \"manual\"\n", "127.0.0.1:8877", ""},
		{"[sysproxy]\nmode = \"pac\"\n", "127.0.0.1:8877", "http://127.0.0.1:8877/proxy.pac"},
		{"[sysproxy]\nmode = \"pac\"\n", "[::]:9000", "http://[::1]:9000/proxy.pac"},
	} {
		cfg, err := LoadConfig(writeTestConfig(t, tc.body))
		if err != nil {
			t.Fatal(err)
		}
		tg, err := SystemProxyTargetFor(cfg, tc.listen)
		if err != nil {
			t.Fatal(err)
		}
		if tg.PAC != tc.pac || tg.Port == 0 || len(tg.Bypass) == 0 {
			t.Errorf("%q on %s: target %+v, want PAC %q", tc.body, tc.listen, tg, tc.pac)
		}
	}
	path := writeTestConfig(t, "[sysproxy]\nmode = \"auto\"\n")
	_, err := LoadConfig(path)
	if want := path + `:2: sysproxy.mode: "auto" is not one of manual, pac`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}
