package main

import (
	"image"
	"image/color"
	"image/draw"
)

// The motif is a sluice gate: two posts joined by a beam (a "Π"), a gate
// panel between the posts, and water under it. Open gate, water flowing:
// the proxy is carrying traffic. Closed gate: it is not.

// Palette. The app icon is water blue with a warm gate panel; tray badges
// are flat so that they read at 16 px on light and dark panels alike.
const (
	skyTop    = 0x3CB9F2
	deepWater = 0x0A4E9B
	foam      = 0xDDF5FF
	white     = 0xFFFFFF
	amber     = 0xFFC23D
	amberDark = 0xD99A12
)

// state is a tray icon state.
type state int

const (
	stateOff   state = iota // system proxy not pointing at Sluice
	stateOn                 // system proxy pointing at Sluice
	stateError              // listener failed or config invalid
)

// name is the state's file-name stem.
func (s state) name() string {
	return [...]string{"off", "on", "error"}[s]
}

// badge is the state's tray badge colour: grey at rest, vivid blue when
// traffic flows, red on error.
func (s state) badge() color.NRGBA {
	return [...]color.NRGBA{rgb(0x868C96), rgb(0x0A84FF), rgb(0xE5383B)}[s]
}

// appOutline is the app icon's rounded square, with a 2-unit margin as
// the freedesktop and Apple grids expect.
func appOutline(p pen) { p.roundRect(2, 2, 62, 62, 13) }

// badgeOutline is the tray badge, rounder than the app icon so that it
// reads as a badge and not as a small copy of the app icon.
func badgeOutline(p pen) { p.roundRect(2, 2, 62, 62, 14) }

// appIcon draws the application icon at n×n pixels.
func appIcon(n int) *image.RGBA {
	g := frame{0, unit}
	// Everything is painted on an opaque square and cut to the outline
	// once at the end: cutting each layer separately would add up the
	// partial coverage of the edge pixels into a visible fringe.
	sq := image.NewRGBA(image.Rect(0, 0, n, n))
	draw.Draw(sq, sq.Bounds(), vgradient{n: n, top: rgb(skyTop), under: rgb(deepWater)}, image.Point{}, draw.Src)

	// Water runs under the gate from edge to edge.
	fill(sq, g, uniform(rgb(foam)), func(p pen) {
		if n < 32 {
			// Below 32 px two bands blur into one; draw one bolder band.
			p.wave(-8, 72, 45, 2.6, 20, 7)
			return
		}
		p.wave(-8, 72, 41, 2.4, 16, 5)
		p.wave(-8, 72, 51, 2.4, 16, 5)
	})
	fill(sq, g, uniform(rgb(white)), func(p pen) {
		p.rect(12, 9, 52, 15) // beam
		p.rect(12, 9, 19, 57) // left post
		p.rect(45, 9, 52, 57) // right post
	})
	fill(sq, g, uniform(rgb(amber)), func(p pen) { p.rect(21, 17, 43, 33) })
	if n >= 32 {
		// Planks on the gate panel: detail that only helps when there
		// are enough pixels to show it.
		fill(sq, g, uniform(rgb(amberDark)), func(p pen) {
			p.rect(21, 22.5, 43, 24)
			p.rect(21, 28, 43, 29.5)
		})
	}
	return cut(sq, appOutline)
}

// glyph adds the tray glyph for s. On and off show the gate standing over
// the water, raised or lowered; error shows the frame around an
// exclamation mark. small selects one bold wave instead of two thin ones
// for icons under about 24 px, where two waves turn into noise.
func glyph(s state, small bool) func(p pen) {
	return func(p pen) {
		p.rect(12, 10, 52, 17) // beam
		if s == stateError {
			p.rect(12, 10, 20, 54)
			p.rect(44, 10, 52, 54)
			p.rect(28.5, 21, 35.5, 40)
			p.circle(32, 47.5, 4)
			return
		}
		p.rect(12, 10, 20, 35)
		p.rect(44, 10, 52, 35)
		if s == stateOn {
			p.rect(23, 20, 41, 28) // gate raised
		} else {
			p.rect(23, 20, 41, 35) // gate lowered
		}
		if small {
			p.wave(4, 60, 46, 3, 20, 8)
			return
		}
		p.wave(4, 60, 42, 2.4, 16, 5)
		p.wave(4, 60, 51, 2.4, 16, 5)
	}
}

// trayIcon draws the coloured tray badge for s at n×n pixels, for Linux
// and Windows trays, whose background may be light or dark.
func trayIcon(s state, n int) *image.RGBA {
	sq := image.NewRGBA(image.Rect(0, 0, n, n))
	draw.Draw(sq, sq.Bounds(), uniform(s.badge()), image.Point{}, draw.Src)
	fill(sq, frame{0, unit}, uniform(rgb(white)), glyph(s, n < 28))
	return cut(sq, badgeOutline)
}

// templateIcon draws the macOS template variant of s at n×n pixels: the
// glyph alone in black on transparent, framed tighter because there is no
// badge around it. macOS recolours it for light and dark menu bars.
func templateIcon(s state, n int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	fill(img, frame{8, 56}, uniform(color.Black), glyph(s, n < 20))
	return img
}
