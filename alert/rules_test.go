package alert

import (
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

const rulesFile = "../packaging/prometheus/sluice-alerts.yml"

// TestPrometheusRulesMatch parses packaging/prometheus/sluice-alerts.yml
// and holds it to this package's rules (the default threshold, Window,
// MinRequests) and to the metric names /metrics serves; promtool checks
// it when installed.
func TestPrometheusRulesMatch(t *testing.T) {
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr string
				Labels      map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	srv := httptest.NewServer(stats.MetricsHandler(stats.New()))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	served := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+)`).FindAllStringSubmatch(string(body), -1) {
		served[m[1]] = true
	}

	rules := map[string]string{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			rules[r.Alert] = r.Expr
			if r.Labels["severity"] == "" {
				t.Errorf("rule %s has no severity label", r.Alert)
			}
			for _, m := range regexp.MustCompile(`\bsluice_[a-z_]+\b`).FindAllString(r.Expr, -1) {
				if !served[m] {
					t.Errorf("rule %s uses %s, which /metrics does not serve", r.Alert, m)
				}
			}
		}
	}
	expr, ok := rules["SluiceErrorRate"]
	if !ok {
		t.Fatalf("no SluiceErrorRate rule in %s", rulesFile)
	}
	window := "[" + strconv.Itoa(int(Window.Minutes())) + "m]"
	for _, want := range []string{") > 0.05", ">= " + strconv.Itoa(MinRequests), "increase(sluice_errors_total" + window + ")", "increase(sluice_requests_total" + window + ")"} {
		if !strings.Contains(expr, want) {
			t.Errorf("SluiceErrorRate %q lacks %q, which the desktop alert uses", expr, want)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus); the rules were parsed, not checked")
	}
	if out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
