// Package assets embeds the files Sluice ships inside its binary: the
// default config.toml and the icons. It holds data only, no logic.
package assets
