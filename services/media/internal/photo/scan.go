package photo

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// layout is what a walk over a file's container structure found, without
// decoding any pixels.
type layout struct {
	// end is the offset just past the image's last byte (JPEG EOI, PNG IEND,
	// the RIFF size); anything after it is trailing data.
	end int64
	// orientation is the EXIF orientation, 1 (upright) to 8.
	orientation int
	// trailing counts the bytes after end; trailingHead holds the first of
	// them, to name what was appended.
	trailing     int64
	trailingHead []byte
	// trailingPadding reports that every trailing byte is 0x00 or 0xFF,
	// which some encoders leave behind.
	trailingPadding bool
	// zipEOCD reports a ZIP end-of-central-directory record that ends
	// exactly at the end of the file: what a ZIP reader looks for.
	zipEOCD bool
	// frame is a JPEG's start-of-frame header, which sizes its decode.
	frame jpegFrame
}

// jpegFrame is what a JPEG's SOFn segment says about its decoding.
type jpegFrame struct {
	progressive bool
	// sampling holds each component's horizontal and vertical sampling
	// factors.
	sampling [][2]int
}

// maxTrailingHead is how much trailing data is kept to name it.
const maxTrailingHead = 64

// zipTail is how far from the end a ZIP reader searches for its
// end-of-central-directory record: the record plus the longest comment.
const zipTail = 22 + 0xFFFF

// scan walks the container structure of a file in the given format, so that
// truncation is noticed before decoding and data hidden after the image (a
// polyglot) is found. It reads r to the end.
func scan(r io.Reader, f Format) (layout, error) {
	cr := &countingReader{r: r, tail: make([]byte, 0, zipTail)}
	br := bufio.NewReaderSize(cr, 64<<10)
	var (
		l   layout
		err error
	)
	switch f {
	case FormatJPEG:
		l, err = scanJPEG(br)
	case FormatPNG:
		l, err = scanPNG(br)
	case FormatWebP:
		l, err = scanWebP(br)
	default:
		return layout{}, fmt.Errorf("scan: unknown format %d", f)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return layout{}, &CorruptError{Format: f, Err: err}
	}
	if l.orientation < 1 || l.orientation > 8 {
		l.orientation = 1
	}
	l.trailingPadding = true
	buf := make([]byte, 32<<10)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			if len(l.trailingHead) < maxTrailingHead {
				l.trailingHead = append(l.trailingHead, buf[:min(n, maxTrailingHead-len(l.trailingHead))]...)
			}
			for _, b := range buf[:n] {
				if b != 0x00 && b != 0xFF {
					l.trailingPadding = false
					break
				}
			}
			l.trailing += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return layout{}, fmt.Errorf("read trailing data: %w", err)
		}
	}
	l.zipEOCD = hasZipEOCD(cr.tail)
	return l, nil
}

// polyglot names what was found besides the image, or "" when the file is
// only the image (possibly followed by padding or a motion photo's video,
// which re-encoding drops).
func (l layout) polyglot(f Format) string {
	name := fmt.Sprintf("a %s", f.ContentType())
	if l.zipEOCD {
		return name + " with a ZIP archive hidden in it"
	}
	if l.trailing == 0 || l.trailingPadding {
		return ""
	}
	h := l.trailingHead
	switch {
	case len(h) >= 8 && bytes.Equal(h[4:8], []byte("ftyp")) && f == FormatJPEG:
		return "" // a motion photo: the video is dropped by re-encoding
	case bytes.HasPrefix(h, []byte("PK")):
		return name + " with a ZIP archive appended"
	case bytes.HasPrefix(h, []byte("%PDF")):
		return name + " with a PDF appended"
	}
	return fmt.Sprintf("%s with %d bytes of other data appended", name, l.trailing)
}

// hasZipEOCD looks for an end-of-central-directory record whose comment
// length makes it end exactly at the end of the file; tail holds the last
// bytes of the file.
func hasZipEOCD(tail []byte) bool {
	for i := len(tail) - 22; i >= 0; i-- {
		if tail[i] == 'P' && tail[i+1] == 'K' && tail[i+2] == 5 && tail[i+3] == 6 {
			commentLen := int(binary.LittleEndian.Uint16(tail[i+20:]))
			if i+22+commentLen == len(tail) {
				return true
			}
		}
	}
	return false
}

// countingReader counts bytes and keeps the last zipTail of them.
type countingReader struct {
	r    io.Reader
	n    int64
	tail []byte
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	chunk := p[:n]
	if len(chunk) >= cap(c.tail) {
		c.tail = append(c.tail[:0], chunk[len(chunk)-cap(c.tail):]...)
	} else {
		if over := len(c.tail) + len(chunk) - cap(c.tail); over > 0 {
			copy(c.tail, c.tail[over:])
			c.tail = c.tail[:len(c.tail)-over]
		}
		c.tail = append(c.tail, chunk...)
	}
	return n, err
}

// position tracks how far a walk has read.
type position struct {
	r *bufio.Reader
	n int64
}

func (p *position) byte() (byte, error) {
	b, err := p.r.ReadByte()
	if err == nil {
		p.n++
	}
	return b, err
}

func (p *position) full(buf []byte) error {
	n, err := io.ReadFull(p.r, buf)
	p.n += int64(n)
	return err
}

// skipPast reads up to and including the next delim byte.
func (p *position) skipPast(delim byte) error {
	for {
		s, err := p.r.ReadSlice(delim)
		p.n += int64(len(s))
		if err != bufio.ErrBufferFull {
			return err
		}
	}
}

func (p *position) skip(n int64) error {
	d, err := p.r.Discard(int(n))
	p.n += int64(d)
	return err
}

