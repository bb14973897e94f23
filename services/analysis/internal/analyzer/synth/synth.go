// Package synth renders seeded synthetic product photos with exact
// ground-truth masks, to measure the segmentation: bottles, boxes, jars,
// shoes and labelled cans with text, glossy highlights and semi-transparent
// rims, on white, grey, coloured and gradient backdrops, with cast and
// contact shadows, uneven light, vignetting, sensor noise and JPEG
// compression. The same Spec always renders the same pixels.
//
// Products are drawn in colours a seller would set apart from the backdrop:
// at least a clear ΔE from it, and not a colour the backdrop takes in shadow
// (a mid-grey product on a white sweep is, to any colour model, its own
// shadow; the generator does not pose that riddle).
package synth

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"

	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
)

// Backdrop is the kind of backdrop behind the product.
type Backdrop int

// Backdrop kinds.
const (
	White Backdrop = iota
	Grey
	Colored
	Gradient
)

// Backdrops lists every kind, for reports.
func Backdrops() []Backdrop { return []Backdrop{White, Grey, Colored, Gradient} }

// String names the backdrop.
func (b Backdrop) String() string {
	return [...]string{"white", "grey", "colored", "gradient"}[b]
}

// Shape is the kind of product.
type Shape int

// Product shapes.
const (
	Bottle Shape = iota
	Box
	Jar
	Shoe
	Can
	numShapes
)

// String names the shape.
func (s Shape) String() string {
	return [...]string{"bottle", "box", "jar", "shoe", "can"}[s]
}

// Spec fixes one synthetic photo.
type Spec struct {
	Seed          uint64
	Width, Height int
	Backdrop      Backdrop
	Shape         Shape
}

// Sample is a rendered photo and its truth.
type Sample struct {
	Spec Spec
	// Image is what a camera and a JPEG encoder would hand over (an
	// *image.YCbCr when compressed, else an *image.RGBA).
	Image image.Image
	// Truth is the product's exact coverage, 0..255.
	Truth *image.Gray
}

// Set is a fixed, seeded set of n specs cycling through backdrops, shapes
// and sizes, so every backdrop meets every shape at every size.
func Set(seed uint64, n int, sizes []image.Point) []Spec {
	specs := make([]Spec, n)
	for i := range specs {
		sz := sizes[(i/int(4*numShapes)+i)%len(sizes)]
		specs[i] = Spec{
			Seed:     seed*1_000_003 + uint64(i),
			Width:    sz.X,
			Height:   sz.Y,
			Backdrop: Backdrop(i % 4),
			Shape:    Shape((i / 4) % int(numShapes)),
		}
	}
	return specs
}

// part is a product region's colour and finish.
type part struct {
	col      [3]float64
	cylinder bool // shaded as a vertical cylinder
	glossy   bool
}

// scene is one photo's random choices.
type scene struct {
	rng      *rand.Rand
	w, h     int
	bgA, bgB [3]float64
	grad     int // 0 flat, 1 vertical, 2 radial
	light    [2]float64
	vignette float64
	// product geometry: centre x, base y, half width, height.
	cx, base, hw, ph float64
	parts            []part
	word             string
	highlight        float64 // u of the specular streak
	rim, rimWidth    float64 // semi-transparent rim opacity and width in px
}

