package job

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// Look is a seller's saved generation settings: everything a job asks for
// except the image and the product lock, so the same Look applied to many
// products gives a catalogue that matches.
type Look struct {
	ID          string
	UserID      string
	Name        string
	SceneID     string
	Prompt      string
	Variants    int
	Aspect      string
	Size        string
	Marketplace string
	Seed        int64
	CreateTime  time.Time
	UpdateTime  time.Time
}

// MaxLookNameLen bounds a Look's name, in characters.
const MaxLookNameLen = 100

// Defaults of a create request and of a new Look, for fields left unset.
const (
	DefaultVariants = 1
	DefaultAspect   = "1:1"
	DefaultSize     = "1K"
)

// The update-mask paths of a Look's settable fields.
const (
	LookPathName        = "name"
	LookPathSceneID     = "scene_id"
	LookPathPrompt      = "prompt"
	LookPathVariants    = "variants"
	LookPathAspect      = "aspect_ratio"
	LookPathSize        = "size"
	LookPathMarketplace = "marketplace"
	LookPathSeed        = "seed"
)

var lookPaths = []string{
	LookPathName, LookPathSceneID, LookPathPrompt, LookPathVariants, LookPathAspect, LookPathSize,
	LookPathMarketplace, LookPathSeed,
}

// outputOnlyLookPaths are ignored in an update mask (AIP-203): a REST client
// that sends the Look it read back gets them derived into the mask.
var outputOnlyLookPaths = map[string]bool{"id": true, "create_time": true, "update_time": true}

// Validate checks l with the rules of a job spec (the image aside) and its
// name, and returns an apperr.Invalid naming every bad field.
func (l *Look) Validate() error {
	var v []apperr.Violation
	err := l.spec(Spec{ImageID: "look", ProductLock: true}).Validate()
	var ae *apperr.Error
	if errors.As(err, &ae) {
		v = ae.Violations()
	} else if err != nil {
		return err
	}
	name := strings.TrimSpace(l.Name)
	switch {
	case name == "":
		v = append(v, apperr.Violation{Field: LookPathName, Description: "required"})
	case !utf8.ValidString(name):
		v = append(v, apperr.Violation{Field: LookPathName, Description: "must be UTF-8"})
	case utf8.RuneCountInString(name) > MaxLookNameLen:
		v = append(v, apperr.Violation{Field: LookPathName, Description: fmt.Sprintf("at most %d characters", MaxLookNameLen)})
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		v = append(v, apperr.Violation{Field: LookPathName, Description: "must not contain control characters"})
	}
	if len(v) > 0 {
		return apperr.Invalid("invalid look", v...)
	}
	return nil
}

// spec is base with l's settings.
func (l *Look) spec(base Spec) Spec {
	base.SceneID, base.Prompt, base.Variants, base.Aspect, base.Size, base.Marketplace, base.Seed =
		l.SceneID, l.Prompt, l.Variants, l.Aspect, l.Size, l.Marketplace, l.Seed
	return base
}

// Apply returns the spec of a job made with l from req, a create request
// whose zero fields are those it left unset. The request's explicit fields
// win, so a seller can reuse a Look with one thing changed:
//
//   - scene and prompt are one choice: a request naming a scene or a prompt
//     replaces both of the Look's, so a Look's scene never runs with another
//     request's prompt;
//   - variants, aspect ratio, size and marketplace each win when set;
//   - the seed is always the Look's (a request has none), so outputs match;
//   - image, product lock and look id are always the request's.
func (l *Look) Apply(req Spec) Spec {
	out := l.spec(req)
	if req.SceneID != "" || req.Prompt != "" {
		out.SceneID, out.Prompt = req.SceneID, req.Prompt
	}
	if req.Variants != 0 {
		out.Variants = req.Variants
	}
	if req.Aspect != "" {
		out.Aspect = req.Aspect
	}
	if req.Size != "" {
		out.Size = req.Size
	}
	if req.Marketplace != "" {
		out.Marketplace = req.Marketplace
	}
	out.LookID = l.ID
	return out
}

// WithDefaults fills the fields a create request left unset: one variant,
// 1:1, 1K.
func (s Spec) WithDefaults() Spec {
	if s.Variants == 0 {
		s.Variants = DefaultVariants
	}
	if s.Aspect == "" {
		s.Aspect = DefaultAspect
	}
	if s.Size == "" {
		s.Size = DefaultSize
	}
	return s
}

// LookRepository is what Looks need of the store. Every method is scoped to
// the caller: another user's Look reads as NotFound.
type LookRepository interface {
	CreateLook(ctx context.Context, l *Look) error
	GetLook(ctx context.Context, userID, id string) (*Look, error)
	UpdateLook(ctx context.Context, userID, id string, fn func(l *Look) error) (*Look, error)
	DeleteLook(ctx context.Context, userID, id string) error
	ListLooks(ctx context.Context, userID string, limit int, after *Cursor) ([]*Look, *Cursor, error)
}

