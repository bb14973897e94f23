package photo

import (
	"image"
	"image/color"
)

// renditionMemory covers what Process holds besides the full-size image:
// the 1024 px preview (4 MiB as RGBA), the thumbnail, their encodings, the
// strips and rows the resizer and encoders work on.
const renditionMemory = 8 << 20

// estimateMemory is about how many bytes Process holds at its peak for a
// file, from what Inspect read without decoding: the pixels the standard
// decoder allocates for this kind of image (bytes per pixel by colour model
// and bit depth; a JPEG's chroma planes by its sampling factors, plus its
// coefficients, 4 bytes per sample, while a progressive JPEG decodes; a
// CMYK JPEG's planes and the converted image), a second copy when the EXIF
// orientation turns it, the WebP encoder's copies, and the renditions.
// The original is streamed out as it is encoded. The estimate is meant for
// admission (Service decode budget), so it errs on the high side.
func estimateMemory(f Format, cfg image.Config, l layout, interlaced bool, orientation int) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	var pixels, extra float64 // bytes per pixel: the decoded image, and temporary
	turnsInPlace := true      // Orient copies plane by plane, without converting
	switch f {
	case FormatJPEG:
		planes := jpegPlanes(l.frame)
		pixels = planes
		switch len(l.frame.sampling) {
		case 1, 3:
		default: // CMYK / YCCK: four planes, then the CMYK image
			pixels, extra = 4, planes
			turnsInPlace = false
		}
		if l.frame.progressive {
			extra += 4 * planes
		}
	case FormatPNG:
		pixels = pngBytesPerPixel(cfg.ColorModel)
		turnsInPlace = cfg.ColorModel == color.GrayModel || pixels == 4
		if interlaced {
			extra += pixels / 2 // the largest pass, merged into the image
		}
	case FormatWebP:
		switch cfg.ColorModel {
		case color.NRGBAModel: // lossless: ARGB words, then NRGBA
			pixels, extra = 4, 4
		case color.NYCbCrAModel:
			pixels, turnsInPlace = 2.5, false
		default:
			pixels = 1.5
		}
		extra += 8 // the encoder's RGBA copy and libwebp's own planes
	}
	if orientation >= 2 {
		if turnsInPlace {
			extra += pixels
		} else {
			extra += 8 // converted to NRGBA, then turned
		}
	}
	return int64(float64(px)*(pixels+extra)) + renditionMemory
}

// jpegPlanes is the decoded size of a JPEG in bytes per pixel: one byte
// per sample of each component, chroma scaled by its sampling factors.
func jpegPlanes(fr jpegFrame) float64 {
	if len(fr.sampling) == 0 {
		return 3
	}
	hmax, vmax := 1, 1
	for _, s := range fr.sampling {
		hmax, vmax = max(hmax, s[0]), max(vmax, s[1])
	}
	var sum float64
	for _, s := range fr.sampling {
		sum += float64(max(s[0], 1)*max(s[1], 1)) / float64(hmax*vmax)
	}
	return sum
}

// pngBytesPerPixel is what image/png decodes a colour model into.
func pngBytesPerPixel(m color.Model) float64 {
	switch m {
	case color.GrayModel:
		return 1
	case color.Gray16Model:
		return 2
	case color.RGBAModel, color.NRGBAModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

// ConvertMemory is the same estimate for converting a stored rendition of
// w×h pixels (which media wrote itself) from one format to another: the
// largest decode of the source format, and the WebP encoder's copies.
func ConvertMemory(from, to Format, w, h int) int64 {
	px := float64(w) * float64(h)
	bpp := 8.0 // PNG may be 16-bit, lossless WebP decodes twice
	if from == FormatJPEG {
		bpp = 1.5 // media writes 4:2:0 or grey baseline JPEGs
	}
	if to == FormatWebP {
		bpp += 8
	}
	return int64(px*bpp) + renditionMemory
}
