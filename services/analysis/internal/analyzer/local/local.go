// Package local is the offline product analyser, in pure Go: it models the
// backdrop from the photo's border in Lab, cuts the product out with a soft
// alpha matte (shadows left out, holes closed, the largest components
// kept), reads its palette by k-means, its bounding box, and writes prompts
// from templates filled with what it measured. It cannot read text or know
// the product's kind, so it says "product" rather than guess.
//
// The segmentation runs at a working resolution of at most WorkSide pixels
// on the longer side and the matte is upsampled with a guided filter, so a
// 12-megapixel photo costs about as much as a thumbnail plus one pass over
// its luma.
package local

import (
	"context"
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
)

// Version is the algorithm version; bump it when results change, so cached
// analyses are redone.
const Version = "seg-1"

// WorkSide is the longest side of the working resolution.
const WorkSide = 400

// Analyzer is the local analyser. The zero value is ready to use.
type Analyzer struct{}

// New returns the local analyser.
func New() *Analyzer { return &Analyzer{} }

// Provider names the local analyser and its algorithm version.
func (*Analyzer) Provider() analyzer.Provider {
	return analyzer.Provider{Name: "local", Version: Version}
}

// Analyze segments and describes the product in img.
func (a *Analyzer) Analyze(ctx context.Context, img image.Image) (analyzer.Result, error) {
	if err := analyzer.CheckImage(img); err != nil {
		return analyzer.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return analyzer.Result{}, fmt.Errorf("analyse: %w", err)
	}
	wk := downscale(img, WorkSide)
	s := segment(wk)
	if err := ctx.Err(); err != nil {
		return analyzer.Result{}, fmt.Errorf("analyse: %w", err)
	}
	mask, bbox := matte(img, wk, s.alpha)
	return describe(img.Bounds(), wk, s, mask, bbox), nil
}

func describe(bd image.Rectangle, wk *work, s *seg, mask *image.Gray, bbox image.Rectangle) analyzer.Result {
	pal, lightness := palette(wk, s)
	r := analyzer.Result{
		Category:   "product",
		Palette:    pal,
		Background: background(s),
		Mask:       mask,
		Box:        bbox,
	}
	r.Title = "Product"
	if len(pal) > 0 {
		r.Title = strings.ToUpper(pal[0].Name[:1]) + pal[0].Name[1:] + " product"
	}
	f := analyzer.Facts{Title: strings.ToLower(r.Title), Category: r.Category, Palette: pal, Lightness: lightness}
	if !bbox.Empty() {
		fg := 0
		for _, v := range s.alpha {
			if v >= 0.5 {
				fg++
			}
		}
		f.Fill = float64(fg) / float64(len(s.alpha))
		f.Aspect = float64(bbox.Dy()) / float64(bbox.Dx())
		r.Attributes = []analyzer.Attribute{
			{Name: "proportions", Value: proportions(f.Aspect)},
			{Name: "frame fill", Value: fmt.Sprintf("%d%%", int(f.Fill*100+0.5))},
		}
	}
	r.Scenes = analyzer.SuggestScenes(f)
	return r
}

func proportions(aspect float64) string {
	switch {
	case aspect > 1.6:
		return "tall"
	case aspect < 0.65:
		return "wide"
	}
	return "compact"
}

// background classifies the backdrop from its fitted model: how far the
// model's colour travels across the frame (a gradient), how far pixels
// stray from it (texture), and its mean colour.
func background(s *seg) analyzer.Background {
	var lo, hi [3]float64
	for i := range lo {
		lo[i], hi[i] = math.Inf(1), math.Inf(-1)
	}
	var sum [3]float64
	const grid = 9
	for gy := range grid {
		for gx := range grid {
			l, a, b := s.model.at(2*float64(gx)/(grid-1)-1, 2*float64(gy)/(grid-1)-1)
			for c, v := range [3]float64{l, a, b} {
				lo[c], hi[c] = min(lo[c], v), max(hi[c], v)
				sum[c] += v
			}
		}
	}
	l, a, b := sum[0]/grid/grid, sum[1]/grid/grid, sum[2]/grid/grid
	span := math.Max(hi[0]-lo[0], math.Hypot(hi[1]-lo[1], hi[2]-lo[2]))
	bg := analyzer.Background{Color: labHex(l, a, b)}
	chroma := math.Hypot(a, b)
	switch {
	case s.residual > 20:
		bg.Kind = analyzer.BackgroundScene
	case s.residual > 9:
		bg.Kind = analyzer.BackgroundTextured
	case span > 14:
		bg.Kind = analyzer.BackgroundGradient
	case chroma > 8:
		bg.Kind = analyzer.BackgroundColored
	case l > 88:
		bg.Kind = analyzer.BackgroundWhite
	default:
		bg.Kind = analyzer.BackgroundGrey
	}
	bg.Uniformity = math.Max(0, math.Min(1, 1-span/60-s.residual/30))
	return bg
}

// labHex converts Lab back to "#rrggbb".
func labHex(l, a, b float64) string {
	fy := (l + 16) / 116
	fx, fz := fy+a/500, fy-b/200
	inv := func(t float64) float64 {
		if t*t*t > 216.0/24389 {
			return t * t * t
		}
		return (116*t - 16) * 27 / 24389
	}
	x, y, z := inv(fx)*0.95047, inv(fy), inv(fz)*1.08883
	rl := 3.2404542*x - 1.5371385*y - 0.4985314*z
	gl := -0.9692660*x + 1.8760108*y + 0.0415560*z
	bl := 0.0556434*x - 0.2040259*y + 1.0572252*z
	return analyzer.Hex(gamma8(rl), gamma8(gl), gamma8(bl))
}

func gamma8(c float64) uint8 {
	c = math.Max(0, math.Min(1, c))
	if c <= 0.0031308 {
		c *= 12.92
	} else {
		c = 1.055*math.Pow(c, 1/2.4) - 0.055
	}
	return uint8(c*255 + 0.5)
}
