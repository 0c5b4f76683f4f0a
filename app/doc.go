// Package app wires Sluice together: it loads and validates config.toml,
// sets up logging, starts and stops the proxy, the resolver and the system
// proxy switch, reloads the config without a restart, and keeps the state
// files that let a crashed run be cleaned up.
//
// Every config key is one entry in the key table (keys.go): its name,
// environment variable, default, bounds and doc. Loading, validation
// (config.go), `config check`'s listing, reload's change log
// (keys_render.go) and the generated assets/config.toml and
// docs/configuration.md (go generate) all come from it.
//
// app is the only package that knows every other one; the packages below
// it (proxy, resolver, sysproxy, tray) take small config structs and
// interfaces and never import app.
package app
