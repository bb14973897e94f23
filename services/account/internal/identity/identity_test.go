package identity

import (
	"testing"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

func TestFailureDelay(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		n    int
		want time.Duration
	}{
		"none":          {0, 0},
		"ninth_free":    {9, 0},
		"tenth_waits_1": {10, time.Second},
		"eleventh_2":    {11, 2 * time.Second},
		"fifteenth_32":  {15, 32 * time.Second},
		"capped":        {40, 15 * time.Minute},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := FailureDelay(tc.n, 10); got != tc.want {
				t.Errorf("FailureDelay(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	ok := map[string]string{
		" Ann@Example.COM ": "ann@example.com",
		"a.b+c@shop.co.uk":  "a.b+c@shop.co.uk",
	}
	for in, want := range ok {
		if got, err := NormalizeEmail("email", in); err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ann", "ann@localhost", "Ann <ann@example.com>", "a@b@example.com", string(make([]byte, 300)) + "@example.com"} {
		if _, err := NormalizeEmail("email", in); apperr.KindOf(err) != apperr.KindInvalid {
			t.Errorf("NormalizeEmail(%q) = %v, want invalid", in, err)
		}
	}
}

func TestValidatePath(t *testing.T) {
	t.Parallel()
	in := User{DisplayName: "Ann", Preferences: Preferences{DefaultAspectRatio: "16:9", DefaultSize: "4K", DefaultSceneID: "studio-white"}}
	for _, p := range []string{PathDisplayName, PathPreferences, PathDefaultSceneID, PathDefaultAspectRatio, PathDefaultSize, PathEmailNotifications, PathAnalyticsConsent} {
		if vs := validatePath(p, in); len(vs) != 0 {
			t.Errorf("%s: %v", p, vs)
		}
	}
	bad := map[string]User{
		PathDisplayName:        {DisplayName: "a\x00b"},
		PathDefaultSceneID:     {Preferences: Preferences{DefaultSceneID: "Bad Scene!"}},
		PathDefaultAspectRatio: {Preferences: Preferences{DefaultAspectRatio: "1:7"}},
		PathDefaultSize:        {Preferences: Preferences{DefaultSize: "1k"}},
		"email":                {},
		"state":                {},
	}
	for p, u := range bad {
		if vs := validatePath(p, u); len(vs) == 0 {
			t.Errorf("%s accepted %+v", p, u)
		}
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, b := NewSecret(APIKeyPrefix), NewSecret(APIKeyPrefix)
	if a.Token == b.Token || len(a.Token) != 3+43 || string(a.Hash) != string(HashSecret(a.Token)) || len(a.Hash) != 32 {
		t.Errorf("secrets %q %q", a.Token, b.Token)
	}
}
