// Package analysis is the analysis service's domain: one analysis per image
// and provider version, made on demand or when an upload arrives, cached,
// announced with analysis.completed, exported and purged with the user.
package analysis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
)

// State is where an analysis is.
type State int

// States. An analysis is stored only once it has an outcome; a provider
// outage stores nothing and is retried.
const (
	StateSucceeded State = iota + 1
	StateFailed
)

// Analysis is a stored analysis. Result.Mask is nil once stored: the mask
// lives in media as MaskImageID.
type Analysis struct {
	ID          string
	UserID      string
	ImageID     string
	Provider    analyzer.Provider
	State       State
	Result      analyzer.Result
	MaskImageID string
	// Error says why a failed analysis failed, for the user.
	Error      string
	CreateTime time.Time
}

// ErrNotFound is what a Store returns for a missing row (or another
// user's).
var ErrNotFound = errors.New("analysis not found")

// Store keeps analyses; every method is scoped to the user.
type Store interface {
	// Find returns the user's analysis of the image by the provider
	// version, or ErrNotFound.
	Find(ctx context.Context, userID, imageID string, p analyzer.Provider) (Analysis, error)
	// Latest returns the newest analysis of the image by any provider.
	Latest(ctx context.Context, userID, imageID string) (Analysis, error)
	// Save upserts the analysis (one per image and provider version) and
	// appends the events to the outbox in the same transaction.
	Save(ctx context.Context, a Analysis, evs ...events.Event) error
	// ListUser returns every analysis of the user, oldest first.
	ListUser(ctx context.Context, userID string) ([]Analysis, error)
	// Lock waits until no one else analyses the image by provider p, and
	// holds that turn until unlock is called; the turn's reads and writes
	// go through locked.
	Lock(ctx context.Context, userID, imageID string, p analyzer.Provider) (locked Store, unlock func(), err error)
}

// Media is the media service as analysis uses it.
type Media interface {
	// Fetch returns the decoded original of the user's image.
	Fetch(ctx context.Context, userID, imageID string) (image.Image, error)
	// StoreMask stores a mask PNG as a MASK image whose parent is imageID
	// and returns its id.
	StoreMask(ctx context.Context, userID, imageID string, png []byte) (string, error)
}

// Service runs analyses.
type Service struct {
	store    Store
	media    Media
	analyzer analyzer.Analyzer
	logger   *slog.Logger
	now      func() time.Time
}

// NewService wires the domain.
func NewService(st Store, m Media, a analyzer.Analyzer, logger *slog.Logger) *Service {
	return &Service{store: st, media: m, analyzer: a, logger: logger, now: time.Now}
}

// Provider is the analyser in use.
func (s *Service) Provider() analyzer.Provider { return s.analyzer.Provider() }

