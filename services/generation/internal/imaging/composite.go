package imaging

import "image"

// Harmonise pulls a product's colours a little toward a scene's light: every
// channel is multiplied by gain·(1 + strength·(light/mean(light) − 1)). The
// renderer and the product lock keep strength and gain near 1 so the product's
// structure (and its SSIM against the source) survives.
func Harmonise(m *image.RGBA, light [3]float32, gain, strength float32) {
	mean := (light[0] + light[1] + light[2]) / 3
	if mean <= 0 {
		return
	}
	var f [3]float32
	for c := range f {
		f[c] = gain * (1 + strength*(light[c]/mean-1))
	}
	for i := 0; i+3 < len(m.Pix); i += 4 {
		m.Pix[i] = clamp8(float32(m.Pix[i]) * f[0])
		m.Pix[i+1] = clamp8(float32(m.Pix[i+1]) * f[1])
		m.Pix[i+2] = clamp8(float32(m.Pix[i+2]) * f[2])
	}
}

// Composite lays fg over dst at offset through alpha (fg's size), clipping to
// dst's bounds. fg's own alpha channel is ignored: the mask is the cut-out.
func Composite(dst, fg *image.RGBA, alpha *image.Gray, at image.Point) {
	w, h := fg.Rect.Dx(), fg.Rect.Dy()
	dw, dh := dst.Rect.Dx(), dst.Rect.Dy()
	for y := range h {
		dy := y + at.Y
		if dy < 0 || dy >= dh {
			continue
		}
		frow := fg.Pix[y*fg.Stride:]
		arow := alpha.Pix[y*alpha.Stride:]
		drow := dst.Pix[dy*dst.Stride:]
		for x := range w {
			dx := x + at.X
			if dx < 0 || dx >= dw {
				continue
			}
			a := uint32(arow[x])
			if a == 0 {
				continue
			}
			d := drow[dx*4 : dx*4+4 : dx*4+4]
			f := frow[x*4 : x*4+4 : x*4+4]
			if a == 255 {
				d[0], d[1], d[2], d[3] = f[0], f[1], f[2], 255
				continue
			}
			ia := 255 - a
			d[0] = uint8((uint32(f[0])*a + uint32(d[0])*ia + 127) / 255)
			d[1] = uint8((uint32(f[1])*a + uint32(d[1])*ia + 127) / 255)
			d[2] = uint8((uint32(f[2])*a + uint32(d[2])*ia + 127) / 255)
			d[3] = 255
		}
	}
}

// Crop copies r out of m into a new image whose bounds start at (0,0).
func Crop(m *image.RGBA, r image.Rectangle) *image.RGBA {
	r = r.Intersect(m.Rect)
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := range r.Dy() {
		copy(out.Pix[y*out.Stride:y*out.Stride+r.Dx()*4], m.Pix[(r.Min.Y+y)*m.Stride+r.Min.X*4:])
	}
	return out
}

// CropGray copies r out of m into a new mask whose bounds start at (0,0).
func CropGray(m *image.Gray, r image.Rectangle) *image.Gray {
	r = r.Intersect(m.Rect)
	out := image.NewGray(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := range r.Dy() {
		copy(out.Pix[y*out.Stride:y*out.Stride+r.Dx()], m.Pix[(r.Min.Y+y)*m.Stride+r.Min.X:])
	}
	return out
}
