package main

import (
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/vector"
)

// unit is the side of the design grid: every shape is specified in a
// 64×64 square and scaled to the output size, so one drawing serves every
// size from 16 to 1024 pixels.
const unit = 64

// pen adds design-grid shapes to a rasterizer, scaled to pixels.
type pen struct {
	z *vector.Rasterizer
	s float32 // pixels per design unit
	o float32 // design coordinate drawn at pixel 0, on both axes
}

// px maps a design coordinate to pixels.
func (p pen) px(v float32) float32 { return (v - p.o) * p.s }

// snap rounds a design coordinate to the nearest pixel edge. Straight
// horizontal and vertical edges are snapped so that posts and beams stay
// crisp at 16–32 px instead of smearing across two half-covered pixels.
func (p pen) snap(v float32) float32 {
	return float32(math.Round(float64(p.px(v))))
}

// rect adds an axis-aligned rectangle with pixel-snapped edges, at least
// one pixel wide and high so that thin parts never vanish at 16 px.
func (p pen) rect(x0, y0, x1, y1 float32) {
	px0, py0, px1, py1 := p.snap(x0), p.snap(y0), p.snap(x1), p.snap(y1)
	if px1-px0 < 1 {
		px1 = px0 + 1
	}
	if py1-py0 < 1 {
		py1 = py0 + 1
	}
	p.z.MoveTo(px0, py0)
	p.z.LineTo(px1, py0)
	p.z.LineTo(px1, py1)
	p.z.LineTo(px0, py1)
	p.z.ClosePath()
}

// kappa places cubic Bézier control points so that a quarter curve
// approximates a circular arc (error < 0.03 %).
const kappa = 0.5522847

// roundRect adds a rectangle with circular corners of radius r. Edges are
// not snapped: the corners are curves anyway, and the outline of a badge
// reads better with even anti-aliasing all round.
func (p pen) roundRect(x0, y0, x1, y1, r float32) {
	x0, y0, x1, y1, r = p.px(x0), p.px(y0), p.px(x1), p.px(y1), r*p.s
	k := r * kappa
	p.z.MoveTo(x0+r, y0)
	p.z.LineTo(x1-r, y0)
	p.z.CubeTo(x1-r+k, y0, x1, y0+r-k, x1, y0+r)
	p.z.LineTo(x1, y1-r)
	p.z.CubeTo(x1, y1-r+k, x1-r+k, y1, x1-r, y1)
	p.z.LineTo(x0+r, y1)
	p.z.CubeTo(x0+r-k, y1, x0, y1-r+k, x0, y1-r)
	p.z.LineTo(x0, y0+r)
	p.z.CubeTo(x0, y0+r-k, x0+r-k, y0, x0+r, y0)
	p.z.ClosePath()
}

// circle adds a disc centred on (cx, cy).
func (p pen) circle(cx, cy, r float32) {
	p.roundRect(cx-r, cy-r, cx+r, cy+r, r)
}

// wave adds a sine-shaped band of thickness t, centred on y = cy, from x0
// to x1, with amplitude amp and wavelength wl. The band is offset
// vertically, which is close enough to a true stroke for gentle waves.
func (p pen) wave(x0, x1, cy, amp, wl, t float32) {
	const steps = 96
	y := func(x float32) float32 {
		return cy + amp*float32(math.Sin(2*math.Pi*float64((x-x0)/wl)))
	}
	for i := 0; i <= steps; i++ {
		x := x0 + (x1-x0)*float32(i)/steps
		if i == 0 {
			p.z.MoveTo(p.px(x), p.px(y(x)-t/2))
		} else {
			p.z.LineTo(p.px(x), p.px(y(x)-t/2))
		}
	}
	for i := steps; i >= 0; i-- {
		x := x0 + (x1-x0)*float32(i)/steps
		p.z.LineTo(p.px(x), p.px(y(x)+t/2))
	}
	p.z.ClosePath()
}

// frame says which part of the design grid fills the output image: the
// square from lo to hi on both axes.
type frame struct{ lo, hi float32 }

// fill rasterizes the shapes added by build, seen through f, and
// composites src over dst through them.
func fill(dst draw.Image, f frame, src image.Image, build func(p pen)) {
	b := dst.Bounds()
	z := vector.NewRasterizer(b.Dx(), b.Dy())
	build(pen{z: z, s: float32(b.Dx()) / (f.hi - f.lo), o: f.lo})
	z.Draw(dst, b, src, image.Point{})
}

// mask rasterizes the shapes added by build into an alpha mask of size n.
func mask(n int, f frame, build func(p pen)) *image.Alpha {
	m := image.NewAlpha(image.Rect(0, 0, n, n))
	fill(m, f, image.Opaque, build)
	return m
}

// cut returns the part of the opaque square sq inside outline, on a
// transparent background.
func cut(sq *image.RGBA, outline func(p pen)) *image.RGBA {
	n := sq.Bounds().Dx()
	out := image.NewRGBA(sq.Bounds())
	draw.DrawMask(out, out.Bounds(), sq, image.Point{}, mask(n, frame{0, unit}, outline), image.Point{}, draw.Src)
	return out
}

// vgradient is an image whose colour goes from top to bottom over n pixels,
// used as the source for the app icon's water-blue background.
type vgradient struct {
	n          int
	top, under color.NRGBA
}

func (g vgradient) ColorModel() color.Model { return color.NRGBAModel }
func (g vgradient) Bounds() image.Rectangle { return image.Rect(0, 0, g.n, g.n) }
func (g vgradient) At(_, y int) color.Color {
	t := (float64(y) + 0.5) / float64(g.n)
	lerp := func(a, b uint8) uint8 { return uint8(math.Round(float64(a) + (float64(b)-float64(a))*t)) }
	return color.NRGBA{
		R: lerp(g.top.R, g.under.R),
		G: lerp(g.top.G, g.under.G),
		B: lerp(g.top.B, g.under.B),
		A: 255,
	}
}

// rgb returns an opaque colour from a 0xRRGGBB literal.
func rgb(hex uint32) color.NRGBA {
	return color.NRGBA{R: uint8(hex >> 16), G: uint8(hex >> 8), B: uint8(hex), A: 255}
}

// uniform returns a source image of one colour.
func uniform(c color.Color) image.Image { return image.NewUniform(c) }
