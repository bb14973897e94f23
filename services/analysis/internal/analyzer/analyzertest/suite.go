// Package analyzertest is the contract every analyzer.Analyzer passes: the
// local analyser and the Claude provider (against a local server speaking
// the Messages API) run the same suite.
package analyzertest

import (
	"context"
	"errors"
	"image"
	"testing"

	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/synth"
)

// MinIoU is what the suite asks of the mask on an easy synthetic photo.
const MinIoU = 0.9

// RunSuite checks a provider's contract.
func RunSuite(t *testing.T, a analyzer.Analyzer) {
	t.Helper()
	t.Run("provider_is_named_and_versioned", func(t *testing.T) {
		p := a.Provider()
		if p.Name == "" || p.Version == "" {
			t.Errorf("Provider() = %+v, want a name and a version", p)
		}
	})
	t.Run("result_meets_invariants", func(t *testing.T) {
		s := render(t, synth.Spec{Seed: 1, Width: 320, Height: 240, Backdrop: synth.White, Shape: synth.Can})
		r, err := a.Analyze(t.Context(), s.Image)
		if err != nil {
			t.Fatalf("Analyze: %v", err)
		}
		if err := r.Validate(s.Image.Bounds()); err != nil {
			t.Fatalf("result invalid: %v", err)
		}
		if iou := synth.IoU(r.Mask, s.Truth); iou < MinIoU {
			t.Errorf("mask IoU %.3f < %.2f", iou, MinIoU)
		}
		if !r.Box.Overlaps(s.Truth.Rect) || r.Box.Empty() {
			t.Errorf("box %v is empty", r.Box)
		}
		if len(r.Palette) == 0 {
			t.Error("empty palette")
		}
		for _, id := range analyzer.SceneIDs() {
			found := false
			for _, sc := range r.Scenes {
				found = found || sc.SceneID == id
			}
			if !found {
				t.Errorf("no prompt for scene %q", id)
			}
		}
	})
	t.Run("mask_follows_image_bounds", func(t *testing.T) {
		s := render(t, synth.Spec{Seed: 2, Width: 240, Height: 320, Backdrop: synth.Colored, Shape: synth.Bottle})
		rgba, ok := s.Image.(interface {
			SubImage(image.Rectangle) image.Image
		})
		if !ok {
			t.Fatalf("%T has no SubImage", s.Image)
		}
		sub := rgba.SubImage(image.Rect(10, 20, 230, 300))
		r, err := a.Analyze(t.Context(), sub)
		if err != nil {
			t.Fatalf("Analyze: %v", err)
		}
		if r.Mask.Rect != sub.Bounds() {
			t.Errorf("mask bounds %v, want %v", r.Mask.Rect, sub.Bounds())
		}
		if !r.Box.In(sub.Bounds()) {
			t.Errorf("box %v outside %v", r.Box, sub.Bounds())
		}
	})
	t.Run("rejects_unusable_images", func(t *testing.T) {
		for name, img := range map[string]image.Image{
			"nil":  nil,
			"tiny": image.NewRGBA(image.Rect(0, 0, 8, 8)),
		} {
			if _, err := a.Analyze(t.Context(), img); !errors.Is(err, analyzer.ErrInvalidImage) {
				t.Errorf("%s: error %v, want ErrInvalidImage", name, err)
			}
		}
	})
	t.Run("honours_cancellation", func(t *testing.T) {
		s := render(t, synth.Spec{Seed: 3, Width: 200, Height: 150, Backdrop: synth.Grey, Shape: synth.Jar})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := a.Analyze(ctx, s.Image); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})
}

func render(t *testing.T, spec synth.Spec) synth.Sample {
	t.Helper()
	s, err := synth.Render(spec)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return s
}
