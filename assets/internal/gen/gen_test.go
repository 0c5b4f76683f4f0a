package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// decodePNG decodes PNG data, failing the test on error.
func decodePNG(t *testing.T, name string, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: decode png: %v", name, err)
	}
	return img
}

// samePixels reports the first pixel where a and b differ, comparing
// non-premultiplied RGBA so that PNG colour models do not matter.
func samePixels(a, b image.Image) (image.Point, bool) {
	if a.Bounds() != b.Bounds() {
		return a.Bounds().Max, false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, aa := a.At(x, y).RGBA()
			br, bg, bb, ba := b.At(x, y).RGBA()
			if ar != br || ag != bg || ab != bb || aa != ba {
				return image.Pt(x, y), false
			}
		}
	}
	return image.Point{}, true
}

// TestCommittedIconsMatchGenerator guards against a drawing change that
// was not regenerated, or a committed file edited by hand. Pixels are
// compared rather than bytes, since a new Go release may compress the same
// image differently.
func TestCommittedIconsMatchGenerator(t *testing.T) {
	files, err := render(true)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		path := filepath.Join("..", "..", name)
		if name == icnsName {
			path = filepath.Join("..", "..", "..", "packaging", "darwin", "sluice.icns")
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run `go generate ./assets`)", name, err)
			continue
		}
		switch filepath.Ext(name) {
		case ".png":
			if at, ok := samePixels(decodePNG(t, name, got), decodePNG(t, name, want)); !ok {
				t.Errorf("%s differs from the generator at %v: run `go generate ./assets`", path, at)
			}
		case ".ico":
			ge, we := icoEntries(t, got), icoEntries(t, want)
			if len(ge) != len(we) {
				t.Errorf("%s has %d images, generator makes %d: run `go generate ./assets`", path, len(ge), len(we))
				continue
			}
			for i := range ge {
				if at, ok := samePixels(decodePNG(t, name, ge[i]), decodePNG(t, name, we[i])); !ok {
					t.Errorf("%s image %d differs at %v: run `go generate ./assets`", path, i, at)
				}
			}
		case ".icns":
			ge, we := icnsEntries(t, got), icnsEntries(t, want)
			if len(ge) != len(we) {
				t.Errorf("%s has %d entries, generator makes %d: run `go generate ./assets`", path, len(ge), len(we))
				continue
			}
			for code, w := range we {
				if at, ok := samePixels(decodePNG(t, code, ge[code]), decodePNG(t, code, w)); !ok {
					t.Errorf("%s entry %s differs at %v: run `go generate ./assets`", path, code, at)
				}
			}
		}
	}
}

// icoEntries parses an .ico container independently of ico() and returns
// the image data of each entry, checking the directory fields as Windows
// reads them.
func icoEntries(t *testing.T, data []byte) [][]byte {
	t.Helper()
	le := binary.LittleEndian
	if len(data) < 6 || le.Uint16(data[0:]) != 0 || le.Uint16(data[2:]) != 1 {
		t.Fatalf("not an ICONDIR header: % x", data[:min(6, len(data))])
	}
	n := int(le.Uint16(data[4:]))
	var out [][]byte
	for i := range n {
		e := data[6+16*i:]
		w, h := int(e[0]), int(e[1])
		if w == 0 {
			w = 256
		}
		if h == 0 {
			h = 256
		}
		if planes, bits := le.Uint16(e[4:]), le.Uint16(e[6:]); planes != 1 || bits != 32 {
			t.Errorf("entry %d: planes %d bits %d, want 1 and 32", i, planes, bits)
		}
		size, off := le.Uint32(e[8:]), le.Uint32(e[12:])
		if int(off)+int(size) > len(data) {
			t.Fatalf("entry %d: data %d+%d past the end of %d bytes", i, off, size, len(data))
		}
		img := data[off : off+size]
		cfg, err := png.DecodeConfig(bytes.NewReader(img))
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if cfg.Width != w || cfg.Height != h {
			t.Errorf("entry %d: directory says %dx%d, png is %dx%d", i, w, h, cfg.Width, cfg.Height)
		}
		out = append(out, img)
	}
	return out
}

// icnsEntries parses an .icns container independently of icns() and
// returns its PNG entries by type.
func icnsEntries(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	be := binary.BigEndian
	if len(data) < 8 || string(data[:4]) != "icns" || int(be.Uint32(data[4:])) != len(data) {
		t.Fatalf("bad icns header: % x (file is %d bytes)", data[:min(8, len(data))], len(data))
	}
	out := map[string][]byte{}
	for rest := data[8:]; len(rest) > 0; {
		if len(rest) < 8 {
			t.Fatalf("truncated icns entry header")
		}
		code, n := string(rest[:4]), int(be.Uint32(rest[4:]))
		if n < 8 || n > len(rest) {
			t.Fatalf("icns entry %s: length %d out of range", code, n)
		}
		out[code] = rest[8:n]
		rest = rest[n:]
	}
	return out
}

