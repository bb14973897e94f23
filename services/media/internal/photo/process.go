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
// are viewed small, so 85 is enough there.
const (
	originalJPEGQuality  = 90
	renditionJPEGQuality = 85
	webpQuality          = 90
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

// Result is an image ready to store: the re-encoded original and its two
// renditions.
type Result struct {
	Info      Info
	Original  Encoded
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

// Process decodes an inspected image, turns it upright and re-encodes it,
// which drops every metadata block of the source (EXIF with GPS, XMP, IPTC,
// ICC, comments), then makes the preview and thumbnail.
func Process(src io.Reader, info Info, opt Options) (*Result, error) {
	img, err := Decode(src, info)
	if err != nil {
		return nil, err
	}
	return ProcessImage(img, info, opt)
}

// ProcessImage is Process for an already decoded, upright image.
func ProcessImage(img image.Image, info Info, opt Options) (*Result, error) {
	res := &Result{Info: info}
	res.Info.Width, res.Info.Height = img.Bounds().Dx(), img.Bounds().Dy()
	f := info.Format
	if opt.DigitalSourceType != "" && f == FormatWebP {
		f = FormatPNG
		res.Info.Format = FormatPNG
	}
	data, err := encode(img, f, originalJPEGQuality, info.Lossless)
	if err != nil {
		return nil, err
	}
	if opt.DigitalSourceType != "" {
		if data, err = WithDigitalSourceType(data, f, opt.DigitalSourceType); err != nil {
			return nil, err
		}
	}
	res.Original = Encoded{Format: f, Data: data, Width: res.Info.Width, Height: res.Info.Height}

	rf := FormatJPEG
	if !isOpaque(img) {
		rf = FormatPNG
	}
	preview := Fit(img, PreviewSize)
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
// format, for ?format= downloads.
func Convert(src io.Reader, from, to Format) ([]byte, error) {
	info := Info{Format: from, Orientation: 1}
	img, err := Decode(src, info)
	if err != nil {
		return nil, err
	}
	return encode(img, to, originalJPEGQuality, false)
}

func encode(img image.Image, f Format, jpegQuality int, lossless bool) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	switch f {
	case FormatJPEG:
		if !isOpaque(img) {
			img = flatten(img)
		}
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality})
	case FormatPNG:
		err = (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&buf, img)
	case FormatWebP:
		err = webp.Encode(&buf, img, webp.Options{Quality: webpQuality, Lossless: lossless, Method: 4})
	default:
		err = fmt.Errorf("unknown format %d", f)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", f, err)
	}
	return buf.Bytes(), nil
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
