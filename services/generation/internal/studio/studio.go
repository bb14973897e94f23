// Package studio is the local studio renderer: seeded, deterministic,
// procedural product scenes in pure Go. It cuts the product out of the source
// with the analysis mask, places it in the scene with a contact shadow, a soft
// cast shadow and (on glossy floors) a reflection, and pulls its colours a
// little toward the scene's light. The same seed, source and scene always give
// the same pixels.
//
// The backdrop is evaluated on a grid about 512 samples on its long side and
// interpolated, with a per-pixel grain tile on top: studio backdrops are out of
// focus in real photos anyway, and it keeps a 2048² render within its budget.
package studio

import (
	"errors"
	"fmt"
	"image"
	"math"

	"github.com/connectengine/photoshoot/services/generation/internal/imaging"
)

// Errors the renderer returns for bad input.
var (
	ErrUnknownScene = errors.New("unknown scene")
	ErrNoProduct    = errors.New("mask marks no product")
	ErrBadRequest   = errors.New("bad render request")
)

// Aspects are the aspect ratios a job may ask for, as width:height.
var Aspects = map[string][2]int{
	"1:1": {1, 1}, "4:5": {4, 5}, "3:4": {3, 4}, "2:3": {2, 3}, "16:9": {16, 9}, "9:16": {9, 16},
}

// Sizes map a size name to the output's long side in pixels.
var Sizes = map[string]int{"1K": 1024, "2K": 2048, "4K": 4096}

// Dimensions returns the output width and height for an aspect ("4:5") and
// a size ("2K"): the long side is the size's, the short side follows the ratio.
func Dimensions(aspect, size string) (int, int, error) {
	a, ok := Aspects[aspect]
	if !ok {
		return 0, 0, fmt.Errorf("%w: aspect %q", ErrBadRequest, aspect)
	}
	long, ok := Sizes[size]
	if !ok {
		return 0, 0, fmt.Errorf("%w: size %q", ErrBadRequest, size)
	}
	if a[0] >= a[1] {
		return long, int(math.Round(float64(long) * float64(a[1]) / float64(a[0]))), nil
	}
	return int(math.Round(float64(long) * float64(a[0]) / float64(a[1]))), long, nil
}

// Request is one render.
type Request struct {
	// Source is the seller's photo.
	Source image.Image
	// Mask is the product's soft alpha, the same size as Source.
	Mask *image.Gray
	// SceneID names the scene (see Scenes).
	SceneID string
	// Width and Height are the output's size in pixels.
	Width, Height int
	// Seed makes the scene's random choices; the same seed renders the same image.
	Seed int64
}

// Result is a rendered image and where the product went.
type Result struct {
	// Image is the rendered photo.
	Image *image.RGBA
	// Alpha is the product's alpha in Image's coordinates (for the product
	// lock and the marketplace checker).
	Alpha *image.Gray
	// Product is the rectangle the source's product bounding box was scaled into.
	Product image.Rectangle
}

// Placement is where the renderer puts a product whose bounding box in the
// source is box, in a w×h frame of the scene: about 58% of the height (or
// 62% of the width), centred, standing on the scene's floor line. The product
// lock uses it as its first guess for where an AI provider put the product.
func Placement(s Scene, box image.Rectangle, w, h int) image.Rectangle {
	bw, bh := float64(box.Dx()), float64(box.Dy())
	k := min(0.58*float64(h)/bh, 0.62*float64(w)/bw)
	rw, rh := max(int(math.Round(bw*k)), 1), max(int(math.Round(bh*k)), 1)
	base := int(math.Round(float64(s.base) * float64(h)))
	x0 := (w - rw) / 2
	return image.Rect(x0, base-rh, x0+rw, base)
}

// ProductBox is the bounding box of the product in a mask: pixels whose alpha
// is at least 16 (fainter fringes are left out of the placement).
func ProductBox(mask *image.Gray) (image.Rectangle, bool) {
	return imaging.Bounds(mask, 16)
}

