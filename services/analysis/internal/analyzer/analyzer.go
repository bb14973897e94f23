// Package analyzer is the product-analysis port: what the product in a photo
// is (title, category, materials, attributes, colours, text), where it is (a
// soft foreground mask and its bounding box), what the backdrop is, and which
// scenes suit it, with ready prompts. Two real providers implement it: the
// local analyser (pure Go, offline) and Claude; both pass analyzertest.RunSuite.
package analyzer

import (
	"context"
	"errors"
	"fmt"
	"image"
	"regexp"
)

// Analyzer analyses one product photo.
type Analyzer interface {
	// Provider names the implementation and its version; an analysis is
	// cached per image and provider version, so a new model or algorithm
	// version analyses again.
	Provider() Provider
	// Analyze describes the product in img. The mask in the result has
	// img's bounds. Errors wrap ErrInvalidImage for images no provider can
	// use and ErrUnavailable for provider outages worth retrying later.
	Analyze(ctx context.Context, img image.Image) (Result, error)
}

// Provider identifies an analyser implementation.
type Provider struct {
	// Name is "local" or "claude".
	Name string
	// Version is the algorithm or model version, e.g. "seg-1" or the model id.
	Version string
}

// Errors providers wrap, so callers can tell a bad input from an outage.
var (
	ErrInvalidImage = errors.New("invalid image")
	ErrUnavailable  = errors.New("analysis provider unavailable")
)

// Result is what a provider found.
type Result struct {
	Title      string
	Category   string
	Materials  []string
	Attributes []Attribute
	// Palette is the product's colours, most prominent first.
	Palette []Color
	// Texts are strings printed on the product, spelled exactly.
	Texts      []Text
	Background Background
	// Mask is a soft alpha matte with the input's bounds: 255 is product,
	// 0 backdrop, values between are feathered edges.
	Mask *image.Gray
	// Box is the product's bounding box in input pixels.
	Box image.Rectangle
	// Scenes suit the product, best first.
	Scenes []ScenePrompt
	// Usage records what a remote call cost; zero for the local analyser.
	Usage Usage
}

// Attribute is a key attribute, e.g. capacity = 500 ml.
type Attribute struct {
	Name, Value string
}

// Color is one palette entry.
type Color struct {
	// Hex is "#rrggbb".
	Hex string
	// Name is the nearest common colour name.
	Name string
	// Share is the fraction of the product's pixels, 0..1.
	Share float64
}

// TextKind tells label text from a logo.
type TextKind int

// Text kinds.
const (
	TextLabel TextKind = iota + 1
	TextLogo
)

// Text is a string or logo on the product.
type Text struct {
	Text string
	Kind TextKind
}

// BackgroundKind classifies the backdrop.
type BackgroundKind int

// Backdrop kinds, matching the public API's BackgroundKind.
const (
	BackgroundWhite BackgroundKind = iota + 1
	BackgroundGrey
	BackgroundColored
	BackgroundGradient
	BackgroundTextured
	BackgroundScene
)

// String names the kind for logs and reports.
func (k BackgroundKind) String() string {
	switch k {
	case BackgroundWhite:
		return "white"
	case BackgroundGrey:
		return "grey"
	case BackgroundColored:
		return "colored"
	case BackgroundGradient:
		return "gradient"
	case BackgroundTextured:
		return "textured"
	case BackgroundScene:
		return "scene"
	}
	return "unspecified"
}

// Background describes the backdrop.
type Background struct {
	Kind BackgroundKind
	// Color is the dominant backdrop colour, "#rrggbb".
	Color string
	// Uniformity is 0 (busy) .. 1 (perfectly even).
	Uniformity float64
}

// ScenePrompt is a ready prompt for one scene preset.
type ScenePrompt struct {
	SceneID     string
	Prompt      string
	Constraints []string
}

// Usage is what a remote provider call cost and how to find it in the
// provider's logs.
type Usage struct {
	RequestID    string
	InputTokens  int64
	OutputTokens int64
	// Attempts counts the HTTP attempts, retries included.
	Attempts int
}

var hexColor = regexp.MustCompile(`^#[0-9a-f]{6}$`)

// Validate checks a result against the invariants every provider promises
// for an input with bounds b. The service stores nothing that fails it.
func (r Result) Validate(b image.Rectangle) error {
	var errs []error
	if r.Title == "" {
		errs = append(errs, errors.New("empty title"))
	}
	if r.Category == "" {
		errs = append(errs, errors.New("empty category"))
	}
	if r.Mask == nil || r.Mask.Rect != b {
		errs = append(errs, fmt.Errorf("mask bounds differ from the image's %v", b))
	}
	if !r.Box.Empty() && !r.Box.In(b) {
		errs = append(errs, fmt.Errorf("bounding box %v outside the image %v", r.Box, b))
	}
	share := 0.0
	for _, c := range r.Palette {
		if !hexColor.MatchString(c.Hex) {
			errs = append(errs, fmt.Errorf("palette colour %q is not #rrggbb", c.Hex))
		}
		if c.Share < 0 || c.Share > 1 {
			errs = append(errs, fmt.Errorf("palette share %v outside 0..1", c.Share))
		}
		share += c.Share
	}
	if share > 1.001 {
		errs = append(errs, fmt.Errorf("palette shares sum to %.3f", share))
	}
	if r.Background.Kind < BackgroundWhite || r.Background.Kind > BackgroundScene {
		errs = append(errs, fmt.Errorf("background kind %d unknown", r.Background.Kind))
	}
	if !hexColor.MatchString(r.Background.Color) {
		errs = append(errs, fmt.Errorf("background colour %q is not #rrggbb", r.Background.Color))
	}
	if r.Background.Uniformity < 0 || r.Background.Uniformity > 1 {
		errs = append(errs, fmt.Errorf("background uniformity %v outside 0..1", r.Background.Uniformity))
	}
	for _, t := range r.Texts {
		if t.Text == "" || (t.Kind != TextLabel && t.Kind != TextLogo) {
			errs = append(errs, fmt.Errorf("text %q of kind %d", t.Text, t.Kind))
		}
	}
	if len(r.Scenes) == 0 {
		errs = append(errs, errors.New("no suggested scenes"))
	}
	for _, s := range r.Scenes {
		if !IsScene(s.SceneID) {
			errs = append(errs, fmt.Errorf("unknown scene %q", s.SceneID))
		}
		if s.Prompt == "" {
			errs = append(errs, fmt.Errorf("scene %q has no prompt", s.SceneID))
		}
	}
	return errors.Join(errs...)
}

// CheckImage rejects images no provider can analyse.
func CheckImage(img image.Image) error {
	if img == nil {
		return fmt.Errorf("%w: no image", ErrInvalidImage)
	}
	b := img.Bounds()
	if b.Dx() < MinSide || b.Dy() < MinSide {
		return fmt.Errorf("%w: %dx%d is smaller than %dx%d", ErrInvalidImage, b.Dx(), b.Dy(), MinSide, MinSide)
	}
	return nil
}

// MinSide is the smallest width or height worth analysing: below it there is
// no backdrop border to learn from.
const MinSide = 32
