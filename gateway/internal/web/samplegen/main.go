// Command samplegen draws the landing page's before/after sample images
// (static/img/sample-*.png): a product on a dull, unevenly lit table, and
// the same product in a studio scene. They are stand-ins drawn with plain
// geometry until the local studio renderer (generation service) can render
// real examples; run `go generate ./internal/web` to redraw them.
package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
)

const size = 400

type rgb struct{ r, g, b float64 }

func mix(a, b rgb, t float64) rgb {
	t = clamp(t, 0, 1)
	return rgb{a.r + (b.r-a.r)*t, a.g + (b.g-a.g)*t, a.b + (b.b-a.b)*t}
}

func scale(a rgb, k float64) rgb { return rgb{a.r * k, a.g * k, a.b * k} }

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// coverage turns a signed distance (negative inside) into anti-aliased alpha.
func coverage(d float64) float64 { return clamp(0.5-d, 0, 1) }

func roundRect(x, y, cx, cy, hw, hh, r float64) float64 {
	qx := math.Abs(x-cx) - hw + r
	qy := math.Abs(y-cy) - hh + r
	return math.Hypot(math.Max(qx, 0), math.Max(qy, 0)) + math.Min(math.Max(qx, qy), 0) - r
}

func ellipse(x, y, cx, cy, rx, ry float64) float64 {
	k := math.Hypot((x-cx)/rx, (y-cy)/ry)
	return (k - 1) * math.Min(rx, ry)
}

// product paints a product at (x, y) and returns its colour and coverage.
type product func(x, y float64) (rgb, float64)

func bottle(x, y float64) (rgb, float64) {
	glass := rgb{0.13, 0.36, 0.27}
	body := roundRect(x, y, 200, 250, 62, 100, 26)
	neck := roundRect(x, y, 200, 130, 22, 40, 8)
	capd := roundRect(x, y, 200, 88, 25, 14, 4)
	a := coverage(math.Min(body, neck))
	c := mix(glass, scale(glass, 1.6), clamp(1-math.Abs(x-178)/30, 0, 1)*0.6)
	if l := coverage(roundRect(x, y, 200, 255, 63, 46, 3)); l > 0 {
		label := rgb{0.95, 0.91, 0.82}
		for i, w := range []float64{40, 28, 34} {
			if coverage(roundRect(x, y, 200, 235+float64(i)*16, w, 3.5, 2)) > 0.5 {
				label = rgb{0.55, 0.2, 0.12}
			}
		}
		c = mix(c, label, l)
	}
	if ca := coverage(capd); ca > 0 {
		c = mix(c, rgb{0.75, 0.62, 0.32}, ca)
		a = math.Max(a, ca)
	}
	return c, a
}

func mug(x, y float64) (rgb, float64) {
	clay := rgb{0.76, 0.4, 0.27}
	body := roundRect(x, y, 185, 235, 75, 85, 14)
	ring := math.Abs(ellipse(x, y, 268, 232, 38, 44)) - 11
	a := coverage(math.Min(body, ring))
	c := mix(scale(clay, 0.8), scale(clay, 1.15), clamp((x-110)/150, 0, 1))
	if rim := coverage(roundRect(x, y, 185, 155, 75, 6, 4)); rim > 0 {
		c = mix(c, rgb{0.93, 0.9, 0.85}, rim)
	}
	return c, a
}

func box(x, y float64) (rgb, float64) {
	navy := rgb{0.14, 0.2, 0.38}
	body := roundRect(x, y, 200, 235, 90, 80, 6)
	lid := roundRect(x, y, 200, 150, 98, 18, 5)
	a := coverage(math.Min(body, lid))
	c := mix(navy, scale(navy, 1.3), clamp((y-140)/200, 0, 1))
	gold := rgb{0.86, 0.7, 0.34}
	if r := coverage(math.Min(roundRect(x, y, 200, 210, 10, 110, 2), roundRect(x, y, 200, 240, 90, 9, 2))); r > 0 {
		c = mix(c, gold, r)
	}
	bow := math.Min(ellipse(x, y, 178, 124, 24, 12), ellipse(x, y, 222, 124, 24, 12))
	if b := coverage(bow); b > 0 {
		c = mix(c, gold, b)
		a = math.Max(a, b)
	}
	return c, a
}

// scene is a background colour at (x, y).
type scene func(x, y float64) rgb

// dull is the "before": a grey table under one weak, off-centre light.
func dull(x, y float64) rgb {
	wall := rgb{0.62, 0.61, 0.58}
	table := rgb{0.5, 0.48, 0.45}
	c := wall
	if y > 300 {
		c = table
	}
	light := 1 - 0.45*math.Hypot(x-90, y-60)/500
	c = scale(c, light)
	// A blurred clutter blob at the edge of the frame.
	if d := math.Hypot(x-352, y-330); d < 60 {
		c = mix(c, rgb{0.35, 0.33, 0.38}, (1-d/60)*0.7)
	}
	return c
}

func warmStudio(x, y float64) rgb {
	top := rgb{0.98, 0.89, 0.8}
	floor := rgb{0.93, 0.8, 0.69}
	return mix(top, floor, clamp((y-200)/200, 0, 1))
}

func marble(x, y float64) rgb {
	base := rgb{0.93, 0.93, 0.92}
	v := math.Sin(x*0.03+y*0.012+3*math.Sin(y*0.02+x*0.004)) * math.Sin(x*0.011-y*0.027)
	c := mix(base, rgb{0.72, 0.73, 0.75}, clamp(math.Pow(math.Abs(v), 6)*1.4, 0, 1))
	if y < 290 {
		c = mix(rgb{0.86, 0.88, 0.9}, rgb{0.8, 0.83, 0.86}, y/290)
	}
	return c
}

func white(x, y float64) rgb { return rgb{1, 1, 1} }

// render composites a product over a scene with a shadow: hard and offset
// for the flash-lit "before", soft contact shadow for the "after".
func render(p product, bg scene, before bool, baseY float64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			x, y := float64(px)+0.5, float64(py)+0.5
			c := bg(x, y)
			if before {
				_, sa := p(x-26, y-6)
				c = scale(c, 1-0.35*sa)
			} else {
				d := ellipse(x, y, 200, baseY, 110, 16)
				c = scale(c, 1-0.28*clamp(1-(d+8)/30, 0, 1))
			}
			pc, pa := p(x, y)
			if before {
				pc = scale(pc, 0.82+0.1*(1-y/size))
			}
			c = mix(c, pc, pa)
			img.Set(px, py, color.RGBA{uint8(clamp(c.r, 0, 1) * 255), uint8(clamp(c.g, 0, 1) * 255), uint8(clamp(c.b, 0, 1) * 255), 255})
		}
	}
	return img
}

func main() {
	dir := "static/img"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	samples := []struct {
		name  string
		p     product
		after scene
		baseY float64
	}{
		{"bottle", bottle, warmStudio, 350},
		{"mug", mug, marble, 320},
		{"box", box, white, 315},
	}
	for _, s := range samples {
		for _, v := range []struct {
			suffix string
			bg     scene
			before bool
		}{{"before", dull, true}, {"after", s.after, false}} {
			var buf bytes.Buffer
			enc := png.Encoder{CompressionLevel: png.BestCompression}
			if err := enc.Encode(&buf, render(s.p, v.bg, v.before, s.baseY)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			path := filepath.Join(dir, fmt.Sprintf("sample-%s-%s.png", s.name, v.suffix))
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
}
