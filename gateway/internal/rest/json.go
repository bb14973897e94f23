package rest

import (
	"encoding/base64"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// marshaler is grpc-gateway's JSONPb with a faster Marshal. protojson spent
// about a tenth of the gateway's CPU per REST request in gwbench: it walks
// every message through a sorted, allocating field ranger. The responses of
// our public RPCs use a small subset of protobuf (scalars, enums, strings,
// bytes, nested and repeated messages, oneofs and Timestamp), so for message
// types made only of those, Marshal writes the JSON directly from a per-type
// plan. The output means the same as protojson's with our options
// (lowerCamelCase names, unpopulated fields written, int64 as strings, enums
// by name, Timestamp in RFC 3339), which json_test.go checks against
// protojson for every response type. Anything else — maps, other well-known
// types such as the Any in an error's details, non-message values — and any
// value protojson would refuse (invalid UTF-8, an out-of-range Timestamp)
// goes to protojson.
type marshaler struct {
	runtime.JSONPb
}

// Marshal writes v as JSON.
func (m *marshaler) Marshal(v any) ([]byte, error) {
	msg, ok := v.(proto.Message)
	if !ok {
		return m.JSONPb.Marshal(v)
	}
	r := msg.ProtoReflect()
	if p := planFor(r.Descriptor()); p != nil {
		b := make([]byte, 0, p.sizeHint.Load()+64)
		if b, ok := p.append(b, r); ok {
			p.sizeHint.Store(int64(len(b)))
			return b, nil
		}
	}
	// protojson directly, rather than JSONPb.Marshal, which copies its
	// result once more.
	return m.MarshalOptions.Marshal(msg)
}

// A plan is how to write one message type: its fields in declaration order,
// each with its JSON name (quoted, with the colon) ready to append.
type plan struct {
	fields []fieldPlan
	// sizeHint is the last output's length, so the next buffer is
	// allocated once at about the right size.
	sizeHint atomic.Int64
}

type fieldPlan struct {
	fd   protoreflect.FieldDescriptor
	name string // `"jsonName":`
	// inOneof fields (real or proto3 optional) are written only when set;
	// others with presence (messages) are null when unset; the rest are
	// always written, zero values included.
	inOneof, presence bool
	// msg is the plan of a message field's type, nil for Timestamp.
	msg *plan
	// timestamp marks a google.protobuf.Timestamp field.
	timestamp bool
}

var plans struct {
	mu sync.Mutex
	// m maps a top-level message descriptor to its *plan, or to nil when
	// the type needs protojson.
	m sync.Map
}

const timestampName protoreflect.FullName = "google.protobuf.Timestamp"

// planFor returns the plan for md, building it on first use, or nil when md
// (or any type it contains) uses something the plans do not cover.
func planFor(md protoreflect.MessageDescriptor) *plan {
	if p, ok := plans.m.Load(md); ok {
		return p.(*plan)
	}
	plans.mu.Lock()
	defer plans.mu.Unlock()
	if p, ok := plans.m.Load(md); ok {
		return p.(*plan)
	}
	var p *plan
	if covered(md, map[protoreflect.FullName]bool{}) {
		p = build(md, map[protoreflect.FullName]*plan{})
	}
	plans.m.Store(md, p)
	return p
}

// covered reports whether every field reachable from md is of a kind the
// plans write. seen breaks cycles (a recursive type is judged by its other
// fields).
func covered(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] {
		return true
	}
	seen[md.FullName()] = true
	if md.FullName() == timestampName {
		return true
	}
	if md.ParentFile().Package() == "google.protobuf" || md.ExtensionRanges().Len() > 0 {
		return false // other well-known types have JSON forms of their own
	}
	fds := md.Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if fd.IsMap() || fd.IsExtension() {
			return false
		}
		switch fd.Kind() {
		case protoreflect.GroupKind:
			return false
		case protoreflect.EnumKind:
			if fd.Enum().FullName() == "google.protobuf.NullValue" {
				return false
			}
		case protoreflect.MessageKind:
			if !covered(fd.Message(), seen) {
				return false
			}
		}
	}
	return true
}

func build(md protoreflect.MessageDescriptor, built map[protoreflect.FullName]*plan) *plan {
	if p, ok := built[md.FullName()]; ok {
		return p
	}
	p := &plan{}
	built[md.FullName()] = p
	fds := md.Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		fp := fieldPlan{
			fd:       fd,
			name:     strconv.Quote(fd.JSONName()) + ":",
			inOneof:  fd.ContainingOneof() != nil,
			presence: fd.HasPresence(),
		}
		if fd.Kind() == protoreflect.MessageKind {
			if fd.Message().FullName() == timestampName {
				fp.timestamp = true
			} else {
				fp.msg = build(fd.Message(), built)
			}
		}
		p.fields = append(p.fields, fp)
	}
	return p
}

