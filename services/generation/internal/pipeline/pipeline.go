// Package pipeline turns one job attempt into finished outputs: it asks the
// image model for the variants, finds the product in each, scores its
// fidelity (re-asking once for an AI output under the threshold, then
// flagging it), locks the real product pixels back in, fits and checks the
// marketplace preset, and encodes the result. It holds no state and touches
// no database or network besides the model, so the worker calls it outside
// any transaction.
package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/connectengine/photoshoot/services/generation/internal/imagemodel"
	"github.com/connectengine/photoshoot/services/generation/internal/lock"
	"github.com/connectengine/photoshoot/services/generation/internal/market"
	"github.com/connectengine/photoshoot/services/generation/internal/studio"
)

// ErrFewerImages marks a variant the provider did not return.
var ErrFewerImages = errors.New("provider returned fewer images than asked")

// Spec is what a job asks for.
type Spec struct {
	// SceneID and Prompt describe the scene; Aspect and Size the frame.
	SceneID, Prompt, Aspect, Size string
	// Variants is the number of images (1..4).
	Variants int
	// Seed makes the local renderer reproducible; variant i uses Seed+i.
	Seed int64
	// ProductLock composites the source's product back over each output.
	ProductLock bool
	// Marketplace is a market preset name, or empty.
	Marketplace string
	// SourceURL is a signed URL of the source for remote providers.
	SourceURL string
	// Tag names the job attempt (imagemodel.Request.Tag).
	Tag string
}

// Output is one produced (or failed) variant.
type Output struct {
	// Index is the variant's 0-based index.
	Index int
	// Data is the encoded image and ContentType its type.
	Data        []byte
	ContentType string
	// Fidelity is the SSIM of the provider's product region against the
	// source (before the lock); Flagged says it stayed under the threshold.
	Fidelity float64
	Flagged  bool
	// Composite says the product lock composited the source's pixels in.
	Composite bool
	// Compliance is the marketplace verdict, when a preset was asked for.
	Compliance *market.Verdict
	// Err is why the variant failed; nil when it was produced.
	Err error
}

// Pipeline runs attempts against one image model.
type Pipeline struct {
	model     imagemodel.Model
	threshold float64
}

// New returns a pipeline over model that flags fidelity under threshold
// (lock.DefaultThreshold when 0).
func New(model imagemodel.Model, threshold float64) *Pipeline {
	if threshold <= 0 {
		threshold = lock.DefaultThreshold
	}
	return &Pipeline{model: model, threshold: threshold}
}

// Run produces spec.Variants outputs from the source and its mask. An error
// means the attempt failed as a whole (the model was unavailable or refused
// the request); per-variant failures are in the outputs.
func (p *Pipeline) Run(ctx context.Context, src image.Image, mask *image.Gray, spec Spec) ([]Output, error) {
	req := imagemodel.Request{
		Source: src, Mask: mask, SourceURL: spec.SourceURL, Prompt: spec.Prompt, SceneID: spec.SceneID,
		Aspect: spec.Aspect, Size: spec.Size, N: spec.Variants, Seed: spec.Seed, Tag: spec.Tag,
	}
	var preset *market.Preset
	if spec.Marketplace != "" {
		pr, ok := market.Lookup(spec.Marketplace)
		if !ok {
			return nil, fmt.Errorf("%w: marketplace %q", imagemodel.ErrInvalid, spec.Marketplace)
		}
		preset = &pr
	}
	w, h, err := req.Validate()
	if err != nil {
		return nil, err
	}
	imgs, err := p.model.Generate(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	scene, _ := studio.Lookup(spec.SceneID)
	box, _ := studio.ProductBox(mask)
	guess := studio.Placement(scene, box, w, h)

	out := make([]Output, spec.Variants)
	for i := range out {
		out[i].Index = i
		if i >= len(imgs) {
			out[i].Err = ErrFewerImages
			continue
		}
		img, at, fid, err := p.score(imgs[i], src, mask, guess)
		if err == nil && fid < p.threshold && imgs[i].Product.Empty() {
			// An AI output that redrew the product: ask once more for this
			// variant and keep the better of the two.
			retry := req
			retry.N, retry.Seed = 1, spec.Seed+int64(spec.Variants+i)
			if again, rerr := p.model.Generate(ctx, retry); rerr == nil && len(again) == 1 {
				if img2, at2, fid2, err2 := p.score(again[0], src, mask, guess); err2 == nil && fid2 > fid {
					img, at, fid = img2, at2, fid2
				}
			}
		}
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Fidelity, out[i].Flagged = fid, fid < p.threshold
		if err := finish(&out[i], img, src, mask, at, spec.ProductLock, preset); err != nil {
			out[i].Err = err
		}
	}
	return out, nil
}

// score finds the product in a model's image and measures its fidelity.
func (p *Pipeline) score(img imagemodel.Image, src image.Image, mask *image.Gray, guess image.Rectangle) (*image.RGBA, image.Rectangle, float64, error) {
	at := img.Product
	if at.Empty() {
		var err error
		if at, err = lock.Find(img.Image, src, mask, guess); err != nil {
			return nil, image.Rectangle{}, 0, fmt.Errorf("find product: %w", err)
		}
	}
	return img.Image, at, lock.Fidelity(img.Image, src, mask, at), nil
}

// finish locks, fits, checks and encodes one output. The lock runs even
// with product lock off: its alpha tells the marketplace checker where the
// product is.
func finish(o *Output, img *image.RGBA, src image.Image, mask *image.Gray, at image.Rectangle, productLock bool, preset *market.Preset) error {
	locked, err := lock.Apply(img, src, mask, at)
	if err != nil {
		return fmt.Errorf("product lock: %w", err)
	}
	final := img
	if productLock {
		final, o.Composite = locked.Image, true
	}
	if preset != nil {
		data, ct, v, err := market.Prepare(*preset, final, locked.Alpha)
		if err != nil {
			return fmt.Errorf("marketplace %s: %w", preset.Name, err)
		}
		o.Data, o.ContentType, o.Compliance = data, ct, &v
		return nil
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, final, &jpeg.Options{Quality: 92}); err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	o.Data, o.ContentType = buf.Bytes(), "image/jpeg"
	return nil
}
