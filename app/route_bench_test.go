package app

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkLoadConfig10kRules loads a config of 10,000 [[rule]] tables,
// as `make bench-parents` runs the binary with. Finding each entry's line
// for every key made this a minute (quadratic in the file); lines are
// now looked up only for a problem.
func BenchmarkLoadConfig10kRules(b *testing.B) {
	var body strings.Builder
	body.WriteString("[proxy]\nlisten = \"127.0.0.1:8877\"\n")
	for i := range 10000 {
		fmt.Fprintf(&body, "\n[[rule]]\nmatch = [\"domain-suffix:s%d.example\"]\naction = \"block\"\n", i)
	}
	path := writeTestConfig(b, body.String())
	b.ReportAllocs()
	for b.Loop() {
		cfg, err := LoadConfig(path)
		if err != nil || len(cfg.Rules) != 10000 {
			b.Fatalf("%d rules, %v", len(cfg.Rules), err)
		}
	}
}