// append writes m as a JSON object. It reports false for a value protojson
// would refuse; the caller then asks protojson, for its error.
func (p *plan) append(b []byte, m protoreflect.Message) ([]byte, bool) {
	b = append(b, '{')
	first := true
	for i := range p.fields {
		f := &p.fields[i]
		set := !f.presence || m.Has(f.fd)
		if f.inOneof && !set {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, f.name...)
		if !set {
			b = append(b, "null"...)
			continue
		}
		var ok bool
		if f.fd.IsList() {
			b, ok = f.appendList(b, m.Get(f.fd).List())
		} else {
			b, ok = f.appendValue(b, m.Get(f.fd))
		}
		if !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

func (f *fieldPlan) appendList(b []byte, l protoreflect.List) ([]byte, bool) {
	b = append(b, '[')
	for i := range l.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = f.appendValue(b, l.Get(i)); !ok {
			return b, false
		}
	}
	return append(b, ']'), true
}

// appendValue writes one value of the field's kind (an element, for a list).
func (f *fieldPlan) appendValue(b []byte, v protoreflect.Value) ([]byte, bool) {
	switch f.fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		// 64-bit integers are strings: JavaScript numbers lose precision.
		b = append(b, '"')
		return append(strconv.AppendInt(b, v.Int(), 10), '"'), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b = append(b, '"')
		return append(strconv.AppendUint(b, v.Uint(), 10), '"'), true
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32), true
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64), true
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BytesKind:
		b = append(b, '"')
		return append(base64.StdEncoding.AppendEncode(b, v.Bytes()), '"'), true
	case protoreflect.EnumKind:
		if ev := f.fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			b = append(b, '"')
			b = append(b, ev.Name()...)
			return append(b, '"'), true
		}
		// A number this binary does not know: protojson writes it as is.
		return strconv.AppendInt(b, int64(v.Enum()), 10), true
	case protoreflect.MessageKind:
		if f.timestamp {
			return appendTimestamp(b, v.Message())
		}
		return f.msg.append(b, v.Message())
	}
	return b, false
}

// appendFloat writes a finite number as the shortest decimal that reads
// back as the same float32 or float64, and the three special values as the
// strings protojson uses.
func appendFloat(b []byte, v float64, bits int) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...)
	}
	format := byte('f')
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e' // as JSON encoders do, to keep very small and large numbers short
	}
	return strconv.AppendFloat(b, v, format, -1, bits)
}

// appendString writes s as a JSON string, escaping only what JSON requires.
// Invalid UTF-8 reports false: protojson refuses it.
func appendString(b []byte, s string) ([]byte, bool) {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return b, false
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}

// Timestamp's valid range, as protojson enforces it: 0001-01-01T00:00:00Z
// to 9999-12-31T23:59:59.999999999Z.
const (
	minTimestamp = -62135596800
	maxTimestamp = 253402300799
)

// appendTimestamp writes a Timestamp in RFC 3339 (UTC, "Z"), with 0, 3, 6
// or 9 fractional digits as protojson does. Out of range reports false.
func appendTimestamp(b []byte, m protoreflect.Message) ([]byte, bool) {
	fds := m.Descriptor().Fields()
	secs := m.Get(fds.ByNumber(1)).Int()
	nanos := m.Get(fds.ByNumber(2)).Int()
	if secs < minTimestamp || secs > maxTimestamp || nanos < 0 || nanos >= 1e9 {
		return b, false
	}
	b = append(b, '"')
	b = time.Unix(secs, 0).UTC().AppendFormat(b, "2006-01-02T15:04:05")
	switch {
	case nanos == 0:
	case nanos%1e6 == 0:
		b = appendDigits(append(b, '.'), nanos/1e6, 3)
	case nanos%1e3 == 0:
		b = appendDigits(append(b, '.'), nanos/1e3, 6)
	default:
		b = appendDigits(append(b, '.'), nanos, 9)
	}
	return append(b, 'Z', '"'), true
}

// appendDigits writes 0 <= n < 10^width (width <= 9) as exactly width
// digits.
func appendDigits(b []byte, n int64, width int) []byte {
	var buf [9]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, buf[:width]...)
}

// newMarshaler returns the marshaler with the gateway's protojson options.
func newMarshaler(mo protojson.MarshalOptions, uo protojson.UnmarshalOptions) *marshaler {
	return &marshaler{JSONPb: runtime.JSONPb{MarshalOptions: mo, UnmarshalOptions: uo}}
}
