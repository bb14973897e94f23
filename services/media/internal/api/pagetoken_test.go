package api

import (
	"testing"
	"time"

	"github.com/connectengine/photoshoot/services/media/internal/gallery"
)

func TestPageTokens(t *testing.T) {
	t.Parallel()
	p := newPageTokens([]byte("a service secret of enough length"))
	c := gallery.Cursor{CreateTime: time.UnixMicro(1_700_000_000_123_456).UTC(), ID: "0190b5d6-0000-7000-8000-000000000001"}
	tok := p.encode(c, "u1", gallery.KindUpload)
	got, err := p.decode(tok, "u1", gallery.KindUpload)
	if err != nil || got.ID != c.ID || !got.CreateTime.Equal(c.CreateTime) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for name, c := range map[string]struct {
		tok, user string
		kind      gallery.Kind
	}{
		"other_user":   {tok, "u2", gallery.KindUpload},
		"other_filter": {tok, "u1", gallery.KindUnspecified},
		"edited":       {"x" + tok, "u1", gallery.KindUpload},
		"no_mac":       {tok[:len(tok)-4], "u1", gallery.KindUpload},
		"garbage":      {"not-a-token", "u1", gallery.KindUpload},
		"other_key":    {newPageTokens([]byte("another secret of enough length!!")).encode(c, "u1", gallery.KindUpload), "u1", gallery.KindUpload},
	} {
		if _, err := p.decode(c.tok, c.user, c.kind); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got, err := p.decode("", "u1", gallery.KindUpload); got != nil || err != nil {
		t.Errorf("empty token: %v, %v", got, err)
	}
}
