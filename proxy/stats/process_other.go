//go:build !linux && !windows && !darwin

package stats

// processMetrics adds nothing where client_golang's process collector
// reads nothing either (it needs /proc, Windows or macOS calls).
func processMetrics(*exposition) {}