// Looks is the Look use cases, and turns create requests that name a Look
// into job specs.
type Looks struct {
	repo LookRepository
	now  func() time.Time
}

// NewLooks returns the Look service.
func NewLooks(repo LookRepository) *Looks {
	// Postgres keeps microseconds; truncating here makes a created Look
	// equal to the same Look read back.
	return &Looks{repo: repo, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Create saves in as a new Look of userID. Unset variants, aspect and size
// take a create request's defaults.
func (s *Looks) Create(ctx context.Context, userID string, in Look) (*Look, error) {
	d := Spec{Variants: in.Variants, Aspect: in.Aspect, Size: in.Size}.WithDefaults()
	now := s.now()
	l := &in
	l.ID, l.UserID, l.Name = uuid.Must(uuid.NewV7()).String(), userID, strings.TrimSpace(in.Name)
	l.Variants, l.Aspect, l.Size = d.Variants, d.Aspect, d.Size
	l.CreateTime, l.UpdateTime = now, now
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if err := s.repo.CreateLook(ctx, l); err != nil {
		return nil, err
	}
	return l, nil
}

// Get returns the caller's Look.
func (s *Looks) Get(ctx context.Context, userID, id string) (*Look, error) {
	return s.repo.GetLook(ctx, userID, id)
}

// List returns up to limit of the caller's Looks after cursor (nil for the
// first page), newest first, and the next page's cursor (nil at the end).
func (s *Looks) List(ctx context.Context, userID string, limit int, after *Cursor) ([]*Look, *Cursor, error) {
	return s.repo.ListLooks(ctx, userID, limit, after)
}

// Delete removes the caller's Look. Jobs made with it keep their settings
// and its id.
func (s *Looks) Delete(ctx context.Context, userID, id string) error {
	return s.repo.DeleteLook(ctx, userID, id)
}

// Update sets the fields of the caller's Look id that paths name to their
// values in in, and validates the result. "*" names every settable field;
// output-only fields are ignored; an empty or unknown path is Invalid.
func (s *Looks) Update(ctx context.Context, userID, id string, in Look, paths []string) (*Look, error) {
	set, err := lookUpdatePaths(paths)
	if err != nil {
		return nil, err
	}
	return s.repo.UpdateLook(ctx, userID, id, func(l *Look) error {
		for _, p := range set {
			switch p {
			case LookPathName:
				l.Name = strings.TrimSpace(in.Name)
			case LookPathSceneID:
				l.SceneID = in.SceneID
			case LookPathPrompt:
				l.Prompt = in.Prompt
			case LookPathVariants:
				l.Variants = in.Variants
			case LookPathAspect:
				l.Aspect = in.Aspect
			case LookPathSize:
				l.Size = in.Size
			case LookPathMarketplace:
				l.Marketplace = in.Marketplace
			case LookPathSeed:
				l.Seed = in.Seed
			}
		}
		l.UpdateTime = s.now()
		return l.Validate()
	})
}

func lookUpdatePaths(paths []string) ([]string, error) {
	bad := func(d string) error {
		return apperr.Invalid("invalid update mask", apperr.Violation{Field: "update_mask", Description: d})
	}
	var set []string
	for _, p := range paths {
		switch {
		case p == "*":
			set = append(set, lookPaths...)
		case outputOnlyLookPaths[p]:
		case slices.Contains(lookPaths, p):
			set = append(set, p)
		default:
			return nil, bad(fmt.Sprintf("%q cannot be updated", p))
		}
	}
	if len(set) == 0 {
		return nil, bad("name at least one field")
	}
	return set, nil
}

// Resolve turns a create request into a job spec. req's zero fields are
// those the request left unset: with req.LookID the caller's Look fills them
// (see Look.Apply), then the defaults fill the rest. A Look that does not
// exist or belongs to someone else is Invalid on look_id: the request is
// what is wrong, not a resource path.
func (s *Looks) Resolve(ctx context.Context, userID string, req Spec) (Spec, error) {
	if req.LookID != "" {
		l, err := s.repo.GetLook(ctx, userID, req.LookID)
		if apperr.KindOf(err) == apperr.KindNotFound {
			return Spec{}, apperr.Invalid("unknown look", apperr.Violation{Field: "look_id", Description: "no such Look"})
		}
		if err != nil {
			return Spec{}, fmt.Errorf("look %s: %w", req.LookID, err)
		}
		req = l.Apply(req)
	}
	return req.WithDefaults(), nil
}
