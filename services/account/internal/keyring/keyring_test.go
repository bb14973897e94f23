package keyring

import (
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	t.Parallel()
	r, err := New(nil, Options{Issuer: "i", Audience: "a"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// No key: one that signs at once.
	add, drop := r.Plan(nil, t0)
	if add == nil || !add.ActiveFrom.Equal(t0) || len(drop) != 0 {
		t.Fatalf("bootstrap plan = %+v, %v", add, drop)
	}
	k1 := *add
	// A fresh key needs no successor.
	if add, _ := r.Plan([]Key{k1}, t0.Add(time.Hour)); add != nil {
		t.Error("successor planned an hour in")
	}
	// Near the end of its day the successor is published ahead of use.
	now := t0.Add(24*time.Hour - 2*time.Minute)
	add, _ = r.Plan([]Key{k1}, now)
	if add == nil || add.ActiveFrom.Sub(now) != 2*time.Minute || !add.CreateTime.Equal(now) {
		t.Fatalf("rotation plan = %+v", add)
	}
	k2 := *add
	// While k2 is only published, k1 still signs and nothing is dropped.
	if add, drop := r.Plan([]Key{k1, k2}, now.Add(time.Minute)); add != nil || len(drop) != 0 {
		t.Errorf("during publish: %+v %v", add, drop)
	}
	// k1 is kept until its last token expired, then dropped.
	if _, drop := r.Plan([]Key{k1, k2}, k2.ActiveFrom.Add(5*time.Minute)); len(drop) != 0 {
		t.Errorf("dropped %v while its tokens may live", drop)
	}
	if _, drop := r.Plan([]Key{k1, k2}, k2.ActiveFrom.Add(6*time.Minute)); len(drop) != 1 || drop[0] != k1.KID {
		t.Errorf("drop = %v, want %s", drop, k1.KID)
	}
}

func TestNew_rejectsCacheLongerThanLead(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, Options{Issuer: "i", Audience: "a", CacheFor: time.Minute, PublishAhead: time.Minute}); err == nil {
		t.Error("accepted a cache as long as the publish lead")
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("accepted no issuer")
	}
}