// Analyze returns the image's analysis by the current provider version,
// analysing it first when there is none. A failed analysis is returned (and
// kept) as such; asking again retries it.
func (s *Service) Analyze(ctx context.Context, userID, imageID string) (Analysis, error) {
	if imageID == "" {
		return Analysis{}, apperr.Invalid("image_id is required", apperr.Violation{Field: "image_id", Description: "required"})
	}
	p := s.analyzer.Provider()
	if a, done, err := find(ctx, s.store, userID, imageID, p); done || err != nil {
		return a, err
	}
	// The upload's consumer and the user's own request (the studio asks as
	// soon as the upload is done) often come together: one analyses, the
	// other waits for its result. Otherwise both would run the provider
	// (a paid call, with Claude) and store a mask each, the first of them
	// orphaned when the second analysis replaced it.
	st, unlock, err := s.store.Lock(ctx, userID, imageID, p)
	if err != nil {
		return Analysis{}, err
	}
	defer unlock()
	if a, done, err := find(ctx, st, userID, imageID, p); done || err != nil {
		return a, err
	}
	img, err := s.media.Fetch(ctx, userID, imageID)
	if err != nil {
		return Analysis{}, fmt.Errorf("fetch image %s: %w", imageID, err)
	}
	a := Analysis{
		ID:         uuid.Must(uuid.NewV7()).String(),
		UserID:     userID,
		ImageID:    imageID,
		Provider:   p,
		CreateTime: s.now().UTC(),
	}
	res, err := s.analyzer.Analyze(ctx, img)
	switch {
	case errors.Is(err, analyzer.ErrUnavailable):
		return Analysis{}, apperr.Unavailable("the analysis provider is unavailable; try again shortly", err)
	case ctx.Err() != nil:
		return Analysis{}, fmt.Errorf("analyse image %s: %w", imageID, ctx.Err())
	case errors.Is(err, analyzer.ErrInvalidImage):
		a.State, a.Error = StateFailed, "the image cannot be analysed (too small or unreadable)"
	case err != nil:
		s.logger.WarnContext(ctx, "analysis failed", "image_id", imageID, "provider", p.Name, "error", err)
		a.State, a.Error = StateFailed, "the analysis provider returned no usable analysis"
	default:
		a.State, a.Result = StateSucceeded, res
		var buf bytes.Buffer
		if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, res.Mask); err != nil {
			return Analysis{}, fmt.Errorf("encode mask: %w", err)
		}
		if a.MaskImageID, err = s.media.StoreMask(ctx, userID, imageID, buf.Bytes()); err != nil {
			return Analysis{}, fmt.Errorf("store mask of %s: %w", imageID, err)
		}
		a.Result.Mask = nil
		if u := res.Usage; u.RequestID != "" {
			s.logger.InfoContext(ctx, "analysis provider usage", "image_id", imageID, "request_id", u.RequestID,
				"input_tokens", u.InputTokens, "output_tokens", u.OutputTokens, "attempts", u.Attempts)
		}
	}
	ev := events.NewEvent(events.SubjectAnalysisCompleted, &eventsv1.AnalysisCompleted{
		AnalysisId: a.ID, ImageId: imageID, UserId: userID, Succeeded: a.State == StateSucceeded,
	})
	if err := st.Save(ctx, a, ev); err != nil {
		return Analysis{}, err
	}
	return a, nil
}

// Forget runs del, which deletes the image's analyses, once no analysis of
// the image by the current provider is running: one that finished after
// the deletion would store an analysis (and mask) of an image that is gone.
func (s *Service) Forget(ctx context.Context, userID, imageID string, del func() error) error {
	_, unlock, err := s.store.Lock(ctx, userID, imageID, s.analyzer.Provider())
	if err != nil {
		return err
	}
	defer unlock()
	return del()
}

// find returns the stored successful analysis by p in st, done, when
// there is one; a failed one is analysed again.
func find(ctx context.Context, st Store, userID, imageID string, p analyzer.Provider) (Analysis, bool, error) {
	a, err := st.Find(ctx, userID, imageID, p)
	switch {
	case err == nil && a.State == StateSucceeded:
		return a, true, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return Analysis{}, false, err
	}
	return Analysis{}, false, nil
}

// Get returns the image's analysis: the current provider version's when
// there is one, else the newest.
func (s *Service) Get(ctx context.Context, userID, imageID string) (Analysis, error) {
	if imageID == "" {
		return Analysis{}, apperr.Invalid("image_id is required", apperr.Violation{Field: "image_id", Description: "required"})
	}
	a, err := s.store.Find(ctx, userID, imageID, s.analyzer.Provider())
	if errors.Is(err, ErrNotFound) {
		a, err = s.store.Latest(ctx, userID, imageID)
	}
	if errors.Is(err, ErrNotFound) {
		return Analysis{}, apperr.NotFound("image %s has no analysis", imageID)
	}
	return a, err
}

// Export returns everything analysis holds about the user.
func (s *Service) Export(ctx context.Context, userID string) ([]Analysis, error) {
	if userID == "" {
		return nil, apperr.Invalid("user_id is required", apperr.Violation{Field: "user_id", Description: "required"})
	}
	return s.store.ListUser(ctx, userID)
}
