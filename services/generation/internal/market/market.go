// Package market holds the marketplace presets and the compliance checker.
// A preset fixes an output's size and, for Amazon, its background and fill;
// Fit reframes an output to a preset (crop or pad, and for white-background
// presets a knock-out onto RGB 255), and Measure states what the encoded
// output actually is: its size, the share of its background pixels that are
// exactly RGB 255, and how much of the frame the product fills.
package market

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"

	"github.com/connectengine/photoshoot/services/generation/internal/imaging"
)

// Preset is a marketplace's image rules.
type Preset struct {
	// Name is the preset's id, e.g. "amazon".
	Name string
	// Width and Height are the exact output size in pixels.
	Width, Height int
	// JPEG says the output is encoded as JPEG (PNG otherwise).
	JPEG bool
	// WhiteBackground requires every background pixel to be RGB 255.
	WhiteBackground bool
	// MinFill is the least share of the frame the product must span on its
	// longer side (0 for no rule).
	MinFill float64
}

// targetFill is how much of the frame Fit makes a white-background product
// span: above Amazon's 85% with room for the cut-out's soft fringe.
const targetFill = 0.9

// minWhite is the share of background pixels that must be exactly RGB 255.
// Background here leaves out a band of ringBand pixels around the product,
// where JPEG's 16×16 macroblocks (8×8 DCT, 4:2:0 chroma) ring: that halo is
// invisible and no encoder setting in the standard library avoids it.
const (
	minWhite = 0.999
	ringBand = 16
)

var presets = []Preset{
	{Name: "amazon", Width: 2000, Height: 2000, JPEG: true, WhiteBackground: true, MinFill: 0.85},
	{Name: "shopify", Width: 2048, Height: 2048, JPEG: true},
	{Name: "etsy", Width: 2000, Height: 2000, JPEG: true},
	{Name: "etsy_landscape", Width: 2700, Height: 2025, JPEG: true},
	{Name: "ebay", Width: 1600, Height: 1600, JPEG: true},
	{Name: "instagram", Width: 1080, Height: 1350, JPEG: true},
}

// Presets lists every preset.
func Presets() []Preset { return append([]Preset(nil), presets...) }

// Lookup returns the preset called name.
func Lookup(name string) (Preset, bool) {
	for _, p := range presets {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}

// Check is one measured rule.
type Check struct {
	// Name is "size", "background_white" or "fill_ratio".
	Name string
	// Passed says whether the output meets the rule.
	Passed bool
	// Value is what was measured; Threshold is what the rule asks.
	Value, Threshold float64
}

// Verdict is a preset's judgement of one output.
type Verdict struct {
	// Marketplace is the preset's name.
	Marketplace string
	// Passed says every check passed.
	Passed bool
	// Checks are the individual rules.
	Checks []Check
	// Adjusted says Fit changed the framing.
	Adjusted bool
}

// Fit reframes img (with the product's alpha, the same size) to p: for a
// white-background preset it cuts the product out onto RGB 255 spanning 90%
// of the frame; otherwise it scales to cover the frame and crops around the
// product, or pads with the image's border colour when cropping would cut the
// product. It reports whether anything changed.
func Fit(p Preset, img *image.RGBA, alpha *image.Gray) (*image.RGBA, *image.Gray, bool) {
	box, ok := imaging.Bounds(alpha, 16)
	if p.WhiteBackground && ok {
		return knockout(p, img, alpha, box)
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if w == p.Width && h == p.Height {
		return img, alpha, false
	}
	k := math.Max(float64(p.Width)/float64(w), float64(p.Height)/float64(h))
	sw, sh := int(math.Ceil(float64(w)*k)), int(math.Ceil(float64(h)*k))
	if !ok || (float64(box.Dx())*k <= float64(p.Width) && float64(box.Dy())*k <= float64(p.Height)) {
		big, bigA := imaging.Resize(img, sw, sh), imaging.ResizeGray(alpha, sw, sh)
		cx, cy := sw/2, sh/2
		if ok {
			cx, cy = int(float64(box.Min.X+box.Max.X)/2*k), int(float64(box.Min.Y+box.Max.Y)/2*k)
		}
		x0 := min(max(cx-p.Width/2, 0), sw-p.Width)
		y0 := min(max(cy-p.Height/2, 0), sh-p.Height)
		r := image.Rect(x0, y0, x0+p.Width, y0+p.Height)
		return imaging.Crop(big, r), imaging.CropGray(bigA, r), true
	}
	k = math.Min(float64(p.Width)/float64(w), float64(p.Height)/float64(h))
	sw, sh = max(int(float64(w)*k), 1), max(int(float64(h)*k), 1)
	out := image.NewRGBA(image.Rect(0, 0, p.Width, p.Height))
	fill(out, border(img))
	outA := image.NewGray(out.Rect)
	at := image.Pt((p.Width-sw)/2, (p.Height-sh)/2)
	full := image.NewGray(image.Rect(0, 0, sw, sh))
	for i := range full.Pix {
		full.Pix[i] = 255
	}
	imaging.Composite(out, imaging.Resize(img, sw, sh), full, at)
	small := imaging.ResizeGray(alpha, sw, sh)
	for y := range sh {
		copy(outA.Pix[(at.Y+y)*outA.Stride+at.X:], small.Pix[y*small.Stride:y*small.Stride+sw])
	}
	return out, outA, true
}

func knockout(p Preset, img *image.RGBA, alpha *image.Gray, box image.Rectangle) (*image.RGBA, *image.Gray, bool) {
	k := targetFill * math.Min(float64(p.Width)/float64(box.Dx()), float64(p.Height)/float64(box.Dy()))
	pw, ph := max(int(float64(box.Dx())*k), 1), max(int(float64(box.Dy())*k), 1)
	prod := imaging.Resize(imaging.Crop(img, box), pw, ph)
	a := imaging.ResizeGray(imaging.CropGray(alpha, box), pw, ph)
	out := image.NewRGBA(image.Rect(0, 0, p.Width, p.Height))
	fill(out, [3]uint8{255, 255, 255})
	at := image.Pt((p.Width-pw)/2, (p.Height-ph)/2)
	imaging.Composite(out, prod, a, at)
	outA := image.NewGray(out.Rect)
	for y := range ph {
		copy(outA.Pix[(at.Y+y)*outA.Stride+at.X:], a.Pix[y*a.Stride:y*a.Stride+pw])
	}
	return out, outA, true
}

func fill(m *image.RGBA, c [3]uint8) {
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = c[0], c[1], c[2], 255
	}
}

// border is the mean colour of the image's outermost pixels.
func border(m *image.RGBA) [3]uint8 {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	var s [3]int
	n := 0
	for x := range w {
		for _, y := range []int{0, h - 1} {
			o := y*m.Stride + x*4
			s[0], s[1], s[2] = s[0]+int(m.Pix[o]), s[1]+int(m.Pix[o+1]), s[2]+int(m.Pix[o+2])
			n++
		}
	}
	return [3]uint8{uint8(s[0] / n), uint8(s[1] / n), uint8(s[2] / n)}
}

// Encode encodes img in the preset's format and returns the bytes and their
// content type.
func Encode(p Preset, img image.Image) ([]byte, string, error) {
	var buf bytes.Buffer
	if p.JPEG {
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
			return nil, "", fmt.Errorf("encode jpeg: %w", err)
		}
		return buf.Bytes(), "image/jpeg", nil
	}
	if err := png.Encode(&buf, img); err != nil {
		return nil, "", fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), "image/png", nil
}

