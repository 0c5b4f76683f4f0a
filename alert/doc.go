// Package alert watches Sluice's figures for trouble and says so: a
// desktop notification ([alerts] error_rate, upstream_down), at most one
// per kind every 5 minutes, and a line for the tray menu and the
// dashboard while the trouble lasts.
//
// It owns: the rules (the error rate over the last minute, upstreams
// down) and their rate limit (alert.go), and showing a notification on
// each OS (notify*.go): the freedesktop Notifications service over the
// D-Bus session bus on Linux and the BSDs (godbus), osascript on macOS,
// a PowerShell toast on Windows.
//
// It must not touch the proxy, configuration files or package app: the
// app passes a Config, a func that samples the counters, and a Notifier.
// packaging/prometheus/sluice-alerts.yml holds the same rules for
// Prometheus; keep the two in step.
package alert
