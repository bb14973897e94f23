// Package imagemodeltest is the contract every imagemodel.Model passes:
// the local renderer directly, the AIML client against a local server that
// answers in the AIML API's shape.
package imagemodeltest

import (
	"context"
	"errors"
	"image"
	"testing"

	"github.com/connectengine/photoshoot/services/generation/internal/fixture"
	"github.com/connectengine/photoshoot/services/generation/internal/imagemodel"
	"github.com/connectengine/photoshoot/services/generation/internal/lock"
	"github.com/connectengine/photoshoot/services/generation/internal/studio"
)

// Source is the product photo the suite sends; a fake provider needs its
// mask to draw a faithful product.
func Source() (*image.RGBA, *image.Gray) { return fixture.Product("bottle", 256, 256) }

// RunSuite checks m against the port's contract.
func RunSuite(t *testing.T, m imagemodel.Model) {
	t.Helper()
	src, mask := Source()
	base := imagemodel.Request{
		Source: src, Mask: mask, Prompt: "a bottle on marble", SceneID: "marble", Aspect: "4:5", Size: "1K", N: 2, Seed: 11,
	}

	t.Run("generates_n_images_with_the_product", func(t *testing.T) {
		t.Parallel()
		imgs, err := m.Generate(t.Context(), base)
		if err != nil {
			t.Fatal(err)
		}
		if len(imgs) != base.N {
			t.Fatalf("%d images, want %d", len(imgs), base.N)
		}
		w, h, _ := studio.Dimensions(base.Aspect, base.Size)
		s, _ := studio.Lookup(base.SceneID)
		box, _ := studio.ProductBox(mask)
		for i, img := range imgs {
			if img.Image.Rect.Dx() != w || img.Image.Rect.Dy() != h {
				t.Fatalf("image %d is %v, want %dx%d", i, img.Image.Rect.Size(), w, h)
			}
			at := img.Product
			if at.Empty() {
				if at, err = lock.Find(img.Image, src, mask, studio.Placement(s, box, w, h)); err != nil {
					t.Fatal(err)
				}
			}
			if f := lock.Fidelity(img.Image, src, mask, at); f < lock.DefaultThreshold {
				t.Errorf("image %d: product fidelity %.3f, want ≥ %.2f", i, f, lock.DefaultThreshold)
			}
		}
	})

	t.Run("rejects_invalid_requests", func(t *testing.T) {
		t.Parallel()
		bad := map[string]func(*imagemodel.Request){
			"no_images":    func(r *imagemodel.Request) { r.N = 0 },
			"too_many":     func(r *imagemodel.Request) { r.N = imagemodel.MaxImages + 1 },
			"aspect":       func(r *imagemodel.Request) { r.Aspect = "5:4" },
			"size":         func(r *imagemodel.Request) { r.Size = "8K" },
			"scene":        func(r *imagemodel.Request) { r.SceneID = "moon" },
			"mask_size":    func(r *imagemodel.Request) { r.Mask = image.NewGray(image.Rect(0, 0, 3, 3)) },
			"no_source":    func(r *imagemodel.Request) { r.Source = nil },
			"missing_mask": func(r *imagemodel.Request) { r.Mask = nil },
		}
		for name, mutate := range bad {
			req := base
			mutate(&req)
			if _, err := m.Generate(t.Context(), req); !errors.Is(err, imagemodel.ErrInvalid) {
				t.Errorf("%s: error %v, want ErrInvalid", name, err)
			}
		}
	})

	t.Run("honours_cancellation", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := m.Generate(ctx, base); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
}
