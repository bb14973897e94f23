package imagemodel

import (
	"context"
	"fmt"

	"github.com/connectengine/photoshoot/services/generation/internal/studio"
)

// Local is the procedural studio renderer behind the port: deterministic,
// free, and the default when no AI provider is configured.
type Local struct{}

// NewLocal returns the local renderer.
func NewLocal() *Local { return &Local{} }

// Name implements Model.
func (*Local) Name() string { return "local" }

// Generate renders req.N variants of the scene, seeds Seed, Seed+1, ….
func (*Local) Generate(ctx context.Context, req Request) ([]Image, error) {
	w, h, err := req.Validate()
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, req.N)
	for i := range req.N {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("render variant %d: %w", i, err)
		}
		r, err := studio.Render(studio.Request{
			Source: req.Source, Mask: req.Mask, SceneID: req.SceneID, Width: w, Height: h, Seed: req.Seed + int64(i),
		})
		if err != nil {
			return nil, fmt.Errorf("%w: render variant %d: %w", ErrInvalid, i, err)
		}
		out = append(out, Image{Image: r.Image, Product: r.Product})
	}
	return out, nil
}
