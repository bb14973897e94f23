package rest_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectengine/photoshoot/gateway/internal/rest"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
)

// reference is what the gateway's JSON must mean: protojson with the
// gateway's options.
var reference = protojson.MarshalOptions{EmitUnpopulated: true}

// TestMarshalMatchesProtojson fills every message type of our API (and
// google.rpc.Status, which takes the protojson path) with random values —
// unset and zero fields, extreme numbers, NaN and infinities, escapes and
// invalid UTF-8, unknown enum numbers, out-of-range Timestamps — and checks
// that rest.Marshaler's JSON means exactly what protojson's does, and that
// it fails where protojson fails.
func TestMarshalMatchesProtojson(t *testing.T) {
	t.Parallel()
	var types []protoreflect.MessageType
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		name := string(mt.Descriptor().FullName())
		if strings.HasPrefix(name, "photoshoot.") || name == "google.rpc.Status" {
			types = append(types, mt)
		}
		return true
	})
	if len(types) < 50 {
		t.Fatalf("found %d message types, want the whole API", len(types))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, mt := range types {
		for range 150 {
			m := mt.New()
			fill(r, m, 0)
			compare(t, m.Interface())
		}
	}
}

func compare(t *testing.T, m proto.Message) {
	t.Helper()
	got, err := rest.Marshaler.Marshal(m)
	want, wantErr := reference.Marshal(m)
	name := m.ProtoReflect().Descriptor().FullName()
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%s: error %v, protojson's %v (%s)", name, err, wantErr, got)
	}
	if err != nil {
		return
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: invalid JSON %s: %v", name, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %s\nwant %s", name, got, want)
	}
}

func TestMarshalEdgeCases(t *testing.T) {
	t.Parallel()
	ts := func(s int64, n int32) *timestamppb.Timestamp { return &timestamppb.Timestamp{Seconds: s, Nanos: n} }
	for _, m := range []proto.Message{
		&accountv1.ApiKey{},
		&accountv1.ApiKey{Id: "k", CreateTime: ts(0, 0)},
		&accountv1.ApiKey{CreateTime: ts(1, 1)},
		&accountv1.ApiKey{CreateTime: ts(1, 1000)},
		&accountv1.ApiKey{CreateTime: ts(1, 1000000)},
		&accountv1.ApiKey{CreateTime: ts(-62135596800, 0)},
		&accountv1.ApiKey{CreateTime: ts(253402300799, 999999999)},
		&accountv1.ApiKey{CreateTime: ts(253402300800, 0)},
		&accountv1.ApiKey{CreateTime: ts(0, 1e9)},
		&accountv1.ApiKey{Name: "\x00\x1f\"\\\u2028</script>é\U0001F389"},
		&accountv1.ApiKey{Name: "bad \xff utf-8"},
		status.New(codes.ResourceExhausted, "slow down").Proto(),
		mustDetails(t, codes.InvalidArgument, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "email", Description: "bad"}}}),
		durationpb.New(1500 * time.Millisecond),
	} {
		compare(t, m)
	}
}

func mustDetails(t *testing.T, c codes.Code, d protoadapt.MessageV1) proto.Message {
	t.Helper()
	st, err := status.New(c, "with details").WithDetails(d)
	if err != nil {
		t.Fatal(err)
	}
	return st.Proto()
}

// TestMarshalFastPath checks a list response does not go through protojson:
// it allocates a fraction of what protojson does.
func TestMarshalFastPath(t *testing.T) {
	resp := &accountv1.ListApiKeysResponse{}
	for range 5 {
		resp.ApiKeys = append(resp.ApiKeys, &accountv1.ApiKey{
			Id: "0193a5c2-7d1e-7c3b-9a51-3f1d2e4c5b6a", Name: "deploy", Prefix: "ps_ab12cd",
			CreateTime: timestamppb.Now(),
		})
	}
	ours := testing.AllocsPerRun(100, func() { _, _ = rest.Marshaler.Marshal(resp) })
	theirs := testing.AllocsPerRun(100, func() { _, _ = reference.Marshal(resp) })
	if ours*4 > theirs {
		t.Errorf("Marshal made %.0f allocations, protojson %.0f: the fast path is not taken", ours, theirs)
	}
}

