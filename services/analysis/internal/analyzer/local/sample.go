package local

import (
	"image"
)

// work is the photo at the working resolution: each cell is the mean of an
// f×f block of source pixels, in sRGB 0..1, plus the luma the guided
// upsampling uses as its guide (the same luma guideRow reads at full size).
type work struct {
	w, h, f int
	r, g, b []float32
	y       []float32
}

// downscale box-averages img by the smallest integer factor that brings its
// longer side to at most maxSide. Averaging also beats down sensor noise and
// JPEG ringing, which is most of what the segmentation has to ignore.
func downscale(img image.Image, maxSide int) *work {
	bd := img.Bounds()
	W, H := bd.Dx(), bd.Dy()
	f := (max(W, H) + maxSide - 1) / maxSide
	f = max(f, 1)
	w, h := (W+f-1)/f, (H+f-1)/f
	n := w * h
	wk := &work{w: w, h: h, f: f, r: make([]float32, n), g: make([]float32, n), b: make([]float32, n), y: make([]float32, n)}
	// Sums per cell in three channels; c0 is luma or red depending on the
	// source type, converted below.
	s0, s1, s2 := make([]float32, n), make([]float32, n), make([]float32, n)
	cnt := make([]float32, n)
	ycc := false
	switch m := img.(type) {
	case *image.YCbCr:
		sx, sy, ok := chromaShift(m.SubsampleRatio)
		if !ok {
			sumGeneric(img, f, w, s0, s1, s2, cnt)
			break
		}
		ycc = true
		for Y := range H {
			yRow := m.Y[(Y)*m.YStride:]
			cy := ((Y+bd.Min.Y)>>sy - m.Rect.Min.Y>>sy) * m.CStride
			row := (Y / f) * w
			for X := range W {
				cx := (X+bd.Min.X)>>sx - m.Rect.Min.X>>sx
				i := row + X/f
				s0[i] += float32(yRow[X])
				s1[i] += float32(m.Cb[cy+cx])
				s2[i] += float32(m.Cr[cy+cx])
			}
		}
		for Y := range H {
			row := (Y / f) * w
			for X := 0; X < W; X += f {
				cnt[row+X/f] += float32(min(f, W-X))
			}
		}
	case *image.RGBA:
		sum8(m.Pix, m.Stride, 4, W, H, f, w, s0, s1, s2, cnt)
	case *image.NRGBA:
		sum8(m.Pix, m.Stride, 4, W, H, f, w, s0, s1, s2, cnt)
	default:
		sumGeneric(img, f, w, s0, s1, s2, cnt)
	}
	for i := range n {
		c := cnt[i]
		a, b, d := s0[i]/c, s1[i]/c, s2[i]/c
		var r, g, bl, y float32
		if ycc {
			y = a
			r = a + 1.402*(d-128)
			g = a - 0.344136*(b-128) - 0.714136*(d-128)
			bl = a + 1.772*(b-128)
		} else {
			r, g, bl = a, b, d
			y = 0.299*r + 0.587*g + 0.114*bl
		}
		wk.r[i], wk.g[i], wk.b[i], wk.y[i] = clamp01(r/255), clamp01(g/255), clamp01(bl/255), clamp01(y/255)
	}
	return wk
}

func chromaShift(r image.YCbCrSubsampleRatio) (sx, sy uint, ok bool) {
	switch r {
	case image.YCbCrSubsampleRatio444:
		return 0, 0, true
	case image.YCbCrSubsampleRatio422:
		return 1, 0, true
	case image.YCbCrSubsampleRatio420:
		return 1, 1, true
	case image.YCbCrSubsampleRatio440:
		return 0, 1, true
	}
	return 0, 0, false
}

func sum8(pix []uint8, stride, bpp, W, H, f, w int, s0, s1, s2, cnt []float32) {
	for Y := range H {
		p := pix[Y*stride:]
		row := (Y / f) * w
		for X := range W {
			i := row + X/f
			o := X * bpp
			s0[i] += float32(p[o])
			s1[i] += float32(p[o+1])
			s2[i] += float32(p[o+2])
			cnt[i]++
		}
	}
}

func sumGeneric(img image.Image, f, w int, s0, s1, s2, cnt []float32) {
	bd := img.Bounds()
	for Y := bd.Min.Y; Y < bd.Max.Y; Y++ {
		row := ((Y - bd.Min.Y) / f) * w
		for X := bd.Min.X; X < bd.Max.X; X++ {
			r, g, b, _ := img.At(X, Y).RGBA()
			i := row + (X-bd.Min.X)/f
			s0[i] += float32(r >> 8)
			s1[i] += float32(g >> 8)
			s2[i] += float32(b >> 8)
			cnt[i]++
		}
	}
}

// guideRow writes full-resolution luma (0..1) of row Y (relative to the
// bounds) into dst, the guide of the guided upsampling.
func guideRow(img image.Image, Y int, dst []float32) {
	bd := img.Bounds()
	switch m := img.(type) {
	case *image.YCbCr:
		row := m.Y[(Y+bd.Min.Y-m.Rect.Min.Y)*m.YStride+(bd.Min.X-m.Rect.Min.X):]
		for X := range dst {
			dst[X] = float32(row[X]) * (1.0 / 255)
		}
		return
	case *image.RGBA:
		rgbaRow(m.Pix[(Y+bd.Min.Y-m.Rect.Min.Y)*m.Stride+(bd.Min.X-m.Rect.Min.X)*4:], dst)
		return
	case *image.NRGBA:
		rgbaRow(m.Pix[(Y+bd.Min.Y-m.Rect.Min.Y)*m.Stride+(bd.Min.X-m.Rect.Min.X)*4:], dst)
		return
	}
	for X := range dst {
		r, g, b, _ := img.At(X+bd.Min.X, Y+bd.Min.Y).RGBA()
		dst[X] = (0.299*float32(r>>8) + 0.587*float32(g>>8) + 0.114*float32(b>>8)) * (1.0 / 255)
	}
}

func rgbaRow(p []uint8, dst []float32) {
	for X := range dst {
		o := X * 4
		dst[X] = (0.299*float32(p[o]) + 0.587*float32(p[o+1]) + 0.114*float32(p[o+2])) * (1.0 / 255)
	}
}

func clamp01(v float32) float32 {
	switch {
	case v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}

// Thumbnail box-averages img to at most maxSide pixels on the longer side
// (by an integer factor), with the same fast paths the analysis uses; a
// remote provider sends it instead of the full photo.
func Thumbnail(img image.Image, maxSide int) *image.RGBA {
	wk := downscale(img, maxSide)
	out := image.NewRGBA(image.Rect(0, 0, wk.w, wk.h))
	for i := range wk.w * wk.h {
		out.Pix[i*4] = uint8(wk.r[i]*255 + 0.5)
		out.Pix[i*4+1] = uint8(wk.g[i]*255 + 0.5)
		out.Pix[i*4+2] = uint8(wk.b[i]*255 + 0.5)
		out.Pix[i*4+3] = 255
	}
	return out
}
