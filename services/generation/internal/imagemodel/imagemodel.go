// Package imagemodel is the port to image providers: given the seller's
// photo, the product mask and a prompt, produce n studio shots at an aspect
// and size. Two implementations pass one contract suite
// (imagemodeltest.RunSuite): Local, the procedural studio renderer, and
// AIML, the AIML API's Nano Banana Pro edit model.
package imagemodel

import (
	"context"
	"errors"
	"fmt"
	"image"

	"github.com/connectengine/photoshoot/services/generation/internal/studio"
)

// Errors a Model returns. The worker retries a job attempt on
// ErrUnavailable and fails the variants on ErrRejected.
var (
	// ErrInvalid is a request the port refuses before calling anyone.
	ErrInvalid = errors.New("invalid image request")
	// ErrUnavailable is a provider outage that outlasted the retry budget
	// (429, 5xx, timeouts, network errors): worth another attempt later.
	ErrUnavailable = errors.New("image provider unavailable")
	// ErrRejected is a provider refusing the request (4xx, unreadable
	// result): another attempt would not help.
	ErrRejected = errors.New("image provider rejected the request")
)

// MaxImages is the most images one request may ask for (a job's variants).
const MaxImages = 4

// Request is one generation call.
type Request struct {
	// Source is the seller's photo.
	Source image.Image
	// Mask is the product's soft alpha, the same size as Source.
	Mask *image.Gray
	// SourceURL is a short-lived signed URL of Source that a remote provider
	// can fetch; when empty, remote providers are sent Source as a data URL.
	SourceURL string
	// Prompt tells an AI provider the scene (the analysis's and the scene's prompt).
	Prompt string
	// SceneID is the scene preset (the local renderer's scene).
	SceneID string
	// Aspect ("4:5") and Size ("2K") fix the output dimensions (studio.Dimensions).
	Aspect, Size string
	// N is how many images to make, 1..MaxImages.
	N int
	// Seed makes the output reproducible where the provider allows it;
	// image i uses Seed+i.
	Seed int64
	// Tag names the job attempt the call is for, for logs and tests.
	Tag string
}

// Validate checks the request and returns its output size.
func (r Request) Validate() (int, int, error) {
	if r.N < 1 || r.N > MaxImages {
		return 0, 0, fmt.Errorf("%w: %d images", ErrInvalid, r.N)
	}
	if r.Source == nil || r.Mask == nil || r.Source.Bounds().Size() != r.Mask.Bounds().Size() {
		return 0, 0, fmt.Errorf("%w: source and mask must be the same size", ErrInvalid)
	}
	if _, ok := studio.Lookup(r.SceneID); !ok {
		return 0, 0, fmt.Errorf("%w: scene %q", ErrInvalid, r.SceneID)
	}
	w, h, err := studio.Dimensions(r.Aspect, r.Size)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return w, h, nil
}

// Image is one generated image.
type Image struct {
	// Image is the picture, at the requested dimensions.
	Image *image.RGBA
	// Product is where the source's product bounding box is in Image, when
	// the provider knows (the local renderer); empty when the product lock
	// has to find it.
	Product image.Rectangle
}

// Model generates studio shots.
type Model interface {
	// Generate makes up to req.N images. It returns fewer only when the
	// provider produced fewer; the caller charges for what it got.
	Generate(ctx context.Context, req Request) ([]Image, error)
	// Name identifies the provider in logs and job records.
	Name() string
}
