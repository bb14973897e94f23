// Package phototest builds image files for tests in code: good images of
// each accepted type and the bad uploads the service must refuse.
package phototest

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/gen2brain/webp"
)

// Gradient is a w×h opaque image whose top-left quadrant is red, so tests
// can tell which way up it is.
func Gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(x * 255 / max(1, w-1)), uint8(y * 255 / max(1, h-1)), 128, 255}
			if x < w/2 && y < h/2 {
				c = color.RGBA{255, 0, 0, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// JPEG encodes a Gradient.
func JPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, Gradient(w, h), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// PNG encodes a Gradient.
func PNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, Gradient(w, h)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// WebP encodes a Gradient, lossy.
func WebP(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := webp.Encode(&buf, Gradient(w, h), webp.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// PNGBomb is a 45-byte PNG that declares 60000×60000 pixels: a signature
// and an IHDR chunk, no pixel data.
func PNGBomb() []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 60000)
	binary.BigEndian.PutUint32(ihdr[4:], 60000)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	return append([]byte("\x89PNG\r\n\x1a\n"), chunk("IHDR", ihdr)...)
}

func chunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// TruncatedJPEG is a valid JPEG cut off half way through its scan.
func TruncatedJPEG(t testing.TB) []byte {
	j := JPEG(t, 64, 48)
	return j[:len(j)/2]
}

// SVG is a small SVG document.
func SVG() []byte {
	return []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`)
}

// HTML is a page, to be sent with an image content type.
func HTML() []byte {
	return []byte("<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>")
}

// GIF is a 1×1 GIF.
func GIF() []byte {
	return []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
}

// PDF is the start of a PDF document.
func PDF() []byte {
	return []byte("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
}

// HEIC is the start of a HEIC file (an ISO-BMFF ftyp box).
func HEIC() []byte {
	return append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 64)...)
}

// Polyglot is a valid JPEG with a ZIP archive appended: image viewers show
// the picture, ZIP readers find the archive.
func Polyglot(t testing.TB) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	w, err := zw.Create("payload.html")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(HTML())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return append(JPEG(t, 32, 32), z.Bytes()...)
}

// Zip is a small ZIP archive, as a data export.
func Zip(t testing.TB) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	w, err := zw.Create("export.json")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte(`{"images":[]}`))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// GPSLatitude is written into RotatedWithGPS; it must not survive.
var GPSLatitude = []byte("GPS-SECRET-52N13E")

// RotatedWithGPS is a w×h JPEG (stored sideways) with an EXIF APP1 segment
// saying orientation 6 (rotate 90° clockwise to display) and a GPS IFD.
// Displayed upright it is h×w with the red quadrant at the top right.
func RotatedWithGPS(t testing.TB, w, h int) []byte {
	t.Helper()
	j := JPEG(t, w, h)
	app1 := append([]byte("Exif\x00\x00"), exifTIFF()...)
	seg := []byte{0xFF, 0xE1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(len(app1)+2))
	seg = append(seg, app1...)
	out := append([]byte{0xFF, 0xD8}, seg...)
	return append(out, j[2:]...)
}

// exifTIFF is a little-endian TIFF block: IFD0 with Orientation=6 and a
// GPS IFD pointer; the GPS IFD with GPSLatitudeRef and a GPS processing
// method string holding GPSLatitude (easy to search for).
func exifTIFF() []byte {
	le := binary.LittleEndian
	b := []byte("II*\x00")
	b = le.AppendUint32(b, 8)
	// IFD0 at 8: two entries.
	b = le.AppendUint16(b, 2)
	b = appendEntry(b, 0x0112, 3, 1, 6)  // Orientation SHORT = 6
	b = appendEntry(b, 0x8825, 4, 1, 38) // GPS IFD pointer
	b = le.AppendUint32(b, 0)            // no next IFD
	// GPS IFD at 8+2+24+4 = 38: two entries.
	b = le.AppendUint16(b, 2)
	b = appendEntry(b, 0x0001, 2, 2, uint32('N'))                  // GPSLatitudeRef "N"
	b = appendEntry(b, 0x001B, 7, uint32(len(GPSLatitude)), 38+30) // GPSProcessingMethod
	b = le.AppendUint32(b, 0)
	return append(b, GPSLatitude...)
}

func appendEntry(b []byte, tag, typ uint16, count, value uint32) []byte {
	le := binary.LittleEndian
	b = le.AppendUint16(b, tag)
	b = le.AppendUint16(b, typ)
	b = le.AppendUint32(b, count)
	return le.AppendUint32(b, value)
}
