package photo

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/gen2brain/webp"
	xwebp "golang.org/x/image/webp"
)

// Encoding parameters. JPEG quality 90 keeps product detail; renditions
// are viewed small, so 85 is enough there. PNG originals use zlib's fastest
// level: on 8 MP images it took half the time of the default level for
// files about 10% larger, and the PNG encode is most of an upload's work.
const (
	originalJPEGQuality  = 90
	renditionJPEGQuality = 85
	webpQuality          = 90
	originalPNGLevel     = png.BestSpeed
)

// Info is what Inspect learns from a file without decoding its pixels.
type Info struct {
	Format Format
	// Width and Height are the upright dimensions, after the EXIF
	// orientation is applied.
	Width, Height int
	// Orientation is the EXIF orientation, 1 (upright) to 8.
	Orientation int
	// Lossless is a WebP stored losslessly (VP8L).
	Lossless bool
	// Memory estimates the bytes Process holds at its peak for this file
	// (see estimateMemory); a decode budget admits it by this weight.
	Memory int64
}

// Inspect decides whether src is an image we accept, reading its header and
// walking its container structure without decoding pixels: the type is
// sniffed from the bytes, the dimensions come from the header and are
// checked against MaxPixels, truncation and appended data (polyglots) are
// found. Its memory use is a few buffers, whatever the file claims.
func Inspect(src io.ReaderAt, size int64) (Info, error) {
	head := make([]byte, min(size, SniffLen))
	if _, err := src.ReadAt(head, 0); err != nil && err != io.EOF {
		return Info{}, fmt.Errorf("read header: %w", err)
	}
	f, err := Sniff(head)
	if err != nil {
		return Info{}, err
	}
	cfg, err := decodeConfig(f, io.NewSectionReader(src, 0, size))
	if err != nil {
		return Info{}, &CorruptError{Format: f, Err: err}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Info{}, &CorruptError{Format: f, Err: fmt.Errorf("dimensions %d×%d", cfg.Width, cfg.Height)}
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return Info{}, &TooLargeError{Width: cfg.Width, Height: cfg.Height}
	}
	l, err := scan(io.NewSectionReader(src, 0, size), f)
	if err != nil {
		return Info{}, err
	}
	if what := l.polyglot(f); what != "" {
		return Info{}, &UnsupportedError{Detected: what}
	}
	info := Info{Format: f, Width: cfg.Width, Height: cfg.Height, Orientation: l.orientation}
	if l.orientation >= 5 {
		info.Width, info.Height = cfg.Height, cfg.Width
	}
	info.Lossless = f == FormatWebP && len(head) >= 16 && string(head[12:16]) == "VP8L"
	interlaced := f == FormatPNG && len(head) > 28 && head[28] == 1
	info.Memory = estimateMemory(f, cfg, l, interlaced, l.orientation)
	return info, nil
}

func decodeConfig(f Format, r io.Reader) (image.Config, error) {
	switch f {
	case FormatJPEG:
		return jpeg.DecodeConfig(r)
	case FormatPNG:
		return png.DecodeConfig(r)
	case FormatWebP:
		return xwebp.DecodeConfig(r)
	}
	return image.Config{}, fmt.Errorf("unknown format %d", f)
}

// Decode decodes an inspected file and turns it upright. The pixels are
// taken as sRGB: embedded colour profiles are not interpreted (see the
// service README).
func Decode(r io.Reader, info Info) (image.Image, error) {
	var (
		img image.Image
		err error
	)
	switch info.Format {
	case FormatJPEG:
		img, err = jpeg.Decode(r)
	case FormatPNG:
		img, err = png.Decode(r)
	case FormatWebP:
		img, err = xwebp.Decode(r)
	default:
		return nil, fmt.Errorf("decode: unknown format %d", info.Format)
	}
	if err != nil {
		return nil, &CorruptError{Format: info.Format, Err: err}
	}
	return Orient(img, info.Orientation), nil
}

// Encoded is one encoded image.
type Encoded struct {
	Format        Format
	Data          []byte
	Width, Height int
}

// Result describes an image made ready to store by Process: the original
// it wrote and the two renditions.
type Result struct {
	// Info describes the original as written: its format (a WebP with
	// provenance is written as PNG) and upright dimensions.
	Info      Info
	Preview   Encoded
	Thumbnail Encoded
}

// Options adjust Process.
type Options struct {
	// DigitalSourceType, when set, is written into the original as IPTC
	// DigitalSourceType in an XMP packet. A WebP original is then stored as
	// PNG, whose metadata chunk is simpler to write and universally read.
	DigitalSourceType string
}