// Render renders req.
func Render(req Request) (Result, error) {
	s, ok := Lookup(req.SceneID)
	if !ok {
		return Result{}, fmt.Errorf("%w: %q", ErrUnknownScene, req.SceneID)
	}
	if req.Width <= 0 || req.Height <= 0 || req.Width > 8192 || req.Height > 8192 || req.Source == nil || req.Mask == nil {
		return Result{}, fmt.Errorf("%w: size %dx%d", ErrBadRequest, req.Width, req.Height)
	}
	src := imaging.ToRGBA(req.Source)
	mask := imaging.ToGray(req.Mask)
	if src.Rect.Size() != mask.Rect.Size() {
		return Result{}, fmt.Errorf("%w: mask %v for source %v", ErrBadRequest, mask.Rect.Size(), src.Rect.Size())
	}
	box, ok := ProductBox(mask)
	if !ok {
		return Result{}, ErrNoProduct
	}
	rect := Placement(s, box, req.Width, req.Height)
	prod := imaging.Resize(imaging.Crop(src, box), rect.Dx(), rect.Dy())
	alpha := imaging.ResizeGray(imaging.CropGray(mask, box), rect.Dx(), rect.Dy())
	imaging.Harmonise(prod, s.light, s.gain, 0.06)

	l := newLayout(s, req.Width, req.Height, [4]float32{float32(rect.Min.X), float32(rect.Min.Y), float32(rect.Max.X), float32(rect.Max.Y)}, req.Seed)
	l.base = float32(rect.Max.Y)
	out := backdrop(s, l, req.Width, req.Height, alpha, rect)
	if s.Glossy {
		reflect(out, prod, alpha, rect)
	}
	imaging.Composite(out, prod, alpha, rect.Min)

	full := image.NewGray(image.Rect(0, 0, req.Width, req.Height))
	for y := range rect.Dy() {
		copy(full.Pix[(rect.Min.Y+y)*full.Stride+rect.Min.X:], alpha.Pix[y*alpha.Stride:y*alpha.Stride+rect.Dx()])
	}
	return Result{Image: out, Alpha: full, Product: rect}, nil
}

// Background renders scene id with no product, as if one of roughly the given
// box stood in the middle (the light and podium still follow it): the scene
// previews and the test fakes of AI providers use it.
func Background(id string, w, h int, seed int64) (*image.RGBA, error) {
	s, ok := Lookup(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownScene, id)
	}
	rect := Placement(s, image.Rect(0, 0, 2, 3), w, h)
	l := newLayout(s, w, h, [4]float32{float32(rect.Min.X), float32(rect.Min.Y), float32(rect.Max.X), float32(rect.Max.Y)}, seed)
	return backdrop(s, l, w, h, nil, rect), nil
}

// backdrop paints the scene on the coarse grid, darkens it with the
// product's shadows there, and interpolates it to full size with grain.
func backdrop(s Scene, l *layout, w, h int, alpha *image.Gray, rect image.Rectangle) *image.RGBA {
	c := max(1, max(w, h)/512)
	gw, gh := w/c+2, h/c+2
	grid := make([][3]float32, gw*gh)
	blend := 0.08 * l.h
	for gy := range gh {
		y := float32(gy * c)
		d := max(y-l.horizon, 0) / max(l.h-l.horizon, 1)
		inv := 1 / (d + 0.12)
		v := inv * 0.5
		for gx := range gw {
			x := float32(gx * c)
			u := (x - l.w/2) / l.h * inv * 0.5
			var col [3]float32
			if s.sweep {
				t := smoothstep(l.horizon-blend, l.horizon+blend, y)
				col = mix(s.wall(l, x, y), s.floor(l, x, y, u, v), t)
			} else {
				edge := smoothstep(l.horizon-1.5*float32(c), l.horizon+1.5*float32(c), y)
				switch {
				case edge <= 0:
					col = s.wall(l, x, y)
				case edge >= 1:
					col = s.floor(l, x, y, u, v)
				default:
					col = mix(s.wall(l, x, y), s.floor(l, x, y, u, v), edge)
				}
			}
			grid[gy*gw+gx] = col
		}
	}
	if alpha != nil {
		shadows(s, l, grid, gw, gh, c, alpha, rect)
	}

	out := image.NewRGBA(image.Rect(0, 0, w, h))
	tile := s.grain(l.n)
	inv := 1 / float32(c)
	line := make([][3]float32, gw)
	for y := range h {
		fy := float32(y) * inv
		gy := int(fy)
		ty := fy - float32(gy)
		r0, r1 := grid[gy*gw:(gy+1)*gw], grid[(gy+1)*gw:(gy+2)*gw]
		for i := range line {
			a, b := r0[i], r1[i]
			line[i] = [3]float32{a[0] + (b[0]-a[0])*ty, a[1] + (b[1]-a[1])*ty, a[2] + (b[2]-a[2])*ty}
		}
		row := out.Pix[y*out.Stride : y*out.Stride+w*4]
		trow := tile[(y%tileSize)*tileSize : (y%tileSize+1)*tileSize]
		for x := range w {
			fx := float32(x) * inv
			gx := int(fx)
			tx := fx - float32(gx)
			a, b := &line[gx], &line[gx+1]
			g := trow[x%tileSize]
			p := row[x*4 : x*4+4 : x*4+4]
			p[0] = imaging.Clamp8(a[0] + (b[0]-a[0])*tx + g)
			p[1] = imaging.Clamp8(a[1] + (b[1]-a[1])*tx + g)
			p[2] = imaging.Clamp8(a[2] + (b[2]-a[2])*tx + g)
			p[3] = 255
		}
	}
	return out
}

