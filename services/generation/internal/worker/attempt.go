package worker

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/analysis"
	"github.com/connectengine/photoshoot/services/generation/internal/imagemodel"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/pipeline"
	"github.com/connectengine/photoshoot/services/generation/internal/studio"
)

// Media is what a worker needs of the media service (pkg/mediaclient).
type Media interface {
	Fetch(ctx context.Context, userID, imageID string) (image.Image, error)
	Store(ctx context.Context, meta *mediav1.StoreMetadata, data []byte) (*mediav1.Image, error)
	Sign(ctx context.Context, userID, imageID string, v mediav1.Variant, ttl time.Duration) (string, error)
	Discarder
}

// Analysis is what a worker needs of the analysis service.
type Analysis interface {
	Fetch(ctx context.Context, userID, imageID string) (analysis.Analysis, error)
}

// DefaultScene frames a prompt-only job: the local renderer needs a
// scene, and a clean white sweep suits any custom prompt's product.
const DefaultScene = "studio-white"

// callTimeout bounds one call to media or analysis; the image model's own
// timeouts and retry budget live in its implementation.
const callTimeout = time.Minute

// attempt runs the pipeline for j and stores every produced image. An error
// fails the attempt as a whole; per-variant failures are in the outputs.
func (w *Worker) attempt(ctx context.Context, j *job.Job) ([]job.Output, error) {
	src, err := call(ctx, func(ctx context.Context) (image.Image, error) { return w.media.Fetch(ctx, j.UserID, j.Spec.ImageID) })
	if err != nil {
		return nil, fmt.Errorf("fetch source: %w", err)
	}
	an, err := call(ctx, func(ctx context.Context) (analysis.Analysis, error) {
		return w.analysis.Fetch(ctx, j.UserID, j.Spec.ImageID)
	})
	if err != nil {
		return nil, fmt.Errorf("fetch analysis: %w", err)
	}
	maskImg, err := call(ctx, func(ctx context.Context) (image.Image, error) { return w.media.Fetch(ctx, j.UserID, an.MaskImageID) })
	if err != nil {
		return nil, fmt.Errorf("fetch mask: %w", err)
	}
	spec := pipeline.Spec{
		SceneID: j.Spec.SceneID, Prompt: prompt(j.Spec, an), Aspect: j.Spec.Aspect, Size: j.Spec.Size,
		Variants: j.Spec.Variants, Seed: j.Spec.Seed, ProductLock: j.Spec.ProductLock, Marketplace: j.Spec.Marketplace,
		Tag: fmt.Sprintf("%s/%d", j.ID, j.Attempts),
	}
	if spec.SceneID == "" {
		spec.SceneID = DefaultScene
	}
	if w.cfg.SignSourceURLs {
		spec.SourceURL, err = call(ctx, func(ctx context.Context) (string, error) {
			return w.media.Sign(ctx, j.UserID, j.Spec.ImageID, mediav1.Variant_VARIANT_ORIGINAL, w.cfg.SourceURLTTL)
		})
		if err != nil {
			return nil, fmt.Errorf("sign source url: %w", err)
		}
	}
	results, err := w.pipe.Run(ctx, src, grayTo(maskImg, src.Bounds()), spec)
	if err != nil {
		return nil, err
	}
	outs := make([]job.Output, len(results))
	for i, r := range results {
		o := job.Output{Index: r.Index, State: job.OutputFailed, Fidelity: r.Fidelity, Flagged: r.Flagged, Compliance: r.Compliance}
		if r.Err != nil {
			o.Error = variantError(r.Err)
			outs[i] = o
			continue
		}
		img, err := call(ctx, func(ctx context.Context) (*mediav1.Image, error) {
			return w.media.Store(ctx, &mediav1.StoreMetadata{
				UserId: j.UserID, Kind: mediav1.ImageKind_IMAGE_KIND_GENERATED, ParentImageId: j.Spec.ImageID,
				JobId: j.ID, Composite: r.Composite, FileName: fileName(j, r),
			}, r.Data)
		})
		if err != nil {
			return nil, fmt.Errorf("store output %d: %w", r.Index, err)
		}
		o.State, o.ImageID = job.OutputSucceeded, img.GetId()
		outs[i] = o
	}
	return outs, nil
}

// call runs one downstream call under its own timeout.
func call[T any](ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return fn(ctx)
}

// prompt is what an AI model is told: the seller's own prompt with the
// analysis's constraints, else the analysis's ready prompt for the scene,
// else the scene's own description.
func prompt(s job.Spec, an analysis.Analysis) string {
	if s.Prompt != "" {
		return analysis.WithConstraints(s.Prompt, an.Constraints)
	}
	scene := s.SceneID
	if scene == "" {
		scene = DefaultScene
	}
	if p := an.Prompts[scene]; p != "" {
		return p
	}
	sc, _ := studio.Lookup(scene)
	return analysis.WithConstraints(sc.Prompt, an.Constraints)
}

func fileName(j *job.Job, r pipeline.Output) string {
	ext := ".jpg"
	if r.ContentType == "image/png" {
		ext = ".png"
	}
	scene := j.Spec.SceneID
	if scene == "" {
		scene = "custom"
	}
	return fmt.Sprintf("photoshoot-%s-%s-%d%s", scene, j.ID[:8], r.Index+1, ext)
}

// variantError is the seller-facing reason a variant failed.
func variantError(err error) string {
	switch {
	case errors.Is(err, pipeline.ErrFewerImages):
		return "the image model returned fewer images than asked"
	default:
		return "this variant could not be made: " + err.Error()
	}
}

// classify names a failed attempt's cause and says whether another attempt
// may succeed.
func classify(err error) (class string, retry bool) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", true
	case errors.Is(err, imagemodel.ErrUnavailable):
		return "provider_unavailable", true
	case errors.Is(err, imagemodel.ErrRejected):
		return "provider_rejected", false
	case errors.Is(err, imagemodel.ErrInvalid):
		return "invalid_request", false
	}
	switch apperr.KindOf(err) {
	case apperr.KindNotFound:
		return "source_missing", false
	case apperr.KindInvalid, apperr.KindPrecondition:
		return "source_unusable", false
	case apperr.KindUnavailable, apperr.KindAborted, apperr.KindTooMany:
		return "dependency_unavailable", true
	case apperr.KindDeadline:
		return "timeout", true
	}
	return "internal", true
}

// grayTo returns m as an 8-bit mask with bounds b: the analysis mask is
// made at the source's full size, so this is a conversion, and a
// nearest-neighbour resample only if an older mask differs in size.
func grayTo(m image.Image, b image.Rectangle) *image.Gray {
	if g, ok := m.(*image.Gray); ok && g.Bounds() == b {
		return g
	}
	out := image.NewGray(b)
	mb := m.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		sy := mb.Min.Y + (y-b.Min.Y)*mb.Dy()/b.Dy()
		for x := b.Min.X; x < b.Max.X; x++ {
			sx := mb.Min.X + (x-b.Min.X)*mb.Dx()/b.Dx()
			r, g, bl, _ := m.At(sx, sy).RGBA()
			out.Pix[(y-b.Min.Y)*out.Stride+(x-b.Min.X)] = uint8((19595*r + 38470*g + 7471*bl + 1<<15) >> 24)
		}
	}
	return out
}
