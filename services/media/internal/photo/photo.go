// Package photo is the media service's image processing: it sniffs what a
// file really is from its bytes, checks its dimensions from the header
// before anything is decoded, decodes it, turns it upright, drops every
// metadata block by re-encoding the pixels, makes the thumbnail and preview
// renditions, converts between JPEG, PNG and WebP, and writes the IPTC
// DigitalSourceType provenance into generated images.
//
// Everything here is pure: byte streams in, byte streams out, no storage
// and no gRPC. Decoding is pure Go; WebP encoding uses a WebAssembly build
// of libwebp run by wazero, so binaries build with CGO_ENABLED=0.
package photo

import (
	"errors"
	"fmt"
	"strings"
)

// Format is an accepted image type.
type Format int

// The accepted formats; anything else is refused with ErrUnsupported.
const (
	FormatUnknown Format = iota
	FormatJPEG
	FormatPNG
	FormatWebP
)

// Limits on what is accepted.
const (
	// MaxPixels bounds width × height, checked from the header before
	// decoding: decoding needs about four bytes per pixel.
	MaxPixels = 50_000_000
	// ThumbnailSize and PreviewSize are the long sides of the renditions
	// made on upload.
	ThumbnailSize = 512
	PreviewSize   = 1024
)

// Accepted names what is accepted, for error messages.
const Accepted = "JPEG, PNG or WebP"

// ContentType is the format's MIME type.
func (f Format) ContentType() string {
	switch f {
	case FormatJPEG:
		return "image/jpeg"
	case FormatPNG:
		return "image/png"
	case FormatWebP:
		return "image/webp"
	}
	return "application/octet-stream"
}

// Ext is the usual file name extension, with the dot.
func (f Format) Ext() string {
	switch f {
	case FormatJPEG:
		return ".jpg"
	case FormatPNG:
		return ".png"
	case FormatWebP:
		return ".webp"
	}
	return ""
}

// String is the short name used in ?format= and blob keys.
func (f Format) String() string {
	switch f {
	case FormatJPEG:
		return "jpeg"
	case FormatPNG:
		return "png"
	case FormatWebP:
		return "webp"
	}
	return "unknown"
}

// ParseFormat reads a ?format= value ("jpeg", "jpg", "png", "webp" or a
// MIME type of one of them).
func ParseFormat(s string) (Format, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "jpeg", "jpg", "image/jpeg":
		return FormatJPEG, true
	case "png", "image/png":
		return FormatPNG, true
	case "webp", "image/webp":
		return FormatWebP, true
	}
	return FormatUnknown, false
}

// FormatOf maps a stored content type back to its format.
func FormatOf(contentType string) Format {
	f, _ := ParseFormat(contentType)
	return f
}

// ErrEmpty is a file with no bytes at all.
var ErrEmpty = errors.New("the file is empty")

// UnsupportedError is a file whose bytes are not an accepted format, or
// are one with something else hidden in it (a polyglot).
type UnsupportedError struct {
	// Detected names what the bytes look like ("GIF", "SVG", "a JPEG with a
	// ZIP archive appended"); "unrecognised data" when nothing matched.
	Detected string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s is not accepted; upload a %s image", e.Detected, Accepted)
}

// CorruptError is a file that starts like an accepted format but cannot be
// read: truncated, damaged or inconsistent.
type CorruptError struct {
	Format Format
	Err    error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the %s image is truncated or corrupt: %v", strings.ToUpper(e.Format.String()), e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// TooLargeError is an image with more than MaxPixels pixels.
type TooLargeError struct {
	Width, Height int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the image is %d×%d pixels (%.1f megapixels); at most %d megapixels are accepted",
		e.Width, e.Height, float64(e.Width)*float64(e.Height)/1e6, MaxPixels/1_000_000)
}
