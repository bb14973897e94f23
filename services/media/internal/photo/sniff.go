package photo

import (
	"bytes"
)

// SniffLen is how many leading bytes Sniff wants; fewer are fine for short
// files.
const SniffLen = 512

// Sniff decides the format from the leading bytes alone; the declared
// Content-Type and the file name are never consulted. Formats we recognise
// but refuse are named in the UnsupportedError, so the user learns what
// they sent.
func Sniff(head []byte) (Format, error) {
	switch {
	case len(head) == 0:
		return FormatUnknown, ErrEmpty
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return FormatJPEG, nil
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return FormatPNG, nil
	case len(head) >= 12 && bytes.Equal(head[:4], []byte("RIFF")) && bytes.Equal(head[8:12], []byte("WEBP")):
		return FormatWebP, nil
	}
	return FormatUnknown, &UnsupportedError{Detected: describe(head)}
}

// describe names a refused file type for the error message.
func describe(head []byte) string {
	has := func(p string) bool { return bytes.HasPrefix(head, []byte(p)) }
	switch {
	case has("GIF87a"), has("GIF89a"):
		return "GIF"
	case has("%PDF-"):
		return "PDF"
	case has("PK\x03\x04"), has("PK\x05\x06"):
		return "a ZIP archive"
	case has("BM"):
		return "BMP"
	case has("II*\x00"), has("MM\x00*"):
		return "TIFF"
	case len(head) >= 12 && bytes.Equal(head[4:8], []byte("ftyp")):
		brand := string(head[8:12])
		switch brand {
		case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1":
			return "HEIC"
		case "avif", "avis":
			return "AVIF"
		}
		return "an ISO media file"
	case has("\x00\x00\x01\x00"):
		return "an icon"
	}
	text := bytes.ToLower(bytes.TrimLeft(trimBOM(head), " \t\r\n"))
	switch {
	case bytes.Contains(text, []byte("<svg")):
		return "SVG"
	case bytes.HasPrefix(text, []byte("<!doctype html")), bytes.HasPrefix(text, []byte("<html")),
		bytes.Contains(text, []byte("<script")), bytes.Contains(text, []byte("<body")):
		return "HTML"
	case bytes.HasPrefix(text, []byte("<?xml")):
		return "XML"
	}
	return "unrecognised data"
}

func trimBOM(b []byte) []byte {
	return bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
}
