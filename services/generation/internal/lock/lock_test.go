package lock

import (
	"image"
	"testing"

	"github.com/connectengine/photoshoot/services/generation/internal/fixture"
	"github.com/connectengine/photoshoot/services/generation/internal/imaging"
	"github.com/connectengine/photoshoot/services/generation/internal/studio"
)

// aiScene stands in for an AI provider: the studio scene with the product
// drawn where the provider chose (off the expected spot and size), optionally
// altered the way image models redraw products.
func aiScene(t *testing.T, kind, scene string, w, h int, shift image.Point, scale float64, alter func(*image.RGBA)) (*image.RGBA, *image.RGBA, *image.Gray, image.Rectangle) {
	t.Helper()
	src, mask := fixture.Product(kind, 240, 240)
	s, _ := studio.Lookup(scene)
	box, _ := studio.ProductBox(mask)
	guess := studio.Placement(s, box, w, h)
	bg, err := studio.Background(scene, w, h, 5)
	if err != nil {
		t.Fatal(err)
	}
	gw, gh := int(float64(guess.Dx())*scale), int(float64(guess.Dy())*scale)
	at := image.Pt((guess.Min.X+guess.Max.X)/2-gw/2, guess.Max.Y-gh).Add(shift)
	prod := imaging.Resize(imaging.Crop(src, box), gw, gh)
	if alter != nil {
		alter(prod)
	}
	imaging.Composite(bg, prod, imaging.ResizeGray(imaging.CropGray(mask, box), gw, gh), at)
	return bg, src, mask, guess
}

func TestApplyLocksFaithfulProvider(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		kind, scene string
		shift       image.Point
		scale       float64
	}{
		"in_place":       {"bottle", "marble", image.Pt(0, 0), 1},
		"shifted":        {"box", "concrete", image.Pt(23, -11), 1},
		"shifted_scaled": {"mug", "light-wood", image.Pt(-17, 9), 1.08},
		"smaller":        {"shoe", "studio-white", image.Pt(12, 4), 0.9},
	}
	for name, tt := range tests {
		scene, src, mask, guess := aiScene(t, tt.kind, tt.scene, 400, 500, tt.shift, tt.scale, nil)
		at, err := Find(scene, src, mask, guess)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Apply(scene, src, mask, at)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: fidelity %.4f at %v (guess %v)", name, r.Fidelity, r.Product, guess)
		if r.Fidelity < DefaultThreshold {
			t.Errorf("%s: fidelity %.3f of a faithful provider, want ≥ %.2f (found at %v)", name, r.Fidelity, DefaultThreshold, r.Product)
		}
		if got := Fidelity(r.Image, src, mask, r.Product); got < 0.99 {
			t.Errorf("%s: locked output fidelity %.4f, want ≥ 0.99", name, got)
		}
	}
}

func TestApplyCatchesAlteredProduct(t *testing.T) {
	t.Parallel()
	alterations := map[string]func(*image.RGBA){
		"relabelled": func(m *image.RGBA) { // the model redraws the label as a flat band
			for y := m.Rect.Dy() * 45 / 100; y < m.Rect.Dy()*75/100; y++ {
				for x := range m.Rect.Dx() {
					copy(m.Pix[y*m.Stride+x*4:], []uint8{200, 60, 60, 255})
				}
			}
		},
		"mirrored": func(m *image.RGBA) { // the model flips the product's design
			w := m.Rect.Dx()
			for y := range m.Rect.Dy() {
				row := m.Pix[y*m.Stride : y*m.Stride+w*4]
				for x := range w / 2 {
					for c := range 4 {
						row[x*4+c], row[(w-1-x)*4+c] = row[(w-1-x)*4+c], row[x*4+c]
					}
				}
			}
		},
	}
	for name, alter := range alterations {
		scene, src, mask, guess := aiScene(t, "bottle", "marble", 400, 500, image.Pt(5, 0), 1, alter)
		at, err := Find(scene, src, mask, guess)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Apply(scene, src, mask, at)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: fidelity %.4f", name, r.Fidelity)
		if r.Fidelity >= DefaultThreshold {
			t.Errorf("%s: fidelity %.3f of an altered product, want < %.2f", name, r.Fidelity, DefaultThreshold)
		}
	}
}

// TestLocalOutputsMatchSource is the product-lock bar on the fixture
// set: every local output's product region matches the source at SSIM ≥ 0.99,
// both as rendered and after the lock.
func TestLocalOutputsMatchSource(t *testing.T) {
	t.Parallel()
	for _, kind := range fixture.Kinds {
		src, mask := fixture.Product(kind, 160, 160)
		for _, s := range studio.Scenes() {
			r, err := studio.Render(studio.Request{Source: src, Mask: mask, SceneID: s.ID, Width: 200, Height: 250, Seed: 9})
			if err != nil {
				t.Fatal(err)
			}
			if got := Fidelity(r.Image, src, mask, r.Product); got < 0.99 {
				t.Errorf("%s/%s: rendered fidelity %.4f, want ≥ 0.99", kind, s.ID, got)
			}
			l, err := Apply(r.Image, src, mask, r.Product)
			if err != nil {
				t.Fatal(err)
			}
			if l.Fidelity < 0.99 || Fidelity(l.Image, src, mask, l.Product) < 0.99 {
				t.Errorf("%s/%s: locked fidelity %.4f (at %v, rendered at %v), want ≥ 0.99", kind, s.ID, l.Fidelity, l.Product, r.Product)
			}
		}
	}
}

func TestApplyRejectsEmptyMask(t *testing.T) {
	t.Parallel()
	src, _ := fixture.Product("box", 32, 32)
	if _, err := Apply(src, src, image.NewGray(src.Rect), image.Rect(0, 0, 8, 8)); err != ErrNoProduct {
		t.Fatalf("error %v, want ErrNoProduct", err)
	}
}