// Render draws the photo of spec and its ground truth.
func Render(spec Spec) (Sample, error) {
	if spec.Width < 32 || spec.Height < 32 {
		return Sample{}, fmt.Errorf("size %dx%d too small", spec.Width, spec.Height)
	}
	sc := newScene(spec)
	W, H := spec.Width, spec.Height
	n := W * H
	cov := make([]float64, n)
	opac := make([]float64, n)
	fg := make([][3]float64, n)
	// Only the product's neighbourhood can be covered.
	x0, x1 := max(0, int(sc.cx-sc.hw)-3), min(W, int(sc.cx+sc.hw)+4)
	y0, y1 := max(0, int(sc.base-sc.ph)-3), min(H, int(sc.base)+4)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			d, c := sc.product(spec.Shape, float64(x)+0.5, float64(y)+0.5)
			i := y*W + x
			cov[i] = clamp(0.5-d, 0, 1)
			if cov[i] == 0 {
				continue
			}
			o := 1.0
			if -d < sc.rimWidth {
				o = sc.rim
			}
			opac[i] = cov[i] * o
			fg[i] = c
		}
	}
	shadow := sc.shadow(cov)
	rng := sc.rng
	noise := 0.5 + rng.Float64()*3
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	truth := image.NewGray(image.Rect(0, 0, W, H))
	for y := range H {
		for x := range W {
			i := y*W + x
			bg := sc.backdrop(float64(x)+0.5, float64(y)+0.5)
			light := sc.lightAt(float64(x)+0.5, float64(y)+0.5)
			for c := range 3 {
				b := bg[c] * light * (1 - shadow[i])
				v := opac[i]*fg[i][c]*light + (1-opac[i])*b
				v = v*255 + rng.NormFloat64()*noise
				img.Pix[i*4+c] = uint8(clamp(v+0.5, 0, 255))
			}
			img.Pix[i*4+3] = 255
			truth.Pix[i] = uint8(cov[i]*255 + 0.5)
		}
	}
	s := Sample{Spec: spec, Image: img, Truth: truth}
	if rng.Float64() < 0.8 {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 70 + rng.IntN(23)}); err != nil {
			return Sample{}, fmt.Errorf("encode jpeg: %w", err)
		}
		dec, err := jpeg.Decode(&buf)
		if err != nil {
			return Sample{}, fmt.Errorf("decode jpeg: %w", err)
		}
		s.Image = dec
	}
	return s, nil
}

func newScene(spec Spec) *scene {
	rng := rand.New(rand.NewPCG(spec.Seed, 0x5eed))
	W, H := float64(spec.Width), float64(spec.Height)
	sc := &scene{rng: rng, w: spec.Width, h: spec.Height}
	u := func(a, b float64) float64 { return a + rng.Float64()*(b-a) }
	switch spec.Backdrop {
	case White:
		v := u(0.92, 0.99)
		sc.bgA = [3]float64{v + u(-0.01, 0.01), v, v + u(-0.015, 0.01)}
	case Grey:
		v := u(0.45, 0.8)
		sc.bgA = [3]float64{v + u(-0.015, 0.015), v, v + u(-0.015, 0.015)}
	case Colored:
		sc.bgA = hsv(u(0, 360), u(0.25, 0.6), u(0.55, 0.92))
	case Gradient:
		sc.grad = 1 + rng.IntN(2)
		if rng.IntN(2) == 0 {
			a, b := u(0.85, 0.98), u(0.5, 0.75)
			sc.bgA, sc.bgB = [3]float64{a, a, a}, [3]float64{b, b, b}
		} else {
			h, s := u(0, 360), u(0.2, 0.5)
			sc.bgA, sc.bgB = hsv(h, s*0.6, u(0.85, 0.97)), hsv(h+u(-30, 30), s, u(0.5, 0.7))
		}
	}
	sc.light = [2]float64{u(-0.12, 0.12), u(-0.12, 0.12)}
	sc.vignette = u(0, 0.25)

	// Geometry: the product stands on the backdrop, centred-ish.
	aspect := map[Shape][2]float64{Bottle: {0.28, 0.4}, Box: {0.6, 0.95}, Jar: {0.7, 1.0}, Shoe: {1.8, 2.4}, Can: {0.45, 0.6}}[spec.Shape]
	ph := u(0.42, 0.7) * H
	hw := ph * u(aspect[0], aspect[1]) / 2
	if hw > 0.38*W {
		hw = 0.38 * W
		ph = min(ph, 2*hw/aspect[0])
	}
	sc.hw, sc.ph = hw, ph
	sc.cx = W/2 + u(-0.1, 0.1)*W
	sc.base = H/2 + ph/2 + u(-0.06, 0.08)*H
	sc.base = min(sc.base, H*0.93)

	bgMean := sc.backdrop(W/2, H/2)
	pick := func() [3]float64 {
		for range 200 {
			c := productColors[rng.IntN(len(productColors))]
			c = [3]float64{clamp(c[0]+u(-0.04, 0.04), 0, 1), clamp(c[1]+u(-0.04, 0.04), 0, 1), clamp(c[2]+u(-0.04, 0.04), 0, 1)}
			if distinct(c, bgMean) && distinct(scale(c, 0.62), bgMean) {
				return c
			}
		}
		return [3]float64{0.08, 0.08, 0.1} // black reads on every backdrop here
	}
	body := pick()
	sc.parts = []part{
		{col: body, cylinder: spec.Shape != Box, glossy: rng.IntN(2) == 0},
		{col: pick(), cylinder: spec.Shape != Box},
		{col: pick(), cylinder: spec.Shape != Box},
	}
	// Labels are often white or cream whatever the backdrop: the case that
	// tests closing the product over backdrop-coloured regions.
	if spec.Shape != Shoe && rng.IntN(3) == 0 {
		sc.parts[1].col = [3]float64{0.96, 0.95, 0.9}
	}
	sc.word = words[rng.IntN(len(words))]
	sc.highlight = u(-0.6, -0.3)
	if spec.Shape == Bottle || spec.Shape == Jar {
		if rng.IntN(2) == 0 {
			sc.rim, sc.rimWidth = u(0.6, 0.85), u(1, 2.5)
		}
	}
	if sc.rimWidth == 0 {
		sc.rim = 1
	}
	return sc
}

