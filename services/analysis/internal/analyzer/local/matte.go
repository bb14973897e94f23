package local

import (
	"image"
	"math"
)

// Guided filter parameters at the working resolution (He, Sun and Tang,
// "Guided Image Filtering"; the fast variant computes the linear
// coefficients at low resolution and upsamples them).
const (
	guideRadius = 2
	guideEps    = 1e-3
)

// matte builds the full-resolution soft mask. At factor 1 it is the working
// alpha itself; otherwise the alpha is upsampled with a fast guided filter
// whose guide is the full-resolution luma, so the edge lands on the
// photo's own edge instead of a blurred staircase of working pixels. It
// also returns the bounding box of the pixels at alpha ≥ ½.
func matte(img image.Image, wk *work, alpha []float32) (*image.Gray, image.Rectangle) {
	bd := img.Bounds()
	W, H := bd.Dx(), bd.Dy()
	mask := image.NewGray(bd)
	minX, minY, maxX, maxY := W, H, -1, -1
	mark := func(x, y int) {
		minX, maxX = min(minX, x), max(maxX, x)
		minY, maxY = min(minY, y), max(maxY, y)
	}
	if wk.f == 1 {
		for y := range H {
			for x := range W {
				v := alpha[y*W+x]
				mask.Pix[y*mask.Stride+x] = uint8(v*255 + 0.5)
				if v >= 0.5 {
					mark(x, y)
				}
			}
		}
		return mask, box(bd, minX, minY, maxX, maxY)
	}

	ca, cb := guidedCoefficients(wk.y, alpha, wk.w, wk.h)
	// Bilinear sampling positions of full-resolution columns in the
	// working grid, shared by every row.
	f := float32(wk.f)
	x0s := make([]int32, W)
	wxs := make([]float32, W)
	for X := range W {
		p := (float32(X)+0.5)/f - 0.5
		x0 := int32(math.Floor(float64(p)))
		wxs[X] = p - float32(x0)
		x0s[X] = x0
	}
	guide := make([]float32, W)
	ra := make([]float32, wk.w+1)
	rb := make([]float32, wk.w+1)
	for Y := range H {
		p := (float32(Y)+0.5)/f - 0.5
		y0 := int(math.Floor(float64(p)))
		wy := p - float32(y0)
		r0, r1 := max(y0, 0)*wk.w, min(y0+1, wk.h-1)*wk.w
		for x := range wk.w {
			ra[x] = ca[r0+x] + wy*(ca[r1+x]-ca[r0+x])
			rb[x] = cb[r0+x] + wy*(cb[r1+x]-cb[r0+x])
		}
		ra[wk.w], rb[wk.w] = ra[wk.w-1], rb[wk.w-1]
		guideRow(img, Y, guide)
		out := mask.Pix[Y*mask.Stride : Y*mask.Stride+W]
		rowHit := false
		for X := range W {
			x0, wx := x0s[X], wxs[X]
			if x0 < 0 {
				x0, wx = 0, 0
			}
			a := ra[x0] + wx*(ra[x0+1]-ra[x0])
			b := rb[x0] + wx*(rb[x0+1]-rb[x0])
			q := a*guide[X] + b
			switch {
			case q <= 0:
				out[X] = 0
			case q >= 1:
				out[X] = 255
			default:
				out[X] = uint8(q*255 + 0.5)
			}
			if out[X] >= 128 {
				if !rowHit {
					minX = min(minX, X)
					rowHit = true
				}
				maxX = max(maxX, X)
			}
		}
		if rowHit {
			minY, maxY = min(minY, Y), max(maxY, Y)
		}
	}
	return mask, box(bd, minX, minY, maxX, maxY)
}

func box(bd image.Rectangle, minX, minY, maxX, maxY int) image.Rectangle {
	if maxX < minX || maxY < minY {
		return image.Rectangle{}
	}
	return image.Rect(minX, minY, maxX+1, maxY+1).Add(bd.Min)
}

// guidedCoefficients returns the box-averaged linear coefficients (a, b) of
// the guided filter with guide I and input p: q = a·I + b locally.
func guidedCoefficients(I, p []float32, w, h int) (ma, mb []float32) {
	n := w * h
	ip := make([]float32, n)
	ii := make([]float32, n)
	for i := range n {
		ip[i] = I[i] * p[i]
		ii[i] = I[i] * I[i]
	}
	mI, mP := boxMean(I, w, h, guideRadius), boxMean(p, w, h, guideRadius)
	mIP, mII := boxMean(ip, w, h, guideRadius), boxMean(ii, w, h, guideRadius)
	a := make([]float32, n)
	b := make([]float32, n)
	for i := range n {
		cov := mIP[i] - mI[i]*mP[i]
		v := mII[i] - mI[i]*mI[i]
		a[i] = cov / (v + guideEps)
		b[i] = mP[i] - a[i]*mI[i]
	}
	return boxMean(a, w, h, guideRadius), boxMean(b, w, h, guideRadius)
}

// boxMean averages over a (2r+1)² window clipped to the image, with
// running sums (O(1) per pixel whatever r).
func boxMean(src []float32, w, h, r int) []float32 {
	tmp := make([]float32, w*h)
	for y := range h {
		row := src[y*w : y*w+w]
		var s float32
		for x := 0; x <= min(r, w-1); x++ {
			s += row[x]
		}
		for x := range w {
			lo, hi := max(x-r, 0), min(x+r, w-1)
			tmp[y*w+x] = s / float32(hi-lo+1)
			if x+r+1 < w {
				s += row[x+r+1]
			}
			if x-r >= 0 {
				s -= row[x-r]
			}
		}
	}
	out := make([]float32, w*h)
	for x := range w {
		var s float32
		for y := 0; y <= min(r, h-1); y++ {
			s += tmp[y*w+x]
		}
		for y := range h {
			lo, hi := max(y-r, 0), min(y+r, h-1)
			out[y*w+x] = s / float32(hi-lo+1)
			if y+r+1 < h {
				s += tmp[(y+r+1)*w+x]
			}
			if y-r >= 0 {
				s -= tmp[(y-r)*w+x]
			}
		}
	}
	return out
}
