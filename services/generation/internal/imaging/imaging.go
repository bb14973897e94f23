// Package imaging holds the pixel maths the studio renderer, the product lock
// and the marketplace checker share: conversion to RGBA, resampling, luma and
// a masked SSIM. It is pure Go (CGO_ENABLED=0) and works on the Pix slices
// directly because the renderer's time budget does not allow At/Set per pixel.
package imaging

import (
	"image"
	"image/draw"
	"math"
)

// ToRGBA returns img as an *image.RGBA whose bounds start at (0,0). It returns
// img itself when it already is one.
func ToRGBA(img image.Image) *image.RGBA {
	if m, ok := img.(*image.RGBA); ok && m.Rect.Min == (image.Point{}) {
		return m
	}
	b := img.Bounds()
	m := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(m, m.Rect, img, b.Min, draw.Src)
	return m
}

// ToGray returns img as an *image.Gray whose bounds start at (0,0).
func ToGray(img image.Image) *image.Gray {
	if m, ok := img.(*image.Gray); ok && m.Rect.Min == (image.Point{}) {
		return m
	}
	b := img.Bounds()
	m := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(m, m.Rect, img, b.Min, draw.Src)
	return m
}

// Resize scales src to w×h. Downscaling averages the covered source area
// (so thin detail does not alias); upscaling interpolates bilinearly.
func Resize(src *image.RGBA, w, h int) *image.RGBA {
	return ToRGBA(resizePlanes(src.Pix, src.Stride, src.Rect.Dx(), src.Rect.Dy(), 4, w, h, func(r image.Rectangle) image.Image {
		return image.NewRGBA(r)
	}))
}

// ResizeGray scales a mask to w×h the same way Resize scales colour.
func ResizeGray(src *image.Gray, w, h int) *image.Gray {
	return ToGray(resizePlanes(src.Pix, src.Stride, src.Rect.Dx(), src.Rect.Dy(), 1, w, h, func(r image.Rectangle) image.Image {
		return image.NewGray(r)
	}))
}

func resizePlanes(pix []uint8, stride, sw, sh, ch, w, h int, alloc func(image.Rectangle) image.Image) image.Image {
	out := alloc(image.Rect(0, 0, w, h))
	var dst []uint8
	var dstride int
	switch m := out.(type) {
	case *image.RGBA:
		dst, dstride = m.Pix, m.Stride
	case *image.Gray:
		dst, dstride = m.Pix, m.Stride
	}
	if w <= 0 || h <= 0 || sw <= 0 || sh <= 0 {
		return out
	}
	xs := spans(sw, w)
	ys := spans(sh, h)
	acc := make([]float32, ch)
	for y := range h {
		yy := ys[y]
		for x := range w {
			xx := xs[x]
			for c := range acc {
				acc[c] = 0
			}
			var wsum float32
			for j, wy := range yy.w {
				row := (yy.i0 + j) * stride
				for i, wx := range xx.w {
					wt := wy * wx
					o := row + (xx.i0+i)*ch
					for c := range ch {
						acc[c] += wt * float32(pix[o+c])
					}
					wsum += wt
				}
			}
			o := y*dstride + x*ch
			for c := range ch {
				dst[o+c] = clamp8(acc[c] / wsum)
			}
		}
	}
	return out
}

// span is the source interval one destination sample covers, with a weight
// per source sample: a box for downscaling, a tent for upscaling.
type span struct {
	i0 int
	w  []float32
}

func spans(n, m int) []span {
	out := make([]span, m)
	scale := float64(n) / float64(m)
	for k := range m {
		if scale > 1 {
			lo, hi := float64(k)*scale, float64(k+1)*scale
			i0, i1 := int(lo), min(int(math.Ceil(hi))-1, n-1)
			s := span{i0: i0}
			for i := i0; i <= i1; i++ {
				s.w = append(s.w, float32(max(min(float64(i+1), hi)-max(float64(i), lo), 0)))
			}
			out[k] = s
			continue
		}
		c := min(max((float64(k)+0.5)*scale, 0.5), float64(n)-0.5)
		i0 := int(math.Floor(c - 0.5))
		t := float32(c - 0.5 - float64(i0))
		if i0+1 >= n {
			out[k] = span{i0: i0, w: []float32{1}}
			continue
		}
		out[k] = span{i0: i0, w: []float32{1 - t, t}}
	}
	return out
}

func clamp8(v float32) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// Clamp8 rounds v to the nearest byte, saturating at 0 and 255.
func Clamp8(v float32) uint8 { return clamp8(v) }

// Luma returns the Rec. 601 luma of every pixel, 0..255.
func Luma(m *image.RGBA) []float32 {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	out := make([]float32, w*h)
	for y := range h {
		row := m.Pix[y*m.Stride:]
		for x := range w {
			p := row[x*4:]
			out[y*w+x] = 0.299*float32(p[0]) + 0.587*float32(p[1]) + 0.114*float32(p[2])
		}
	}
	return out
}

// Bounds returns the smallest rectangle holding every mask value ≥ threshold,
// and false when there is none.
func Bounds(mask *image.Gray, threshold uint8) (image.Rectangle, bool) {
	w, h := mask.Rect.Dx(), mask.Rect.Dy()
	minX, minY, maxX, maxY := w, h, -1, -1
	for y := range h {
		row := mask.Pix[y*mask.Stride : y*mask.Stride+w]
		for x, v := range row {
			if v >= threshold {
				minX = min(minX, x)
				maxX = max(maxX, x)
				minY = min(minY, y)
				maxY = max(maxY, y)
			}
		}
	}
	if maxX < 0 {
		return image.Rectangle{}, false
	}
	return image.Rect(minX, minY, maxX+1, maxY+1), true
}
