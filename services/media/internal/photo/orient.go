package photo

import (
	"image"
	"image/draw"
)

// Orient returns img turned upright according to an EXIF orientation (1 to
// 8); orientation 1 returns img itself. JPEG planes are transformed as they
// are, without converting to RGB.
func Orient(img image.Image, orientation int) image.Image {
	if orientation < 2 || orientation > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if orientation >= 5 {
		dw, dh = h, w
	}
	switch src := img.(type) {
	case *image.YCbCr:
		ratio, ok := src.SubsampleRatio, true
		if orientation >= 5 {
			ratio, ok = transposedRatio(src.SubsampleRatio)
		}
		cw, ch, cok := chromaSize(src.SubsampleRatio, w, h)
		if ok && cok && b.Min == (image.Point{}) {
			dst := image.NewYCbCr(image.Rect(0, 0, dw, dh), ratio)
			orientPlane(dst.Y, dst.YStride, src.Y, src.YStride, w, h, 1, orientation)
			orientPlane(dst.Cb, dst.CStride, src.Cb, src.CStride, cw, ch, 1, orientation)
			orientPlane(dst.Cr, dst.CStride, src.Cr, src.CStride, cw, ch, 1, orientation)
			return dst
		}
	case *image.Gray:
		if b.Min == (image.Point{}) {
			dst := image.NewGray(image.Rect(0, 0, dw, dh))
			orientPlane(dst.Pix, dst.Stride, src.Pix, src.Stride, w, h, 1, orientation)
			return dst
		}
	case *image.NRGBA:
		if b.Min == (image.Point{}) {
			dst := image.NewNRGBA(image.Rect(0, 0, dw, dh))
			orientPlane(dst.Pix, dst.Stride, src.Pix, src.Stride, w, h, 4, orientation)
			return dst
		}
	case *image.RGBA:
		if b.Min == (image.Point{}) {
			dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
			orientPlane(dst.Pix, dst.Stride, src.Pix, src.Stride, w, h, 4, orientation)
			return dst
		}
	}
	n := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(n, n.Bounds(), img, b.Min, draw.Src)
	return Orient(n, orientation)
}

// transposedRatio is the subsampling of a YCbCr image's transpose.
func transposedRatio(r image.YCbCrSubsampleRatio) (image.YCbCrSubsampleRatio, bool) {
	switch r {
	case image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio420:
		return r, true
	case image.YCbCrSubsampleRatio422:
		return image.YCbCrSubsampleRatio440, true
	case image.YCbCrSubsampleRatio440:
		return image.YCbCrSubsampleRatio422, true
	}
	return r, false
}

// orientPlane writes the upright version of a w×h plane of bpp-byte pixels
// into dst, whose size is w×h, or h×w for orientations 5 to 8.
func orientPlane(dst []byte, dstride int, src []byte, sstride, w, h, bpp, o int) {
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	for y := range dh {
		out := dst[y*dstride : y*dstride+dw*bpp]
		for x := range dw {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			}
			copy(out[x*bpp:x*bpp+bpp], src[sy*sstride+sx*bpp:sy*sstride+sx*bpp+bpp])
		}
	}
}