func scanJPEG(r *bufio.Reader) (layout, error) {
	p := &position{r: r}
	var soi [2]byte
	if err := p.full(soi[:]); err != nil {
		return layout{}, err
	}
	l := layout{orientation: 1}
	inScan := false
	for {
		if inScan {
			// Entropy-coded data: only 0xFF can start a marker.
			if err := p.skipPast(0xFF); err != nil {
				return layout{}, err
			}
		} else {
			b, err := p.byte()
			if err != nil {
				return layout{}, err
			}
			if b != 0xFF {
				return layout{}, fmt.Errorf("expected a marker at offset %d", p.n-1)
			}
		}
		m, err := p.byte()
		if err != nil {
			return layout{}, err
		}
		for m == 0xFF {
			if m, err = p.byte(); err != nil {
				return layout{}, err
			}
		}
		switch {
		case m == 0x00 && inScan, m >= 0xD0 && m <= 0xD7, m == 0x01:
			continue
		case m == 0x00:
			return layout{}, fmt.Errorf("invalid marker at offset %d", p.n-2)
		case m == 0xD9:
			l.end = p.n
			return l, nil
		}
		inScan = false
		var lb [2]byte
		if err := p.full(lb[:]); err != nil {
			return layout{}, err
		}
		n := int64(binary.BigEndian.Uint16(lb[:]))
		if n < 2 {
			return layout{}, fmt.Errorf("segment length %d at offset %d", n, p.n-2)
		}
		if m == 0xE1 || isSOF(m) {
			seg := make([]byte, n-2)
			if err := p.full(seg); err != nil {
				return layout{}, err
			}
			if body, ok := bytes.CutPrefix(seg, []byte("Exif\x00\x00")); ok && m == 0xE1 {
				l.orientation = exifOrientation(body)
			}
			if isSOF(m) && len(l.frame.sampling) == 0 {
				l.frame = parseFrame(m, seg)
			}
		} else if err := p.skip(n - 2); err != nil {
			return layout{}, err
		}
		if m == 0xDA {
			inScan = true
		}
	}
}

// isSOF reports a start-of-frame marker (SOF0–SOF15 but DHT, JPG and DAC).
func isSOF(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
}

// parseFrame reads a SOFn segment body: precision, height, width, the
// component count, then per component its id, sampling factors and table.
func parseFrame(m byte, seg []byte) jpegFrame {
	f := jpegFrame{progressive: m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE}
	if len(seg) < 6 {
		return f
	}
	n := int(seg[5])
	for i := range n {
		o := 6 + 3*i
		if o+3 > len(seg) {
			break
		}
		f.sampling = append(f.sampling, [2]int{int(seg[o+1] >> 4), int(seg[o+1] & 0x0F)})
	}
	return f
}

func scanPNG(r *bufio.Reader) (layout, error) {
	p := &position{r: r}
	if err := p.skip(8); err != nil {
		return layout{}, err
	}
	l := layout{orientation: 1}
	for {
		var h [8]byte
		if err := p.full(h[:]); err != nil {
			return layout{}, err
		}
		n := int64(binary.BigEndian.Uint32(h[:4]))
		if n > 1<<31-1 {
			return layout{}, fmt.Errorf("chunk length %d", n)
		}
		typ := string(h[4:])
		if typ == "eXIf" && n <= 1<<20 {
			seg := make([]byte, n)
			if err := p.full(seg); err != nil {
				return layout{}, err
			}
			l.orientation = exifOrientation(seg)
		} else if err := p.skip(n); err != nil {
			return layout{}, err
		}
		if err := p.skip(4); err != nil { // CRC
			return layout{}, err
		}
		if typ == "IEND" {
			l.end = p.n
			return l, nil
		}
	}
}

func scanWebP(r *bufio.Reader) (layout, error) {
	p := &position{r: r}
	var h [12]byte
	if err := p.full(h[:]); err != nil {
		return layout{}, err
	}
	size := int64(binary.LittleEndian.Uint32(h[4:8]))
	end := 8 + size
	l := layout{orientation: 1}
	for p.n < end {
		var ch [8]byte
		if err := p.full(ch[:]); err != nil {
			return layout{}, err
		}
		n := int64(binary.LittleEndian.Uint32(ch[4:]))
		padded := n + n&1
		if p.n+padded > end+1 {
			return layout{}, fmt.Errorf("chunk %q overruns the RIFF container", ch[:4])
		}
		if string(ch[:4]) == "EXIF" && n <= 1<<20 {
			seg := make([]byte, n)
			if err := p.full(seg); err != nil {
				return layout{}, err
			}
			// Some writers keep the JPEG APP1 prefix.
			l.orientation = exifOrientation(bytes.TrimPrefix(seg, []byte("Exif\x00\x00")))
			if err := p.skip(padded - n); err != nil {
				return layout{}, err
			}
		} else if err := p.skip(padded); err != nil {
			return layout{}, err
		}
	}
	l.end = p.n
	return l, nil
}

// exifOrientation reads tag 0x0112 from IFD0 of a TIFF-structured EXIF
// block; 1 when absent or unreadable.
func exifOrientation(tiff []byte) int {
	if len(tiff) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(tiff[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int(bo.Uint32(tiff[4:8]))
	if off < 8 || off+2 > len(tiff) {
		return 1
	}
	count := int(bo.Uint16(tiff[off:]))
	for i := range count {
		e := off + 2 + 12*i
		if e+12 > len(tiff) {
			return 1
		}
		if bo.Uint16(tiff[e:]) == 0x0112 && bo.Uint16(tiff[e+2:]) == 3 {
			if v := int(bo.Uint16(tiff[e+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}