// productColors are everyday product colours; read-only.
var productColors = [][3]float64{
	{0.08, 0.08, 0.1}, {0.9, 0.9, 0.88}, {0.75, 0.1, 0.12}, {0.1, 0.2, 0.5}, {0.1, 0.45, 0.2},
	{0.95, 0.75, 0.1}, {0.9, 0.45, 0.1}, {0.45, 0.25, 0.12}, {0.85, 0.55, 0.65}, {0.4, 0.15, 0.5},
	{0.1, 0.55, 0.6}, {0.55, 0.6, 0.15}, {0.3, 0.3, 0.32}, {0.95, 0.9, 0.75}, {0.2, 0.35, 0.75},
}

// distinct reports whether a product colour stands out from the backdrop:
// ΔE ≥ 25 and not explainable as the backdrop in shadow.
func distinct(c, bg [3]float64) bool {
	l, a, b := analyzer.Lab(c[0], c[1], c[2])
	bl, ba, bb := analyzer.Lab(bg[0], bg[1], bg[2])
	if math.Sqrt((l-bl)*(l-bl)+(a-ba)*(a-ba)+(b-bb)*(b-bb)) < 25 {
		return false
	}
	if l >= bl {
		return true
	}
	k := (l + 16) / (bl + 16)
	if k*k*k < 0.15 {
		return true
	}
	return math.Hypot(a-k*ba, b-k*bb) >= 18
}

func scale(c [3]float64, k float64) [3]float64 { return [3]float64{c[0] * k, c[1] * k, c[2] * k} }

func (sc *scene) backdrop(x, y float64) [3]float64 {
	var t float64
	switch sc.grad {
	case 0:
		return sc.bgA
	case 1:
		t = y / float64(sc.h)
		t = t * t * (3 - 2*t)
	case 2:
		dx, dy := (x-float64(sc.w)/2)/float64(sc.w), (y-float64(sc.h)*0.4)/float64(sc.h)
		t = clamp((dx*dx+dy*dy)*2.5, 0, 1)
	}
	return [3]float64{lerp(sc.bgA[0], sc.bgB[0], t), lerp(sc.bgA[1], sc.bgB[1], t), lerp(sc.bgA[2], sc.bgB[2], t)}
}

func (sc *scene) lightAt(x, y float64) float64 {
	nx, ny := x/float64(sc.w)-0.5, y/float64(sc.h)-0.5
	r2 := (nx*nx + ny*ny) * 2
	return (1 + sc.light[0]*nx*2 + sc.light[1]*ny*2) * (1 - sc.vignette*r2)
}

// shadow is the cast shadow's darkening: a contact ellipse under the base
// and the silhouette thrown sideways, blurred into a penumbra.
func (sc *scene) shadow(cov []float64) []float64 {
	W, H := sc.w, sc.h
	rng := sc.rng
	u := func(a, b float64) float64 { return a + rng.Float64()*(b-a) }
	s := make([]float64, W*H)
	dx := int(u(0.02, 0.1) * float64(W) * float64(1-2*rng.IntN(2)))
	dy := int(u(0, 0.03) * float64(H))
	cast := u(0.15, 0.4)
	for y := range H {
		for x := range W {
			sx, sy := x-dx, y-dy
			if sx >= 0 && sy >= 0 && sx < W && sy < H {
				s[y*W+x] = cov[sy*W+sx] * cast
			}
			ex, ey := (float64(x)-sc.cx)/(sc.hw*1.15), (float64(y)-sc.base)/(sc.ph*0.05+2)
			if e := ex*ex + ey*ey; e < 1 {
				s[y*W+x] = max(s[y*W+x], 0.45*(1-e))
			}
		}
	}
	r := max(1, int(u(0.008, 0.03)*float64(min(W, H))))
	for range 3 {
		boxBlur(s, W, H, r)
	}
	for i := range s {
		s[i] = min(s[i], 0.45)
	}
	return s
}