// Process decodes an inspected image, turns it upright and re-encodes it
// into original, which drops every metadata block of the source (EXIF with
// GPS, XMP, IPTC, ICC, comments), then makes the preview and thumbnail.
// The original is streamed as it is encoded, never held whole in memory.
func Process(src io.Reader, info Info, opt Options, original io.Writer) (*Result, error) {
	img, err := Decode(src, info)
	if err != nil {
		return nil, err
	}
	return ProcessImage(img, info, opt, original)
}

// ProcessImage is Process for an already decoded, upright image.
func ProcessImage(img image.Image, info Info, opt Options, original io.Writer) (*Result, error) {
	res := &Result{Info: info}
	res.Info.Width, res.Info.Height = img.Bounds().Dx(), img.Bounds().Dy()
	f := info.Format
	if opt.DigitalSourceType != "" && f == FormatWebP {
		f = FormatPNG
		res.Info.Format = FormatPNG
	}
	w := original
	var xw *xmpWriter
	if opt.DigitalSourceType != "" {
		var err error
		if xw, err = newXMPWriter(original, f, opt.DigitalSourceType); err != nil {
			return nil, err
		}
		w = xw
	}
	if err := encodeTo(w, img, f, originalJPEGQuality, originalPNGLevel, info.Lossless); err != nil {
		return nil, err
	}
	if xw != nil {
		if err := xw.finish(); err != nil {
			return nil, err
		}
	}

	rf := FormatJPEG
	if !isOpaque(img) {
		rf = FormatPNG
	}
	preview := Fit(img, PreviewSize)
	var err error
	if res.Preview, err = encodeRendition(preview, rf); err != nil {
		return nil, err
	}
	if res.Thumbnail, err = encodeRendition(Fit(preview, ThumbnailSize), rf); err != nil {
		return nil, err
	}
	return res, nil
}

func encodeRendition(img image.Image, f Format) (Encoded, error) {
	data, err := encode(img, f, renditionJPEGQuality, false)
	if err != nil {
		return Encoded{}, err
	}
	return Encoded{Format: f, Data: data, Width: img.Bounds().Dx(), Height: img.Bounds().Dy()}, nil
}

// Thumbnail decodes an image and encodes its long side fitted to size, the
// way uploads make their renditions.
func Thumbnail(src io.Reader, info Info, size int) (Encoded, error) {
	img, err := Decode(src, info)
	if err != nil {
		return Encoded{}, err
	}
	f := FormatJPEG
	if !isOpaque(img) {
		f = FormatPNG
	}
	return encodeRendition(Fit(img, size), f)
}

// Convert re-encodes a stored image (already clean and upright) in another
// format into w, for ?format= downloads. A digitalSourceType, when set, is
// written into JPEG and PNG output (WebP has no place for it here).
func Convert(w io.Writer, src io.Reader, from, to Format, digitalSourceType string) error {
	info := Info{Format: from, Orientation: 1}
	img, err := Decode(src, info)
	if err != nil {
		return err
	}
	var xw *xmpWriter
	if digitalSourceType != "" && to != FormatWebP {
		if xw, err = newXMPWriter(w, to, digitalSourceType); err != nil {
			return err
		}
		w = xw
	}
	if err := encodeTo(w, img, to, originalJPEGQuality, png.DefaultCompression, false); err != nil {
		return err
	}
	if xw != nil {
		return xw.finish()
	}
	return nil
}

// encode encodes a rendition or a conversion in memory (PNG at the default
// level: they are made once and served many times).
func encode(img image.Image, f Format, jpegQuality int, lossless bool) ([]byte, error) {
	var buf bytes.Buffer
	if err := encodeTo(&buf, img, f, jpegQuality, png.DefaultCompression, lossless); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func encodeTo(w io.Writer, img image.Image, f Format, jpegQuality int, pngLevel png.CompressionLevel, lossless bool) error {
	var err error
	switch f {
	case FormatJPEG:
		if !isOpaque(img) {
			img = flatten(img)
		}
		err = jpeg.Encode(w, img, &jpeg.Options{Quality: jpegQuality})
	case FormatPNG:
		err = (&png.Encoder{CompressionLevel: pngLevel}).Encode(w, img)
	case FormatWebP:
		err = webp.Encode(w, img, webp.Options{Quality: webpQuality, Lossless: lossless, Method: 4})
	default:
		err = fmt.Errorf("unknown format %d", f)
	}
	if err != nil {
		return fmt.Errorf("encode %s: %w", f, err)
	}
	return nil
}

// isOpaque reports whether every pixel is opaque, checking the pixels when
// the image type can carry alpha.
func isOpaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// flatten composites an image with transparency over white, for JPEG.
func flatten(img image.Image) image.Image {
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Over)
	return dst
}
