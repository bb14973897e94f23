package identity

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// AspectRatios are the ratios the studio (and the image model) offers.
var AspectRatios = []string{"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}

// Sizes are the output sizes the studio offers.
var Sizes = []string{"1K", "2K", "4K"}

const maxDisplayName = 100

var sceneID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Update paths UpdateProfile accepts (proto field paths of User).
const (
	PathDisplayName        = "display_name"
	PathPreferences        = "preferences"
	PathDefaultSceneID     = "preferences.default_scene_id"
	PathDefaultAspectRatio = "preferences.default_aspect_ratio"
	PathDefaultSize        = "preferences.default_size"
	PathEmailNotifications = "preferences.email_notifications"
	PathAnalyticsConsent   = "preferences.analytics_consent"
)

// Profile is the user's own view of themselves.
func (s *Service) Profile(ctx context.Context, userID string) (User, error) {
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return User{}, err
	}
	return s.withAdmin(u), nil
}

// UpdateProfile copies the fields named by paths from in to the user,
// after validating every one of them; the violations name the proto field.
func (s *Service) UpdateProfile(ctx context.Context, userID string, in User, paths []string) (User, error) {
	if len(paths) == 0 {
		return User{}, apperr.Invalid("nothing to update", apperr.Violation{Field: "update_mask", Description: "name at least one field"})
	}
	var vs []apperr.Violation
	for _, p := range paths {
		vs = append(vs, validatePath(p, in)...)
	}
	if len(vs) > 0 {
		return User{}, apperr.Invalid("invalid profile", vs...)
	}
	u, err := s.store.UpdateUser(ctx, userID, func(u *User) error {
		if u.State != StateActive {
			return ErrAccountDeleting
		}
		for _, p := range paths {
			apply(u, in, p)
		}
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("update profile of %s: %w", userID, err)
	}
	return s.withAdmin(u), nil
}

func validatePath(p string, in User) []apperr.Violation {
	v := func(field, d string) []apperr.Violation {
		return []apperr.Violation{{Field: "user." + field, Description: d}}
	}
	pr := in.Preferences
	switch p {
	case PathDisplayName:
		name := in.DisplayName
		switch {
		case !utf8.ValidString(name):
			return v(p, "must be UTF-8")
		case utf8.RuneCountInString(name) > maxDisplayName:
			return v(p, fmt.Sprintf("at most %d characters", maxDisplayName))
		case strings.IndexFunc(name, unicode.IsControl) >= 0:
			return v(p, "must not contain control characters")
		}
	case PathPreferences:
		var out []apperr.Violation
		for _, sub := range []string{PathDefaultSceneID, PathDefaultAspectRatio, PathDefaultSize} {
			out = append(out, validatePath(sub, in)...)
		}
		return out
	case PathDefaultSceneID:
		if pr.DefaultSceneID != "" && !sceneID.MatchString(pr.DefaultSceneID) {
			return v(p, "must be a scene id (lower-case letters, digits, - and _), or empty")
		}
	case PathDefaultAspectRatio:
		if !slices.Contains(AspectRatios, pr.DefaultAspectRatio) {
			return v(p, "must be one of "+strings.Join(AspectRatios, ", "))
		}
	case PathDefaultSize:
		if !slices.Contains(Sizes, pr.DefaultSize) {
			return v(p, "must be one of "+strings.Join(Sizes, ", "))
		}
	case PathEmailNotifications, PathAnalyticsConsent:
	default:
		return []apperr.Violation{{Field: "update_mask", Description: fmt.Sprintf("%q cannot be updated", p)}}
	}
	return nil
}

func apply(u *User, in User, p string) {
	switch p {
	case PathDisplayName:
		u.DisplayName = strings.TrimSpace(in.DisplayName)
	case PathPreferences:
		u.Preferences = in.Preferences
	case PathDefaultSceneID:
		u.Preferences.DefaultSceneID = in.Preferences.DefaultSceneID
	case PathDefaultAspectRatio:
		u.Preferences.DefaultAspectRatio = in.Preferences.DefaultAspectRatio
	case PathDefaultSize:
		u.Preferences.DefaultSize = in.Preferences.DefaultSize
	case PathEmailNotifications:
		u.Preferences.EmailNotifications = in.Preferences.EmailNotifications
	case PathAnalyticsConsent:
		u.Preferences.AnalyticsConsent = in.Preferences.AnalyticsConsent
	}
}