// product returns the signed distance (pixels, negative inside) to the
// product's silhouette at (x, y) and its colour there.
func (sc *scene) product(shape Shape, x, y float64) (float64, [3]float64) {
	cx, base, hw, ph := sc.cx, sc.base, sc.hw, sc.ph
	top := base - ph
	var d float64
	p := 0
	switch shape {
	case Bottle:
		neck := hw * 0.38
		body := roundRect(x, y, cx, base-ph*0.32, hw, ph*0.32, hw*0.15)
		shoulder := ellipse(x, y, cx, base-ph*0.64, hw, ph*0.14)
		neckD := roundRect(x, y, cx, top+ph*0.17, neck, ph*0.17, 1)
		cap := roundRect(x, y, cx, top+ph*0.06, neck*1.15, ph*0.06, 1)
		d = min(body, shoulder, neckD, cap)
		switch {
		case cap <= 0.5:
			p = 2
		case y > base-ph*0.5 && y < base-ph*0.12:
			p = 1
		}
	case Box:
		depth := hw * 0.35
		front := roundRect(x, y, cx-depth/2, base-(ph-depth)/2, hw-depth/2, (ph-depth)/2, 0.5)
		left, right := cx-hw, cx+hw-depth
		topFace := poly(x, y, [][2]float64{{left, top + depth}, {left + depth, top}, {cx + hw, top}, {right, top + depth}})
		side := poly(x, y, [][2]float64{{right, top + depth}, {cx + hw, top}, {cx + hw, base - depth}, {right, base}})
		d = poly(x, y, [][2]float64{{left, top + depth}, {left + depth, top}, {cx + hw, top}, {cx + hw, base - depth}, {right, base}, {left, base}})
		switch {
		case topFace <= 0 && front > 0:
			p = 3
		case side <= 0 && front > 0:
			p = 4
		}
	case Jar:
		lid := roundRect(x, y, cx, top+ph*0.09, hw*0.92, ph*0.09, 2)
		body := roundRect(x, y, cx, base-ph*0.43, hw, ph*0.43, hw*0.22)
		d = min(lid, body)
		switch {
		case lid <= 0.5:
			p = 2
		case y > base-ph*0.7 && y < base-ph*0.2:
			p = 1
		}
	case Shoe:
		sole := roundRect(x, y, cx, base-ph*0.08, hw, ph*0.08, ph*0.06)
		toe := ellipse(x, y, cx+hw*0.35, base-ph*0.22, hw*0.62, ph*0.24)
		heel := roundRect(x, y, cx-hw*0.55, base-ph*0.5, hw*0.42, ph*0.5, hw*0.15)
		d = min(sole, toe, heel)
		if sole <= 0.5 {
			p = 1
		} else if math.Abs(x-cx-hw*0.1) < hw*0.05 && y < base-ph*0.25 {
			p = 2
		}
	case Can:
		d = roundRect(x, y, cx, base-ph/2, hw, ph/2, hw*0.08)
		switch {
		case y < top+ph*0.05 || y > base-ph*0.05:
			p = 2
		case y > top+ph*0.22 && y < base-ph*0.2:
			p = 1
		}
	}
	if d > 0.5 {
		return d, [3]float64{}
	}
	var c [3]float64
	switch p {
	case 3:
		c = scale(sc.parts[0].col, 1.15)
	case 4:
		c = scale(sc.parts[0].col, 0.7)
	default:
		c = sc.parts[p].col
	}
	if p == 1 && shape != Shoe && sc.word != "" {
		// The label's word, centred, in the body colour.
		fontPx := hw * 1.4 / float64(len(sc.word)*6)
		tx := (x - (cx - fontPx*float64(len(sc.word)*6)/2)) / fontPx
		ty := (y - (base - ph*0.5 - 3.5*fontPx)) / fontPx
		if shape == Box {
			ty = (y - (base - ph*0.45 - 3.5*fontPx)) / fontPx
		}
		if textInk(sc.word, tx, ty) {
			c = sc.parts[0].col
			if sc.parts[0].col == sc.parts[1].col {
				c = sc.parts[2].col
			}
		}
	}
	uu := clamp((x-cx)/hw, -1, 1)
	if shape == Box {
		for i := range c {
			c[i] = clamp(c[i], 0, 1)
		}
		return d, c
	}
	shade := 0.62 + 0.38*math.Sqrt(1-uu*uu)
	for i := range c {
		c[i] = clamp(c[i]*shade, 0, 1)
	}
	if sc.parts[0].glossy && shape != Shoe {
		g := math.Exp(-(uu - sc.highlight) * (uu - sc.highlight) / (2 * 0.06 * 0.06))
		for i := range c {
			c[i] = c[i] + (1-c[i])*0.8*g
		}
	}
	return d, c
}

