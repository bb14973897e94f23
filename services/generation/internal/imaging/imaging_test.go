package imaging

import (
	"image"
	"math"
	"testing"
)

func gradient(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			o := y*m.Stride + x*4
			m.Pix[o], m.Pix[o+1], m.Pix[o+2], m.Pix[o+3] = uint8(x*255/w), uint8(y*255/h), uint8((x*y)%256), 255
		}
	}
	return m
}

func TestResize(t *testing.T) {
	t.Parallel()
	src := gradient(64, 48)
	tests := []struct {
		name string
		w, h int
	}{
		{"identity", 64, 48},
		{"down", 16, 12},
		{"up", 200, 150},
		{"anisotropic", 30, 100},
	}
	for _, tt := range tests {
		got := Resize(src, tt.w, tt.h)
		if got.Rect.Dx() != tt.w || got.Rect.Dy() != tt.h {
			t.Errorf("%s: size %v", tt.name, got.Rect.Size())
		}
		// The red channel is a horizontal ramp; it must stay monotonic.
		for x := 1; x < tt.w; x++ {
			if got.Pix[x*4] < got.Pix[(x-1)*4] {
				t.Errorf("%s: red ramp not monotonic at x=%d", tt.name, x)
				break
			}
		}
	}
	if got := Resize(src, 64, 48); string(got.Pix) != string(src.Pix) {
		t.Error("identity resize changed pixels")
	}
	flat := image.NewGray(image.Rect(0, 0, 10, 10))
	for i := range flat.Pix {
		flat.Pix[i] = 77
	}
	for _, v := range ResizeGray(flat, 33, 7).Pix {
		if v != 77 {
			t.Fatalf("a flat mask resized to %d, want 77", v)
		}
	}
}

func TestMaskedSSIM(t *testing.T) {
	t.Parallel()
	a := gradient(64, 64)
	alpha := image.NewGray(a.Rect)
	for i := range alpha.Pix {
		alpha.Pix[i] = 255
	}
	if got := MaskedSSIM(a, a, alpha); math.Abs(got-1) > 1e-9 {
		t.Errorf("SSIM of an image with itself = %v, want 1", got)
	}
	b := Crop(a, a.Rect)
	for i := 0; i < len(b.Pix); i += 4 {
		b.Pix[i+2] = 255 - b.Pix[i+2]
	}
	if got := MaskedSSIM(a, b, alpha); got > 0.9 {
		t.Errorf("SSIM with an inverted channel = %v, want < 0.9", got)
	}
	// Outside the mask nothing counts.
	half := image.NewGray(a.Rect)
	for y := range 32 {
		for x := range 64 {
			half.Pix[y*half.Stride+x] = 255
		}
	}
	c := Crop(a, a.Rect)
	for i := 32 * c.Stride; i < len(c.Pix); i++ {
		c.Pix[i] = 0
	}
	if got := MaskedSSIM(a, c, half); got < 0.999 {
		t.Errorf("SSIM with changes only outside the mask = %v, want 1", got)
	}
	if got := MaskedSSIM(a, gradient(32, 32), alpha); got != 0 {
		t.Errorf("SSIM of different sizes = %v, want 0", got)
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	m := image.NewGray(image.Rect(0, 0, 20, 10))
	if _, ok := Bounds(m, 1); ok {
		t.Fatal("empty mask has bounds")
	}
	m.Pix[3*m.Stride+4] = 200
	m.Pix[7*m.Stride+15] = 20
	m.Pix[9*m.Stride+19] = 5
	if got, ok := Bounds(m, 16); !ok || got != image.Rect(4, 3, 16, 8) {
		t.Fatalf("Bounds = %v, %v", got, ok)
	}
}

func TestComposite(t *testing.T) {
	t.Parallel()
	dst := image.NewRGBA(image.Rect(0, 0, 4, 4))
	fg := image.NewRGBA(image.Rect(0, 0, 2, 2))
	for i := range fg.Pix {
		fg.Pix[i] = 200
	}
	a := image.NewGray(fg.Rect)
	a.Pix = []uint8{255, 0, 128, 255}
	Composite(dst, fg, a, image.Pt(3, 3)) // clipped to one pixel
	if got := dst.Pix[(3*4+3)*4]; got != 200 {
		t.Fatalf("composited pixel %d, want 200", got)
	}
	if dst.Pix[0] != 0 {
		t.Fatal("composite wrote outside its offset")
	}
}
