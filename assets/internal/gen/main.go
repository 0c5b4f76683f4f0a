// Command gen draws Sluice's icons and writes them as PNG, ICO and ICNS
// files. It runs from `go generate ./assets`; its output is committed, so a
// normal build never runs it.
//
// Usage:
//
//	go run ./internal/gen -out . -icns ../packaging/darwin/sluice.icns
package main

import (
	"flag"
	"fmt"
	"image"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", ".", "assets directory to write icons/ into")
	icnsPath := flag.String("icns", "", "where to write the macOS .icns (skipped if empty)")
	flag.Parse()
	files, err := render(*icnsPath != "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for name, data := range files {
		path := filepath.Join(*out, name)
		if name == icnsName {
			path = *icnsPath
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}

// icnsName is the key render uses for the .icns file, which lives outside
// the assets directory.
const icnsName = "sluice.icns"

// render draws every icon and returns file contents by path relative to
// the assets directory (the .icns under icnsName).
func render(withICNS bool) (map[string][]byte, error) {
	var (
		// appSizes are the freedesktop hicolor sizes installed on Linux.
		appSizes = []int{16, 22, 24, 32, 48, 64, 128, 256, 512}
		// appICOSizes are the sizes Windows Explorer and the taskbar ask
		// for at 100–250 % scaling.
		appICOSizes = []int{16, 20, 24, 32, 40, 48, 64, 128, 256}
		// traySizes cover tray hosts at 1x, 1.5x and 2x–3x.
		traySizes = []int{22, 32, 64}
		// trayICOSizes are Windows notification-area sizes (SM_CXSMICON
		// at 100–400 %) and SM_CXICON, which LoadImage picks by default.
		trayICOSizes = []int{16, 20, 24, 32, 40, 48, 64}
		// templateSizes are the macOS menu bar's 16 pt at 1x and 2x.
		templateSizes = []int{16, 32}
	)
	files := map[string][]byte{}
	add := func(name string, img image.Image) error {
		p, err := encodePNG(img)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		files[name] = p
		return nil
	}
	addICO := func(name string, draw func(n int) image.Image, sizes []int) error {
		var imgs []image.Image
		for _, n := range sizes {
			imgs = append(imgs, draw(n))
		}
		data, err := ico(imgs)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		files[name] = data
		return nil
	}

	app := func(n int) image.Image { return appIcon(n) }
	for _, n := range appSizes {
		if err := add(fmt.Sprintf("icons/app/sluice_%d.png", n), appIcon(n)); err != nil {
			return nil, err
		}
	}
	if err := addICO("icons/app/sluice.ico", app, appICOSizes); err != nil {
		return nil, err
	}
	for _, s := range []state{stateOff, stateOn, stateError} {
		for _, n := range traySizes {
			if err := add(fmt.Sprintf("icons/tray/%s_%d.png", s.name(), n), trayIcon(s, n)); err != nil {
				return nil, err
			}
		}
		for _, n := range templateSizes {
			if err := add(fmt.Sprintf("icons/tray/template_%s_%d.png", s.name(), n), templateIcon(s, n)); err != nil {
				return nil, err
			}
		}
		tray := func(n int) image.Image { return trayIcon(s, n) }
		if err := addICO(fmt.Sprintf("icons/tray/%s.ico", s.name()), tray, trayICOSizes); err != nil {
			return nil, err
		}
	}
	if withICNS {
		data, err := icns(app)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", icnsName, err)
		}
		files[icnsName] = data
	}
	return files, nil
}
