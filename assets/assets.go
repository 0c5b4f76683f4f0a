package assets

import _ "embed"

// DefaultConfig is the commented default config.toml. `sluice config
// init` writes it, and every key missing from a user's file takes its
// value from here.
//
//go:embed config.toml
var DefaultConfig []byte
