package api

import (
	"testing"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
)

func TestPageTokens(t *testing.T) {
	t.Parallel()
	p := newPageTokens([]byte("0123456789abcdef0123456789abcdef"))
	c := &job.Cursor{CreateTime: time.Date(2026, 11, 28, 1, 2, 3, 4, time.UTC), ID: "0193f0aa-0000-7000-8000-000000000001"}
	tok := p.encode("alice", c)
	got, err := p.decode("alice", tok)
	if err != nil || !got.CreateTime.Equal(c.CreateTime) || got.ID != c.ID {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if got, err := p.decode("alice", ""); got != nil || err != nil {
		t.Fatalf("empty token: %+v, %v", got, err)
	}
	other := newPageTokens([]byte("another secret, another key......"))
	for name, bad := range map[string]struct {
		p     pageTokens
		user  string
		token string
	}{
		"other_user":   {p, "bob", tok},
		"other_key":    {other, "alice", tok},
		"tampered":     {p, "alice", "x" + tok},
		"no_signature": {p, "alice", tok[:len(tok)/2]},
		"garbage":      {p, "alice", "!!.!!"},
	} {
		if _, err := bad.p.decode(bad.user, bad.token); apperr.KindOf(err) != apperr.KindInvalid {
			t.Errorf("%s: error %v, want Invalid", name, err)
		}
	}
	if p.encode("alice", nil) != "" {
		t.Error("the last page has a next token")
	}
}

func TestPageSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[int32]int{0: 50, -3: 50, 1: 1, 200: 200, 201: 200} {
		if got := pageSize(in); got != want {
			t.Errorf("pageSize(%d) = %d, want %d", in, got, want)
		}
	}
}