func roundRect(x, y, cx, cy, hw, hh, r float64) float64 {
	r = min(r, hw, hh)
	qx, qy := math.Abs(x-cx)-hw+r, math.Abs(y-cy)-hh+r
	return math.Hypot(max(qx, 0), max(qy, 0)) + min(max(qx, qy), 0) - r
}

func ellipse(x, y, cx, cy, a, b float64) float64 {
	dx, dy := (x-cx)/a, (y-cy)/b
	return (math.Sqrt(dx*dx+dy*dy) - 1) * min(a, b)
}

// poly is the signed distance to a convex polygon given clockwise in image
// coordinates (exact near the edges, which is all coverage needs).
func poly(x, y float64, pts [][2]float64) float64 {
	d := math.Inf(-1)
	for i := range pts {
		a, b := pts[i], pts[(i+1)%len(pts)]
		ex, ey := b[0]-a[0], b[1]-a[1]
		l := math.Hypot(ex, ey)
		// Outward normal of a clockwise (on screen) polygon.
		nx, ny := ey/l, -ex/l
		d = max(d, (x-a[0])*nx+(y-a[1])*ny)
	}
	return d
}

func hsv(h, s, v float64) [3]float64 {
	h = math.Mod(h+360, 360) / 60
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h, 2)-1))
	var r, g, b float64
	switch int(h) {
	case 0:
		r, g, b = c, x, 0
	case 1:
		r, g, b = x, c, 0
	case 2:
		r, g, b = 0, c, x
	case 3:
		r, g, b = 0, x, c
	case 4:
		r, g, b = x, 0, c
	default:
		r, g, b = c, 0, x
	}
	m := v - c
	return [3]float64{r + m, g + m, b + m}
}

// boxBlur averages s over a (2r+1)² window clipped to the image, with
// running sums.
func boxBlur(s []float64, w, h, r int) {
	tmp := make([]float64, len(s))
	line := func(get func(int) float64, set func(int, float64), n int) {
		var acc float64
		for k := 0; k <= min(r, n-1); k++ {
			acc += get(k)
		}
		for k := range n {
			lo, hi := max(k-r, 0), min(k+r, n-1)
			set(k, acc/float64(hi-lo+1))
			if k+r+1 < n {
				acc += get(k + r + 1)
			}
			if k-r >= 0 {
				acc -= get(k - r)
			}
		}
	}
	for y := range h {
		line(func(k int) float64 { return s[y*w+k] }, func(k int, v float64) { tmp[y*w+k] = v }, w)
	}
	for x := range w {
		line(func(k int) float64 { return tmp[k*w+x] }, func(k int, v float64) { s[k*w+x] = v }, h)
	}
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }

func lerp(a, b, t float64) float64 { return a + (b-a)*t }

// IoU is the intersection over union of two masks thresholded at ½.
func IoU(mask, truth *image.Gray) float64 {
	var inter, union int
	b := truth.Rect
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			p := mask.GrayAt(x, y).Y >= 128
			t := truth.GrayAt(x, y).Y >= 128
			if p && t {
				inter++
			}
			if p || t {
				union++
			}
		}
	}
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}