// fill sets a random subset of m's fields to random values.
func fill(r *rand.Rand, m protoreflect.Message, depth int) {
	md := m.Descriptor()
	if md.FullName() == "google.protobuf.Timestamp" {
		secs := []int64{0, 1, -1, -62135596800, 253402300799, 253402300800, -62135596801, r.Int64N(4e9)}
		nanos := []int32{0, 1, 999999999, 1e9, -1, 5e6, 123000, r.Int32N(1e9)}
		fds := md.Fields()
		m.Set(fds.ByNumber(1), protoreflect.ValueOfInt64(secs[r.IntN(len(secs))]))
		m.Set(fds.ByNumber(2), protoreflect.ValueOfInt32(nanos[r.IntN(len(nanos))]))
		return
	}
	fds := md.Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if r.IntN(3) == 0 {
			continue // unset
		}
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() && m.WhichOneof(o) != nil {
			continue // one member per oneof
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range r.IntN(3) {
				mp.Set(scalar(r, fd.MapKey()).MapKey(), elem(r, m, fd.MapValue(), depth))
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range r.IntN(4) {
				if fd.Message() != nil {
					e := l.NewElement()
					fill(r, e.Message(), depth+1)
					l.Append(e)
				} else {
					l.Append(scalar(r, fd))
				}
			}
		case fd.Message() != nil:
			if depth < 4 {
				fill(r, m.Mutable(fd).Message(), depth+1)
			}
		default:
			m.Set(fd, scalar(r, fd))
		}
	}
}

func elem(r *rand.Rand, m protoreflect.Message, fd protoreflect.FieldDescriptor, depth int) protoreflect.Value {
	if fd.Message() != nil {
		v := m.NewField(fd)
		fill(r, v.Message(), depth+1)
		return v
	}
	return scalar(r, fd)
}

var strs = []string{
	"", "plain", `quote " and \ backslash`, "ctl \x00\x01\x1f\n\r\t\b\f", "ünïcødé ✓ 🎉",
	"<script>&amp;</script>", "\u2028\u2029", "bad \xff utf-8", "\xc3",
}

func scalar(r *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.IntN(2) == 0)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32([]int32{0, 1, -1, math.MaxInt32, math.MinInt32, r.Int32()}[r.IntN(6)])
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32([]uint32{0, 1, math.MaxUint32, r.Uint32()}[r.IntN(4)])
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64([]int64{0, 1, -1, math.MaxInt64, math.MinInt64, r.Int64()}[r.IntN(6)])
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64([]uint64{0, 1, math.MaxUint64, r.Uint64()}[r.IntN(4)])
	case protoreflect.FloatKind:
		f := []float32{0, float32(math.Copysign(0, -1)), 0.1, 1.5, -2.25e-7, 3e21, math.MaxFloat32, math.SmallestNonzeroFloat32,
			float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), r.Float32(), float32(r.NormFloat64() * 1e6)}
		return protoreflect.ValueOfFloat32(f[r.IntN(len(f))])
	case protoreflect.DoubleKind:
		f := []float64{0, math.Copysign(0, -1), 0.1, 1.5, 1e-7, 1e21, 1e300, math.MaxFloat64, math.SmallestNonzeroFloat64,
			math.NaN(), math.Inf(1), math.Inf(-1), r.Float64(), r.NormFloat64() * 1e9}
		return protoreflect.ValueOfFloat64(f[r.IntN(len(f))])
	case protoreflect.StringKind:
		if r.IntN(4) == 0 {
			var b strings.Builder
			for range r.IntN(12) {
				b.WriteRune(rune(r.IntN(0x11000)))
			}
			return protoreflect.ValueOfString(b.String())
		}
		return protoreflect.ValueOfString(strs[r.IntN(len(strs))])
	case protoreflect.BytesKind:
		b := make([]byte, r.IntN(20))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return protoreflect.ValueOfBytes(b)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		if r.IntN(5) == 0 {
			return protoreflect.ValueOfEnum(999)
		}
		return protoreflect.ValueOfEnum(vals.Get(r.IntN(vals.Len())).Number())
	}
	panic("unexpected kind " + fd.Kind().String())
}
