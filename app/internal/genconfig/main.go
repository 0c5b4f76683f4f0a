// Command genconfig writes the files derived from app's key table:
// assets/config.toml and docs/configuration.md. It runs from the app
// directory (go generate ./app).
package main

import (
	"log"
	"os"
	"path/filepath"

	"github.com/sluiceproxy/sluice/app"
)

func main() {
	for path, data := range map[string][]byte{
		filepath.Join("..", "assets", "config.toml"):    app.RenderDefaultConfig(),
		filepath.Join("..", "docs", "configuration.md"): app.RenderReference(),
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
