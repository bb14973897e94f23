package job

import (
	"errors"
	"testing"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func validSpec() Spec {
	return Spec{ImageID: "img", SceneID: "marble", Variants: 3, Aspect: "4:5", Size: "2K", ProductLock: true}
}

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate func(*Spec)
		field  string
	}{
		"valid":           {func(*Spec) {}, ""},
		"prompt_only":     {func(s *Spec) { s.SceneID, s.Prompt = "", "on a beach" }, ""},
		"no_image":        {func(s *Spec) { s.ImageID = "" }, "image_id"},
		"no_scene":        {func(s *Spec) { s.SceneID = "" }, "scene_id"},
		"unknown_scene":   {func(s *Spec) { s.SceneID = "moon" }, "scene_id"},
		"zero_variants":   {func(s *Spec) { s.Variants = 0 }, "variants"},
		"five_variants":   {func(s *Spec) { s.Variants = 5 }, "variants"},
		"bad_aspect":      {func(s *Spec) { s.Aspect = "5:4" }, "aspect_ratio"},
		"bad_size":        {func(s *Spec) { s.Size = "8K" }, "size"},
		"bad_marketplace": {func(s *Spec) { s.Marketplace = "myspace" }, "marketplace"},
		"amazon":          {func(s *Spec) { s.Marketplace = "amazon" }, ""},
		"prompt_too_long": {func(s *Spec) { s.Prompt = string(make([]byte, MaxPromptLen+1)) }, "prompt"},
	}
	for name, tt := range tests {
		s := validSpec()
		tt.mutate(&s)
		err := s.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Kind() != apperr.KindInvalid {
			t.Errorf("%s: error %v, want Invalid", name, err)
			continue
		}
		found := false
		for _, v := range ae.Violations() {
			found = found || v.Field == tt.field
		}
		if !found {
			t.Errorf("%s: violations %+v, want one on %s", name, ae.Violations(), tt.field)
		}
	}
}

func newJob(t *testing.T) *Job {
	t.Helper()
	j, err := New("job1", "user1", validSpec(), "hold1", t0)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestFinishChargesProducedImagesOnly(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		produced          int
		wantState         State
		captured, release int64
	}{
		"all":  {3, Succeeded, 3, 0},
		"some": {2, PartiallySucceeded, 2, 1},
		"none": {0, Failed, 0, 3},
	}
	for name, tt := range tests {
		j := newJob(t)
		if err := j.Claim("w1", 1, t0.Add(time.Minute), t0); err != nil {
			t.Fatal(err)
		}
		var outs []Output
		for i := range 3 {
			st := OutputFailed
			if i < tt.produced {
				st = OutputSucceeded
			}
			outs = append(outs, Output{Index: i, State: st})
		}
		got, err := j.Finish(outs, t0.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.captured || j.State != tt.wantState || j.Captured != tt.captured || j.Released != tt.release {
			t.Errorf("%s: capture %d, state %s, captured %d released %d", name, got, j.State, j.Captured, j.Released)
		}
		if j.Captured+j.Released != j.Reserved {
			t.Errorf("%s: captured + released != reserved", name)
		}
	}
}

func TestClaimLeases(t *testing.T) {
	t.Parallel()
	j := newJob(t)
	lease := t0.Add(time.Minute)
	if err := j.Claim("w1", 1, lease, t0); err != nil {
		t.Fatal(err)
	}
	if err := j.Claim("w2", 1, lease, t0.Add(30*time.Second)); !errors.Is(err, ErrNotClaimable) {
		t.Fatalf("a held job was claimed: %v", err)
	}
	if err := j.Renew("w1", 1, lease.Add(time.Minute), t0.Add(30*time.Second)); err != nil {
		t.Fatalf("the holder could not renew: %v", err)
	}
	if err := j.Renew("w2", 1, lease.Add(time.Minute), t0.Add(30*time.Second)); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("another worker renewed the lease: %v", err)
	}
	if j.LeaseExpired(lease) {
		t.Fatal("the renewed lease expired at the old time")
	}
	// A dead worker's attempt is never re-run as the same attempt, even
	// after its lease ran out: it is retried as a new one.
	if err := j.Claim("w2", 1, lease.Add(3*time.Minute), lease.Add(2*time.Minute)); !errors.Is(err, ErrNotClaimable) {
		t.Fatalf("the same attempt was claimed twice: %v", err)
	}
	if !j.LeaseExpired(lease.Add(2 * time.Minute)) {
		t.Fatal("the lease did not expire")
	}
	if queued, err := j.Retry("lease expired", lease.Add(2*time.Minute)); err != nil || !queued {
		t.Fatalf("retry = %v, %v", queued, err)
	}
	if err := j.Claim("w3", 1, lease, lease.Add(5*time.Minute)); !errors.Is(err, ErrNotClaimable) {
		t.Fatalf("a message of an older attempt claimed the job: %v", err)
	}
	if err := j.Claim("w3", 2, lease.Add(6*time.Minute), lease.Add(5*time.Minute)); err != nil {
		t.Fatalf("the new attempt was not claimable: %v", err)
	}
	if j.Holds("w1", 1) || !j.Holds("w3", 2) {
		t.Fatal("Holds does not follow the claim")
	}
	if _, err := j.Finish(nil, t0); err != nil {
		t.Fatal(err)
	}
	if err := j.Claim("w1", 1, lease, lease.Add(time.Hour)); !errors.Is(err, ErrNotClaimable) {
		t.Fatal("an ended job was claimed")
	}
}

func TestRetryUpToMaxAttempts(t *testing.T) {
	t.Parallel()
	j := newJob(t)
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		if err := j.Claim("w", attempt, t0.Add(time.Minute), t0); err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		queued, err := j.Retry("provider_unavailable", t0)
		if err != nil {
			t.Fatal(err)
		}
		if queued != (attempt < MaxAttempts) {
			t.Fatalf("attempt %d: queued = %v", attempt, queued)
		}
	}
	if j.State != Failed || j.Released != j.Reserved || j.Captured != 0 {
		t.Fatalf("after %d attempts: state %s captured %d released %d", MaxAttempts, j.State, j.Captured, j.Released)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	j := newJob(t)
	if err := j.Cancel(t0); err != nil || j.State != Canceled || j.Released != 3 {
		t.Fatalf("cancel: %v, state %s, released %d", err, j.State, j.Released)
	}
	if err := j.Cancel(t0); apperr.KindOf(err) != apperr.KindPrecondition {
		t.Fatalf("second cancel: %v", err)
	}
	if err := j.Claim("w", 1, t0.Add(time.Minute), t0); !errors.Is(err, ErrNotClaimable) {
		t.Fatal("a canceled job was claimed")
	}
}

func TestAttemptMessageID(t *testing.T) {
	t.Parallel()
	a, b := AttemptMessageID("j", 1), AttemptMessageID("j", 1)
	if a != b || a == AttemptMessageID("j", 2) || a == AttemptMessageID("k", 1) {
		t.Fatal("attempt ids must be stable per attempt and differ across attempts and jobs")
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	for attempt, want := range map[int]time.Duration{1: 0, 2: 2 * time.Second, 3: 8 * time.Second, 4: 32 * time.Second, 5: 2 * time.Minute, 9: 2 * time.Minute} {
		if got := RetryDelay(attempt); got != want {
			t.Errorf("RetryDelay(%d) = %v, want %v", attempt, got, want)
		}
	}
}
