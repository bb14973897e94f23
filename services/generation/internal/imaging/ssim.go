package imaging

import "image"

const (
	solid      = 224
	ssimWindow = 8
	ssimStride = 4
	ssimC1     = (0.01 * 255) * (0.01 * 255)
	ssimC2     = (0.03 * 255) * (0.03 * 255)
)

// MaskedSSIM is the structural similarity of cand against ref over the region
// alpha marks (the product). Both images are set to the same neutral grey
// wherever alpha is under 224: the cut-out's soft fringe carries the old or
// the new background and is not the product. SSIM is then averaged over 8×8
// luma windows (stride 4) that are at least half product. All three images
// must have the same size. It returns 0 when no window qualifies.
func MaskedSSIM(ref, cand *image.RGBA, alpha *image.Gray) float64 {
	w, h := ref.Rect.Dx(), ref.Rect.Dy()
	if cand.Rect.Dx() != w || cand.Rect.Dy() != h || alpha.Rect.Dx() != w || alpha.Rect.Dy() != h {
		return 0
	}
	a := maskedLuma(ref, alpha)
	b := maskedLuma(cand, alpha)
	var sum float64
	var n int
	for y := 0; y+ssimWindow <= h; y += ssimStride {
		for x := 0; x+ssimWindow <= w; x += ssimStride {
			var cover int
			for j := range ssimWindow {
				row := alpha.Pix[(y+j)*alpha.Stride+x:]
				for i := range ssimWindow {
					cover += int(row[i])
				}
			}
			if cover < ssimWindow*ssimWindow*255/2 {
				continue
			}
			sum += windowSSIM(a, b, w, x, y)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func windowSSIM(a, b []float32, w, x, y int) float64 {
	var sa, sb, saa, sbb, sab float64
	for j := range ssimWindow {
		o := (y+j)*w + x
		for i := range ssimWindow {
			va, vb := float64(a[o+i]), float64(b[o+i])
			sa += va
			sb += vb
			saa += va * va
			sbb += vb * vb
			sab += va * vb
		}
	}
	const n = ssimWindow * ssimWindow
	ma, mb := sa/n, sb/n
	va := saa/n - ma*ma
	vb := sbb/n - mb*mb
	cov := sab/n - ma*mb
	return ((2*ma*mb + ssimC1) * (2*cov + ssimC2)) / ((ma*ma + mb*mb + ssimC1) * (va + vb + ssimC2))
}

func maskedLuma(m *image.RGBA, alpha *image.Gray) []float32 {
	l := Luma(m)
	w := m.Rect.Dx()
	for i := range l {
		if alpha.Pix[(i/w)*alpha.Stride+i%w] < solid {
			l[i] = 128
		}
	}
	return l
}
