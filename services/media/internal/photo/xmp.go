package photo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"html"
	"io"
)

// IPTC DigitalSourceType codes for images made by a generative model;
// Google Merchant Center reads them to label AI-generated product images.
const (
	DigitalSourceTrainedAlgorithmic          = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
	DigitalSourceCompositeTrainedAlgorithmic = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
)

// xmpNamespace opens a JPEG APP1 XMP segment; xmpKeyword names a PNG iTXt
// chunk holding XMP. Both are fixed by the XMP specification, part 3.
const (
	xmpNamespace = "http://ns.adobe.com/xap/1.0/\x00"
	xmpKeyword   = "XML:com.adobe.xmp"
)

// xmpPacket is the smallest XMP packet carrying the IPTC Extension
// DigitalSourceType property.
func xmpPacket(digitalSourceType string) []byte {
	return fmt.Appendf(nil, `<?xpacket begin="%s" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">
   <Iptc4xmpExt:DigitalSourceType>%s</Iptc4xmpExt:DigitalSourceType>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="r"?>`, "\uFEFF", html.EscapeString(digitalSourceType))
}

// xmpSegment is where an XMP packet declaring digitalSourceType goes in a
// file of format f and the bytes that carry it: an APP1 segment right after
// the JPEG SOI marker, or an iTXt chunk right after the PNG IHDR chunk.
// check verifies the bytes before that point. xmpWriter puts it in.
func xmpSegment(f Format, digitalSourceType string) (at int, segment []byte, check func(prefix []byte) error, err error) {
	packet := xmpPacket(digitalSourceType)
	switch f {
	case FormatJPEG:
		n := 2 + len(xmpNamespace) + len(packet)
		if n > 0xFFFF {
			return 0, nil, nil, fmt.Errorf("add xmp: packet of %d bytes does not fit a segment", n)
		}
		seg := []byte{0xFF, 0xE1}
		seg = binary.BigEndian.AppendUint16(seg, uint16(n))
		seg = append(seg, xmpNamespace...)
		seg = append(seg, packet...)
		return 2, seg, func(p []byte) error {
			if !bytes.HasPrefix(p, []byte{0xFF, 0xD8}) {
				return fmt.Errorf("add xmp: not a JPEG")
			}
			return nil
		}, nil
	case FormatPNG:
		const ihdrEnd = 8 + 8 + 13 + 4
		// iTXt: keyword, NUL, compression flag 0, method 0, empty language
		// tag and translated keyword (each NUL-terminated), then the text.
		body := append([]byte(xmpKeyword), 0, 0, 0, 0, 0)
		body = append(body, packet...)
		chunk := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		chunk = append(chunk, "iTXt"...)
		chunk = append(chunk, body...)
		chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
		return ihdrEnd, chunk, func(p []byte) error {
			if len(p) < ihdrEnd || string(p[12:16]) != "IHDR" {
				return fmt.Errorf("add xmp: not a PNG")
			}
			return nil
		}, nil
	}
	return 0, nil, nil, fmt.Errorf("add xmp: unsupported format %s", f)
}

// xmpWriter inserts the XMP segment into a JPEG or PNG while it is being
// written: it holds back the few bytes before the insertion point, checks
// them, and passes everything after straight through.
type xmpWriter struct {
	w       io.Writer
	at      int
	segment []byte // nil once written
	check   func([]byte) error
	head    []byte
}

func newXMPWriter(w io.Writer, f Format, digitalSourceType string) (*xmpWriter, error) {
	at, seg, check, err := xmpSegment(f, digitalSourceType)
	if err != nil {
		return nil, err
	}
	return &xmpWriter{w: w, at: at, segment: seg, check: check, head: make([]byte, 0, at)}, nil
}

func (x *xmpWriter) Write(p []byte) (int, error) {
	if x.segment == nil {
		return x.w.Write(p)
	}
	n := min(len(p), x.at-len(x.head))
	x.head = append(x.head, p[:n]...)
	if len(x.head) < x.at {
		return len(p), nil
	}
	if err := x.check(x.head); err != nil {
		return 0, err
	}
	if _, err := x.w.Write(x.head); err != nil {
		return 0, err
	}
	if _, err := x.w.Write(x.segment); err != nil {
		return 0, err
	}
	x.segment = nil
	if _, err := x.w.Write(p[n:]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// finish reports a file too short to have held the insertion point.
func (x *xmpWriter) finish() error {
	if x.segment != nil {
		return x.check(x.head)
	}
	return nil
}
