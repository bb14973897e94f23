package market

import (
	"image"
	"testing"

	"github.com/connectengine/photoshoot/services/generation/internal/fixture"
	"github.com/connectengine/photoshoot/services/generation/internal/imaging"
	"github.com/connectengine/photoshoot/services/generation/internal/studio"
)

func render(t *testing.T, kind, scene string, w, h int) studio.Result {
	t.Helper()
	src, mask := fixture.Product(kind, 200, 200)
	r, err := studio.Render(studio.Request{Source: src, Mask: mask, SceneID: scene, Width: w, Height: h, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAmazonFixtureSetPasses is the bar: every output of the fixture
// set, prepared for Amazon, passes white-255 and ≥ 85% fill as encoded.
func TestAmazonFixtureSetPasses(t *testing.T) {
	t.Parallel()
	amazon, _ := Lookup("amazon")
	scenes := []string{"studio-white", "dark-luxury", "botanical-shadows"}
	for i, kind := range fixture.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			r := render(t, kind, scenes[i%len(scenes)], 480, 600)
			data, ct, v, err := Prepare(amazon, r.Image, r.Alpha)
			if err != nil {
				t.Fatal(err)
			}
			if !v.Passed || ct != "image/jpeg" || len(data) == 0 {
				t.Errorf("verdict %+v (%s)", v, ct)
			}
		})
	}
}

// scaled is preset p at a fifth of its size: the framing rules do not depend
// on the scale, and tests stay quick under the race detector.
func scaled(p Preset) Preset {
	p.Width, p.Height = p.Width/5, p.Height/5
	return p
}

func TestMeasureCatchesNonCompliance(t *testing.T) {
	t.Parallel()
	amazon, _ := Lookup("amazon")
	amazon = scaled(amazon)
	r := render(t, "bottle", "studio-white", 400, 400)
	v := Measure(amazon, r.Image, r.Alpha)
	if v.Passed {
		t.Fatalf("an unfitted studio scene passed amazon: %+v", v)
	}
	for _, c := range v.Checks {
		want := c.Name == "size"
		if c.Passed != want {
			t.Errorf("check %s passed = %v (value %.3f), want %v", c.Name, c.Passed, c.Value, want)
		}
	}
	small := render(t, "bottle", "studio-white", 300, 300)
	if v := Measure(amazon, small.Image, small.Alpha); v.Checks[0].Passed {
		t.Errorf("a 300×300 output passed the size check")
	}
}

func TestFitOtherPresets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		preset string
		w, h   int
	}{
		{"instagram", 480, 480},
		{"etsy_landscape", 400, 500},
		{"ebay", 320, 180},
		{"shopify", 300, 400},
		{"etsy", 400, 400},
	}
	for _, tt := range tests {
		p, _ := Lookup(tt.preset)
		p = scaled(p)
		r := render(t, "mug", "light-wood", tt.w, tt.h)
		out, alpha, adjusted := Fit(p, r.Image, r.Alpha)
		if out.Rect.Dx() != p.Width || out.Rect.Dy() != p.Height {
			t.Errorf("%s: size %v, want %dx%d", tt.preset, out.Rect.Size(), p.Width, p.Height)
		}
		if adjusted != (tt.w != p.Width || tt.h != p.Height) {
			t.Errorf("%s: adjusted = %v", tt.preset, adjusted)
		}
		// The product survives whole: its mask area scales with the frame.
		before := area(r.Alpha)
		after := area(alpha)
		_, srcOK := imaging.Bounds(r.Alpha, 16)
		box, ok := imaging.Bounds(alpha, 16)
		if !srcOK || !ok || box.Min.X == 0 || box.Min.Y == 0 || box.Max.X == p.Width || box.Max.Y == p.Height || after < before/100 {
			t.Errorf("%s: product cut by the frame: %v in %dx%d", tt.preset, box, p.Width, p.Height)
		}
		if v := Measure(p, out, alpha); !v.Passed {
			t.Errorf("%s: verdict %+v", tt.preset, v)
		}
	}
}

func area(m *image.Gray) int {
	n := 0
	for _, v := range m.Pix {
		if v > 128 {
			n++
		}
	}
	return n
}