// shadows darkens the grid with a contact shadow under the product's base and
// a soft cast shadow thrown back and to the right, both blurred.
func shadows(s Scene, l *layout, grid [][3]float32, gw, gh, c int, alpha *image.Gray, rect image.Rectangle) {
	pw, ph := max(rect.Dx()/c, 1), max(rect.Dy()/c, 1)
	small := imaging.ResizeGray(alpha, pw, ph)
	cast := make([]float32, gw*gh)
	x0, base := rect.Min.X/c, rect.Max.Y/c
	for py := range ph {
		hgt := float32(ph - py)
		fade := 1 - 0.7*hgt/float32(ph)
		ty := base - int(hgt*0.22)
		if ty < 0 || ty >= gh {
			continue
		}
		shift := int(hgt * 0.5)
		for px := range pw {
			a := float32(small.Pix[py*small.Stride+px]) / 255
			if a == 0 {
				continue
			}
			tx := x0 + px + shift
			if tx >= 0 && tx < gw {
				i := ty*gw + tx
				cast[i] = max(cast[i], a*fade)
			}
		}
	}
	blur(cast, gw, gh, max(int(0.02*l.h)/c, 1))

	cx := float32(rect.Min.X+rect.Max.X) / 2 / float32(c)
	rx := float32(rect.Dx()) / 2 / float32(c)
	ry := max(0.02*l.h/float32(c), 1)
	by := float32(rect.Max.Y) / float32(c)
	for gy := range gh {
		dy := (float32(gy) - by) / ry
		for gx := range gw {
			dx := (float32(gx) - cx) / rx
			wide := float32(math.Exp(float64(-(dx*dx*1.6 + dy*dy) * 2.2)))
			core := float32(math.Exp(float64(-(dx*dx*1.2 + dy*dy*9) * 4)))
			dark := s.shadow * (0.38*cast[gy*gw+gx] + 0.35*wide + 0.45*core)
			grid[gy*gw+gx] = scale(grid[gy*gw+gx], max(1-dark, 0.15))
		}
	}
}

// blur is three box-blur passes each way: a cheap approximation of a Gaussian.
func blur(v []float32, w, h, r int) {
	tmp := make([]float32, max(w, h))
	for range 3 {
		for y := range h {
			boxLine(v[y*w:(y+1)*w], 1, w, r, tmp)
		}
		for x := range w {
			boxLine(v[x:], w, h, r, tmp)
		}
	}
}

func boxLine(v []float32, step, n, r int, tmp []float32) {
	var sum float32
	for i := -r; i <= r; i++ {
		sum += v[min(max(i, 0), n-1)*step]
	}
	k := 1 / float32(2*r+1)
	for i := range n {
		tmp[i] = sum * k
		sum += v[min(i+r+1, n-1)*step] - v[max(i-r, 0)*step]
	}
	for i := range n {
		v[i*step] = tmp[i]
	}
}

// reflect mirrors the product under its base on a glossy floor, fading out
// over a third of its height.
func reflect(out, prod *image.RGBA, alpha *image.Gray, rect image.Rectangle) {
	length := rect.Dy() / 3
	w := out.Rect.Dx()
	for i := range length {
		y := rect.Max.Y + i
		sy := rect.Dy() - 1 - i
		if y >= out.Rect.Dy() || sy < 0 {
			break
		}
		t := float32(i) / float32(length)
		op := 0.26 * (1 - t) * (1 - t)
		drow := out.Pix[y*out.Stride:]
		prow := prod.Pix[sy*prod.Stride:]
		arow := alpha.Pix[sy*alpha.Stride:]
		for x := range rect.Dx() {
			dx := rect.Min.X + x
			if dx < 0 || dx >= w {
				continue
			}
			a := float32(arow[x]) / 255 * op
			if a == 0 {
				continue
			}
			d := drow[dx*4 : dx*4+3 : dx*4+3]
			p := prow[x*4 : x*4+3 : x*4+3]
			for ch := range 3 {
				d[ch] = imaging.Clamp8(float32(d[ch])*(1-a) + float32(p[ch])*a)
			}
		}
	}
}