// TestICOEntriesMatchSizes checks the Windows icons carry exactly the
// sizes the notification area and Explorer ask for.
func TestICOEntriesMatchSizes(t *testing.T) {
	cases := map[string][]int{
		"icons/app/sluice.ico": {16, 20, 24, 32, 40, 48, 64, 128, 256},
		"icons/tray/on.ico":    {16, 20, 24, 32, 40, 48, 64},
		"icons/tray/off.ico":   {16, 20, 24, 32, 40, 48, 64},
		"icons/tray/error.ico": {16, 20, 24, 32, 40, 48, 64},
	}
	for name, sizes := range cases {
		// The committed files: TestCommittedIconsMatchGenerator ties them
		// to the generator, and reading them keeps this test fast.
		data, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		entries := icoEntries(t, data)
		if len(entries) != len(sizes) {
			t.Fatalf("%s: %d entries, want %d", name, len(entries), len(sizes))
		}
		for i, e := range entries {
			cfg, _ := png.DecodeConfig(bytes.NewReader(e))
			if cfg.Width != sizes[i] {
				t.Errorf("%s entry %d: %d px, want %d", name, i, cfg.Width, sizes[i])
			}
		}
	}
}

// TestICNSHasRetinaSizes checks the .icns offers every slot from 16 px to
// 512 px at 2x, each a PNG of the size its type promises.
func TestICNSHasRetinaSizes(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "packaging", "darwin", "sluice.icns"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"icp4": 16, "icp5": 32, "icp6": 64, "ic07": 128, "ic08": 256, "ic09": 512,
		"ic10": 1024, "ic11": 32, "ic12": 64, "ic13": 256, "ic14": 512,
	}
	got := icnsEntries(t, data)
	if len(got) != len(want) {
		t.Errorf("icns has %d entries, want %d", len(got), len(want))
	}
	for code, px := range want {
		cfg, err := png.DecodeConfig(bytes.NewReader(got[code]))
		if err != nil {
			t.Errorf("icns %s: %v", code, err)
			continue
		}
		if cfg.Width != px || cfg.Height != px {
			t.Errorf("icns %s: %dx%d, want %dx%d", code, cfg.Width, cfg.Height, px, px)
		}
	}
}

// TestTemplatesAreBlackAndAlpha pins Apple's rule for template images:
// only the alpha channel carries the shape, every pixel is black.
func TestTemplatesAreBlackAndAlpha(t *testing.T) {
	for _, s := range []state{stateOff, stateOn, stateError} {
		img := templateIcon(s, 32)
		opaque := 0
		for i := 0; i < len(img.Pix); i += 4 {
			if img.Pix[i] != 0 || img.Pix[i+1] != 0 || img.Pix[i+2] != 0 {
				t.Fatalf("%s template: pixel %d is not black: %v", s.name(), i/4, img.Pix[i:i+4])
			}
			if img.Pix[i+3] == 255 {
				opaque++
			}
		}
		if opaque < 32*32/8 {
			t.Errorf("%s template: only %d opaque pixels; the glyph is missing", s.name(), opaque)
		}
	}
}

// TestTrayStatesDiffer makes sure the three states are told apart by
// colour in the badge and by shape in the templates.
func TestTrayStatesDiffer(t *testing.T) {
	for _, n := range []int{16, 22, 32} {
		off, on, bad := trayIcon(stateOff, n), trayIcon(stateOn, n), trayIcon(stateError, n)
		if _, same := samePixels(off, on); same {
			t.Errorf("%d px: off and on tray icons are identical", n)
		}
		if _, same := samePixels(on, bad); same {
			t.Errorf("%d px: on and error tray icons are identical", n)
		}
		toff, ton, tbad := templateIcon(stateOff, n), templateIcon(stateOn, n), templateIcon(stateError, n)
		if _, same := samePixels(toff, ton); same {
			t.Errorf("%d px: off and on templates are identical", n)
		}
		if _, same := samePixels(ton, tbad); same {
			t.Errorf("%d px: on and error templates are identical", n)
		}
	}
}

// TestBadgeStaysInsideItsOutline checks the clipping of waves at the
// badge's rounded corners: no pixel is more opaque than the badge outline
// itself allows.
func TestBadgeStaysInsideItsOutline(t *testing.T) {
	for _, n := range []int{16, 22, 32, 64, 256} {
		check := func(name string, img *image.RGBA, outline func(p pen)) {
			m := mask(n, frame{0, unit}, outline)
			for y := range n {
				for x := range n {
					// 2 levels of slack for rounding in compositing.
					if a, limit := img.RGBAAt(x, y).A, m.AlphaAt(x, y).A; int(a) > int(limit)+2 {
						t.Fatalf("%s %d px: pixel (%d,%d) alpha %d outside the outline (%d)", name, n, x, y, a, limit)
					}
				}
			}
		}
		for _, s := range []state{stateOff, stateOn, stateError} {
			check(s.name(), trayIcon(s, n), badgeOutline)
		}
		check("app", appIcon(n), appOutline)
	}
}
