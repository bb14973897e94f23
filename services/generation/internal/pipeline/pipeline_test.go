package pipeline

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"sync/atomic"
	"testing"

	"github.com/connectengine/photoshoot/services/generation/internal/fixture"
	"github.com/connectengine/photoshoot/services/generation/internal/imagemodel"
)

// redrawing is an AI provider stand-in: it renders with the local renderer,
// hides where the product is (as AI providers do), and for its first
// `alter` calls paints over the product's label the way a model that redraws
// the product would.
type redrawing struct {
	local *imagemodel.Local
	alter int32
	calls atomic.Int32
	fewer bool
	down  bool
}

func (r *redrawing) Name() string { return "redrawing" }

func (r *redrawing) Generate(ctx context.Context, req imagemodel.Request) ([]imagemodel.Image, error) {
	n := r.calls.Add(1)
	if r.down {
		return nil, imagemodel.ErrUnavailable
	}
	imgs, err := r.local.Generate(ctx, req)
	if err != nil {
		return nil, err
	}
	for i := range imgs {
		if n <= r.alter {
			p := imgs[i].Product
			band := image.Rect(p.Min.X, p.Min.Y+p.Dy()*45/100, p.Max.X, p.Min.Y+p.Dy()*75/100)
			for y := band.Min.Y; y < band.Max.Y; y++ {
				for x := band.Min.X; x < band.Max.X; x++ {
					o := imgs[i].Image.PixOffset(x, y)
					copy(imgs[i].Image.Pix[o:o+3], []uint8{200, 40, 40})
				}
			}
		}
		imgs[i].Product = image.Rectangle{}
	}
	if r.fewer {
		imgs = imgs[:len(imgs)-1]
	}
	return imgs, nil
}

func spec(variants int) Spec {
	return Spec{SceneID: "marble", Prompt: "marble", Aspect: "16:9", Size: "1K", Variants: variants, Seed: 3, ProductLock: true}
}

func decode(t *testing.T, o Output) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(o.Data))
	if err != nil {
		t.Fatalf("variant %d: %v", o.Index, err)
	}
	return img
}

func TestRunLocal(t *testing.T) {
	t.Parallel()
	src, mask := fixture.Product("mug", 240, 240)
	outs, err := New(imagemodel.NewLocal(), 0).Run(t.Context(), src, mask, spec(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 {
		t.Fatalf("%d outputs, want 2", len(outs))
	}
	for _, o := range outs {
		if o.Err != nil || o.Flagged || !o.Composite || o.Fidelity < 0.99 || o.ContentType != "image/jpeg" {
			t.Fatalf("variant %d: %+v", o.Index, o)
		}
		if got := decode(t, o).Bounds().Size(); got != image.Pt(1024, 576) {
			t.Fatalf("variant %d is %v, want 1024×576", o.Index, got)
		}
	}
}

func TestRunAmazon(t *testing.T) {
	t.Parallel()
	src, mask := fixture.Product("box", 240, 240)
	sp := spec(1)
	sp.Marketplace = "amazon"
	outs, err := New(imagemodel.NewLocal(), 0).Run(t.Context(), src, mask, sp)
	if err != nil {
		t.Fatal(err)
	}
	o := outs[0]
	if o.Err != nil || o.Compliance == nil || !o.Compliance.Passed || !o.Compliance.Adjusted {
		t.Fatalf("amazon output: err %v, compliance %+v", o.Err, o.Compliance)
	}
	if got := decode(t, o).Bounds().Size(); got != image.Pt(2000, 2000) {
		t.Fatalf("amazon output is %v", got)
	}
}

func TestRunRetriesRedrawnProductOnce(t *testing.T) {
	t.Parallel()
	src, mask := fixture.Product("bottle", 240, 240)
	tests := map[string]struct {
		alter       int32
		wantFlagged bool
	}{
		"second_try_faithful": {alter: 1, wantFlagged: false},
		"always_redrawn":      {alter: 100, wantFlagged: true},
	}
	for name, tt := range tests {
		m := &redrawing{local: imagemodel.NewLocal(), alter: tt.alter}
		outs, err := New(m, 0).Run(t.Context(), src, mask, spec(1))
		if err != nil {
			t.Fatal(err)
		}
		o := outs[0]
		if o.Err != nil || o.Flagged != tt.wantFlagged {
			t.Errorf("%s: flagged %v (fidelity %.3f, err %v), want %v", name, o.Flagged, o.Fidelity, o.Err, tt.wantFlagged)
		}
		if got := m.calls.Load(); got != 2 {
			t.Errorf("%s: %d provider calls, want 2 (one retry)", name, got)
		}
	}
}

func TestRunPartialAndFailure(t *testing.T) {
	t.Parallel()
	src, mask := fixture.Product("shoe", 200, 200)
	outs, err := New(&redrawing{local: imagemodel.NewLocal(), fewer: true}, 0).Run(t.Context(), src, mask, spec(2))
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Err != nil || !errors.Is(outs[1].Err, ErrFewerImages) {
		t.Fatalf("variant errors %v, %v; want nil, ErrFewerImages", outs[0].Err, outs[1].Err)
	}
	if _, err := New(&redrawing{local: imagemodel.NewLocal(), down: true}, 0).Run(t.Context(), src, mask, spec(1)); !errors.Is(err, imagemodel.ErrUnavailable) {
		t.Fatalf("error %v, want ErrUnavailable", err)
	}
	sp := spec(1)
	sp.Marketplace = "myspace"
	if _, err := New(imagemodel.NewLocal(), 0).Run(t.Context(), src, mask, sp); !errors.Is(err, imagemodel.ErrInvalid) {
		t.Fatalf("error %v, want ErrInvalid", err)
	}
}
