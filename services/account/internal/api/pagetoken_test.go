package api

import (
	"testing"
	"time"

	"github.com/connectengine/photoshoot/services/account/internal/identity"
)

func TestPageToken(t *testing.T) {
	t.Parallel()
	p := pageCodec{key: []byte("k")}
	c := identity.Cursor{Time: time.Unix(1700000000, 123456000), ID: "0190c0de-0000-7000-8000-000000000001"}
	tok := p.encode("sessions", "u1", c)
	got, err := p.decode("sessions", "u1", tok)
	if err != nil || !got.Time.Equal(c.Time) || got.ID != c.ID {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	for name, bad := range map[string]struct{ list, user, tok string }{
		"other_list": {"api_keys", "u1", tok},
		"other_user": {"sessions", "u2", tok},
		"tampered":   {"sessions", "u1", "x" + tok},
		"other_key":  {"sessions", "u1", pageCodec{key: []byte("j")}.encode("sessions", "u1", c)},
		"no_mac":     {"sessions", "u1", "abc"},
	} {
		if _, err := p.decode(bad.list, bad.user, bad.tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got, err := p.decode("sessions", "u1", ""); got != nil || err != nil {
		t.Errorf("empty token = %v, %v", got, err)
	}
}