// Measure checks an output as it will be delivered (decode the encoded bytes
// and pass them here) against p; alpha marks the product in it.
func Measure(p Preset, img image.Image, alpha *image.Gray) Verdict {
	m := imaging.ToRGBA(img)
	w, h := m.Rect.Dx(), m.Rect.Dy()
	v := Verdict{Marketplace: p.Name}
	sizeOK := w == p.Width && h == p.Height
	v.Checks = append(v.Checks, Check{Name: "size", Passed: sizeOK, Value: b2f(sizeOK), Threshold: 1})
	if p.WhiteBackground {
		white, bg := 0, 0
		near := dilate(alpha, ringBand)
		for y := range h {
			for x := range w {
				if near[y*w+x] {
					continue
				}
				bg++
				o := y*m.Stride + x*4
				if m.Pix[o] == 255 && m.Pix[o+1] == 255 && m.Pix[o+2] == 255 {
					white++
				}
			}
		}
		share := 1.0
		if bg > 0 {
			share = float64(white) / float64(bg)
		}
		v.Checks = append(v.Checks, Check{Name: "background_white", Passed: share >= minWhite, Value: share, Threshold: minWhite})
	}
	if p.MinFill > 0 {
		var f float64
		if box, ok := imaging.Bounds(alpha, 16); ok {
			f = math.Max(float64(box.Dx())/float64(w), float64(box.Dy())/float64(h))
		}
		v.Checks = append(v.Checks, Check{Name: "fill_ratio", Passed: f >= p.MinFill, Value: f, Threshold: p.MinFill})
	}
	v.Passed = true
	for _, c := range v.Checks {
		v.Passed = v.Passed && c.Passed
	}
	return v
}

// dilate marks every pixel within r (in both axes) of a non-zero alpha.
func dilate(alpha *image.Gray, r int) []bool {
	w, h := alpha.Rect.Dx(), alpha.Rect.Dy()
	rows := make([]bool, w*h)
	for y := range h {
		last := -r - 1
		for x := range w {
			if alpha.Pix[y*alpha.Stride+x] != 0 {
				last = x
			}
			rows[y*w+x] = x-last <= r
		}
		last = w + r + 1
		for x := w - 1; x >= 0; x-- {
			if alpha.Pix[y*alpha.Stride+x] != 0 {
				last = x
			}
			rows[y*w+x] = rows[y*w+x] || last-x <= r
		}
	}
	out := make([]bool, w*h)
	for x := range w {
		last := -r - 1
		for y := range h {
			if rows[y*w+x] {
				last = y
			}
			out[y*w+x] = y-last <= r
		}
		last = h + r + 1
		for y := h - 1; y >= 0; y-- {
			if rows[y*w+x] {
				last = y
			}
			out[y*w+x] = out[y*w+x] || last-y <= r
		}
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Prepare fits img to p, encodes it, and measures the encoded result.
func Prepare(p Preset, img *image.RGBA, alpha *image.Gray) ([]byte, string, Verdict, error) {
	fitted, fa, adjusted := Fit(p, img, alpha)
	data, ct, err := Encode(p, fitted)
	if err != nil {
		return nil, "", Verdict{}, err
	}
	decoded, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, "", Verdict{}, fmt.Errorf("decode %s output: %w", p.Name, err)
	}
	v := Measure(p, decoded, fa)
	v.Adjusted = adjusted
	return data, ct, v, nil
}
