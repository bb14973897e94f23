// Package lock is the product lock: after an image provider has returned a
// scene, it finds where the provider put the product, measures how faithful
// the provider's product is (the fidelity score: SSIM of the product region
// against the source) and composites the source's real product pixels back
// over the scene, aligned and pulled a little toward the scene's light.
//
// The score is measured on the provider's pixels before the lock, because
// after it the product region is the source by construction: a low score
// means the provider redrew the product (other shape, label or colour) and
// the redrawn version may still show around the locked one.
package lock

import (
	"errors"
	"image"
	"math"

	"github.com/connectengine/photoshoot/services/generation/internal/imaging"
)

// ErrNoProduct is returned when the mask marks no product.
var ErrNoProduct = errors.New("mask marks no product")

// DefaultThreshold is the fidelity under which an AI output is retried once
// and then flagged.
const DefaultThreshold = 0.9

// Result is a locked output.
type Result struct {
	// Image is the scene with the source's product composited over it.
	Image *image.RGBA
	// Alpha is the product's alpha in Image's coordinates.
	Alpha *image.Gray
	// Product is where the source's product bounding box was placed.
	Product image.Rectangle
	// Fidelity is the SSIM of the provider's product region against the
	// source, before the lock, 0..1.
	Fidelity float64
}

// Find returns where scene shows the product of src (cut out by mask, the
// same size), searching around guess: where the product was asked to go
// (studio.Placement for the scene and size). Providers move and rescale
// products a little; Find follows them to within a pixel or two.
func Find(scene image.Image, src image.Image, mask *image.Gray, guess image.Rectangle) (image.Rectangle, error) {
	box, ok := imaging.Bounds(mask, 16)
	if !ok || guess.Empty() {
		return image.Rectangle{}, ErrNoProduct
	}
	return Align(imaging.ToRGBA(scene), imaging.Crop(imaging.ToRGBA(src), box), imaging.CropGray(mask, box), guess), nil
}

// Apply locks the product of src (cut out by mask, the same size) into scene
// with its bounding box at rect: the renderer's own placement for local
// outputs, Find's answer for a provider's.
func Apply(scene image.Image, src image.Image, mask *image.Gray, rect image.Rectangle) (Result, error) {
	out := imaging.Crop(imaging.ToRGBA(scene), imaging.ToRGBA(scene).Rect)
	s := imaging.ToRGBA(src)
	box, ok := imaging.Bounds(mask, 16)
	if !ok || rect.Empty() {
		return Result{}, ErrNoProduct
	}
	crop, cmask := imaging.Crop(s, box), imaging.CropGray(mask, box)
	prod := imaging.Resize(crop, rect.Dx(), rect.Dy())
	alpha := imaging.ResizeGray(cmask, rect.Dx(), rect.Dy())
	fid := imaging.MaskedSSIM(prod, cropPadded(out, rect), alpha)

	imaging.Harmonise(prod, surround(out, rect), 1, 0.05)
	imaging.Composite(out, prod, alpha, rect.Min)
	full := image.NewGray(out.Rect)
	for y := range rect.Dy() {
		for x := range rect.Dx() {
			if p := image.Pt(rect.Min.X+x, rect.Min.Y+y); p.In(full.Rect) {
				full.Pix[p.Y*full.Stride+p.X] = alpha.Pix[y*alpha.Stride+x]
			}
		}
	}
	return Result{Image: out, Alpha: full, Product: rect, Fidelity: fid}, nil
}

// Fidelity is the SSIM of img's region r against the source's product
// (src cut out by mask) scaled to r.
func Fidelity(img image.Image, src image.Image, mask *image.Gray, r image.Rectangle) float64 {
	box, ok := imaging.Bounds(mask, 16)
	if !ok || r.Empty() {
		return 0
	}
	ref := imaging.Resize(imaging.Crop(imaging.ToRGBA(src), box), r.Dx(), r.Dy())
	alpha := imaging.ResizeGray(imaging.CropGray(mask, box), r.Dx(), r.Dy())
	return imaging.MaskedSSIM(ref, cropPadded(imaging.ToRGBA(img), r), alpha)
}

// cropPadded is Crop that keeps r's size when r leaves the image (the
// outside reads as black).
func cropPadded(m *image.RGBA, r image.Rectangle) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	in := r.Intersect(m.Rect)
	for y := in.Min.Y; y < in.Max.Y; y++ {
		copy(out.Pix[(y-r.Min.Y)*out.Stride+(in.Min.X-r.Min.X)*4:], m.Pix[y*m.Stride+in.Min.X*4:y*m.Stride+in.Max.X*4])
	}
	return out
}

// surround is the mean colour of a band around r: the light the provider
// gave the scene where the product stands.
func surround(m *image.RGBA, r image.Rectangle) [3]float32 {
	pad := max(r.Dx(), r.Dy()) / 8
	outer := r.Inset(-pad).Intersect(m.Rect)
	var sum [3]float64
	var n float64
	for y := outer.Min.Y; y < outer.Max.Y; y += 2 {
		for x := outer.Min.X; x < outer.Max.X; x += 2 {
			if image.Pt(x, y).In(r) {
				continue
			}
			o := y*m.Stride + x*4
			sum[0] += float64(m.Pix[o])
			sum[1] += float64(m.Pix[o+1])
			sum[2] += float64(m.Pix[o+2])
			n++
		}
	}
	if n == 0 {
		return [3]float32{1, 1, 1}
	}
	return [3]float32{float32(sum[0] / n), float32(sum[1] / n), float32(sum[2] / n)}
}

