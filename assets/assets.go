package assets

import "embed"

// DefaultConfig is the commented default config.toml. `sluice config
// init` writes it, and every key missing from a user's file takes its
// value from here.
//
//go:embed config.toml
var DefaultConfig []byte

// UI is the dashboard's page, script and styles, with the uPlot chart
// library vendored beside them (its version and licence are in
// ui/VERSIONS and ui/LICENSE.uPlot; `make ui-assets` refreshes it).
//
//go:embed ui
var UI embed.FS
