package photo

import (
	"image"
	"image/draw"
	"runtime"
	"sync"

	xdraw "golang.org/x/image/draw"
)

// Fit scales img down so that its long side is size, keeping the aspect
// ratio; an image already that small is returned as is.
//
// Shrinking by two or more averages whole boxes of source pixels (an area
// filter: sharp enough at these sizes, no aliasing, and it touches every
// source byte once), on the YCbCr planes directly when the source is a JPEG,
// split across the cores. Smaller factors use bilinear interpolation.
func Fit(img image.Image, size int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= size && h <= size {
		return img
	}
	dw, dh := size, max(1, (h*size+w/2)/w)
	if h > w {
		dw, dh = max(1, (w*size+h/2)/h), size
	}
	if w < 2*dw || h < 2*dh || b.Min != (image.Point{}) {
		dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
		xdraw.BiLinear.Scale(dst, dst.Bounds(), img, b, xdraw.Src, nil)
		return dst
	}
	switch src := img.(type) {
	case *image.YCbCr:
		if cw, chh, ok := chromaSize(src.SubsampleRatio, w, h); ok {
			dst := image.NewYCbCr(image.Rect(0, 0, dw, dh), image.YCbCrSubsampleRatio444)
			boxPlane(dst.Y, dst.YStride, dw, dh, src.Y, src.YStride, w, h, 1)
			boxPlane(dst.Cb, dst.CStride, dw, dh, src.Cb, src.CStride, cw, chh, 1)
			boxPlane(dst.Cr, dst.CStride, dw, dh, src.Cr, src.CStride, cw, chh, 1)
			return dst
		}
	case *image.Gray:
		dst := image.NewGray(image.Rect(0, 0, dw, dh))
		boxPlane(dst.Pix, dst.Stride, dw, dh, src.Pix, src.Stride, w, h, 1)
		return dst
	case *image.RGBA:
		dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
		boxPlane(dst.Pix, dst.Stride, dw, dh, src.Pix, src.Stride, w, h, 4)
		return dst
	}
	return boxStrips(img, dw, dh)
}

// boxStrips is the area filter for any other image type (NRGBA, paletted,
// 16-bit, CMYK …): the source rows of each destination row are converted
// to premultiplied RGBA, so that transparent pixels' colours do not bleed
// into the average, one strip at a time. A strip is as tall as a box, so
// the conversion never holds more than a sliver of a large image.
func boxStrips(img image.Image, dw, dh int) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	xs := boxEdges(w, dw)
	workers := min(runtime.GOMAXPROCS(0), dh)
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Go(func() {
			strip := image.NewRGBA(image.Rect(0, 0, w, (h+dh-1)/dh))
			sum := make([]uint32, dw*4)
			for dy := wk * dh / workers; dy < (wk+1)*dh/workers; dy++ {
				y0, y1 := dy*h/dh, (dy+1)*h/dh
				draw.Draw(strip, image.Rect(0, 0, w, y1-y0), img, image.Pt(b.Min.X, b.Min.Y+y0), draw.Src)
				boxRow(dst.Pix[dy*dst.Stride:], sum, strip.Pix, strip.Stride, 0, y1-y0, xs, 4)
			}
		})
	}
	wg.Wait()
	return dst
}

// chromaSize is the size of the chroma planes of a w×h image.
func chromaSize(r image.YCbCrSubsampleRatio, w, h int) (int, int, bool) {
	switch r {
	case image.YCbCrSubsampleRatio444:
		return w, h, true
	case image.YCbCrSubsampleRatio422:
		return (w + 1) / 2, h, true
	case image.YCbCrSubsampleRatio420:
		return (w + 1) / 2, (h + 1) / 2, true
	case image.YCbCrSubsampleRatio440:
		return w, (h + 1) / 2, true
	case image.YCbCrSubsampleRatio411:
		return (w + 3) / 4, h, true
	case image.YCbCrSubsampleRatio410:
		return (w + 3) / 4, (h + 1) / 2, true
	}
	return 0, 0, false
}

// boxPlane averages boxes of a sw×sh plane of ch-byte pixels into a dw×dh
// plane. Box edges are spread evenly, so every source pixel counts once.
func boxPlane(dst []byte, dstride, dw, dh int, src []byte, sstride, sw, sh, ch int) {
	xs := boxEdges(sw, dw)
	workers := min(runtime.GOMAXPROCS(0), dh)
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Go(func() {
			sum := make([]uint32, dw*ch)
			for dy := wk * dh / workers; dy < (wk+1)*dh/workers; dy++ {
				boxRow(dst[dy*dstride:], sum, src, sstride, dy*sh/dh, (dy+1)*sh/dh, xs, ch)
			}
		})
	}
	wg.Wait()
}

// boxEdges spreads dw+1 box edges evenly over sw source columns.
func boxEdges(sw, dw int) []int {
	xs := make([]int, dw+1)
	for i := range xs {
		xs[i] = i * sw / dw
	}
	return xs
}

// boxRow writes one destination row: the average of source rows y0 to y1
// (exclusive) over the column boxes xs. sum is scratch of len(xs)-1 × ch.
func boxRow(out []byte, sum []uint32, src []byte, sstride, y0, y1 int, xs []int, ch int) {
	dw := len(xs) - 1
	sw := xs[dw]
	clear(sum)
	for sy := y0; sy < y1; sy++ {
		row := src[sy*sstride : sy*sstride+sw*ch]
		if ch == 1 {
			for dx := range dw {
				var s uint32
				for _, v := range row[xs[dx]:xs[dx+1]] {
					s += uint32(v)
				}
				sum[dx] += s
			}
			continue
		}
		for dx := range dw {
			o := dx * ch
			for sx := xs[dx]; sx < xs[dx+1]; sx++ {
				p := row[sx*ch : sx*ch+ch]
				for c := range ch {
					sum[o+c] += uint32(p[c])
				}
			}
		}
	}
	rows := uint32(y1 - y0)
	for dx := range dw {
		n := rows * uint32(xs[dx+1]-xs[dx])
		for c := range ch {
			out[dx*ch+c] = uint8((sum[dx*ch+c] + n/2) / n)
		}
	}
}