// Align finds where scene shows the product crop (with its mask cmask) by
// normalised cross-correlation of luma, coarse to fine: scales 0.8–1.2 and
// shifts up to 15% of the frame around guess on a copy 128 pixels long, then
// ±6% scale and a few pixels on a copy 384 long, then climbs
// whole pixels of size and shift at full size.
func Align(scene, crop *image.RGBA, cmask *image.Gray, guess image.Rectangle) image.Rectangle {
	coarse := []float64{0.8, 0.85, 0.9, 0.95, 1, 1.05, 1.1, 1.15, 1.2}
	fine := make([]float64, 0, 13)
	for k := -6; k <= 6; k++ {
		fine = append(fine, 1+0.01*float64(k))
	}
	long := float64(max(scene.Rect.Dx(), scene.Rect.Dy()))
	r := search(scene, crop, cmask, guess, 128/long, scaled(guess, coarse), 19, 1, 2)
	r = search(scene, crop, cmask, r, 384/long, scaled(r, fine), 6, 1, 3)
	// Last, climb whole pixels of width, height and shift at full size until
	// nothing nearby correlates better.
	for range 8 {
		var px []image.Point
		for j := -1; j <= 1; j++ {
			for i := -1; i <= 1; i++ {
				px = append(px, r.Size().Add(image.Pt(i, j)))
			}
		}
		next := search(scene, crop, cmask, r, 1, px, 2, 1, 3)
		if next == r {
			break
		}
		r = next
	}
	return r
}

func scaled(r image.Rectangle, scales []float64) []image.Point {
	out := make([]image.Point, len(scales))
	for i, sc := range scales {
		out[i] = image.Pt(max(int(math.Round(float64(r.Dx())*sc)), 1), max(int(math.Round(float64(r.Dy())*sc)), 1))
	}
	return out
}

// search tries every size (about rect's base centre) and every shift within
// reach (in steps of step, on a copy of scene scaled by f, with the template
// sampled every tstep pixels) and returns the best-correlating rectangle in
// full-size coordinates.
func search(scene, crop *image.RGBA, cmask *image.Gray, rect image.Rectangle, f float64, sizes []image.Point, reach, step, tstep int) image.Rectangle {
	f = min(f, 1)
	w, h := scene.Rect.Dx(), scene.Rect.Dy()
	sw, sh := max(int(float64(w)*f), 1), max(int(float64(h)*f), 1)
	img := scene
	if sw != w || sh != h {
		img = imaging.Resize(scene, sw, sh)
	}
	luma := imaging.Luma(img)
	best, bestScore := rect, math.Inf(-1)
	cx, by := float64(rect.Min.X+rect.Max.X)/2, float64(rect.Max.Y)
	for _, sz := range sizes {
		gw, gh := max(sz.X, 1), max(sz.Y, 1)
		tw, th := max(int(math.Round(float64(gw)*f)), 4), max(int(math.Round(float64(gh)*f)), 4)
		tpl := newTemplate(crop, cmask, tw, th, tstep)
		x00 := int(math.Round(cx*f)) - tw/2
		y00 := int(math.Round(by*f)) - th
		for dy := -reach; dy <= reach; dy += step {
			for dx := -reach; dx <= reach; dx += step {
				x0, y0 := x00+dx, y00+dy
				if s := tpl.ncc(luma, sw, sh, x0, y0); s > bestScore {
					bestScore = s
					bx, byy := int(math.Round(float64(x0)/f)), int(math.Round(float64(y0)/f))
					best = image.Rect(bx, byy, bx+gw, byy+gh)
				}
			}
		}
	}
	return best
}

// template is the product's solid pixels (alpha ≥ 224) at one size, sampled
// every step pixels, with their luma centred for correlation.
type template struct {
	xs, ys []int
	v      []float64
	norm   float64
}

func newTemplate(crop *image.RGBA, cmask *image.Gray, w, h, step int) template {
	l := imaging.Luma(imaging.Resize(crop, w, h))
	a := imaging.ResizeGray(cmask, w, h)
	var t template
	var mean float64
	for y := 0; y < h; y += step {
		for x := 0; x < w; x += step {
			if a.Pix[y*a.Stride+x] >= 224 {
				t.xs, t.ys = append(t.xs, x), append(t.ys, y)
				t.v = append(t.v, float64(l[y*w+x]))
				mean += float64(l[y*w+x])
			}
		}
	}
	if len(t.v) == 0 {
		return t
	}
	mean /= float64(len(t.v))
	for i := range t.v {
		t.v[i] -= mean
		t.norm += t.v[i] * t.v[i]
	}
	t.norm = math.Sqrt(t.norm)
	return t
}

// ncc correlates the template placed at (x0, y0) with img (w×h luma).
// Samples outside the image count as black, so leaving the frame is penalised.
func (t template) ncc(img []float32, w, h, x0, y0 int) float64 {
	if len(t.v) == 0 || t.norm == 0 {
		return math.Inf(-1)
	}
	var sum, sumSq, dot float64
	for i, tv := range t.v {
		x, y := x0+t.xs[i], y0+t.ys[i]
		var v float64
		if x >= 0 && y >= 0 && x < w && y < h {
			v = float64(img[y*w+x])
		}
		sum += v
		sumSq += v * v
		dot += tv * v
	}
	n := float64(len(t.v))
	varI := sumSq - sum*sum/n
	if varI <= 1e-9 {
		return 0
	}
	return dot / (t.norm * math.Sqrt(varI))
}
