// Package job holds the rules of a generation job: what a request may ask
// for, the states it moves through (queued → running → succeeded |
// partially_succeeded | failed | canceled), attempts and leases, and what a
// finished job costs: exactly one credit per produced image, nothing for a
// failure. It imports neither gRPC nor pgx; the store persists it and the
// worker drives it.
package job

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/generation/internal/market"
	"github.com/connectengine/photoshoot/services/generation/internal/studio"
)

// State is where a job is.
type State string

// The job states.
const (
	Queued             State = "queued"
	Running            State = "running"
	Succeeded          State = "succeeded"
	PartiallySucceeded State = "partially_succeeded"
	Failed             State = "failed"
	Canceled           State = "canceled"
)

// Terminal reports whether s is an end state.
func (s State) Terminal() bool {
	return s == Succeeded || s == PartiallySucceeded || s == Failed || s == Canceled
}

// OutputState is where one variant is.
type OutputState string

// The output states.
const (
	OutputPending   OutputState = "pending"
	OutputSucceeded OutputState = "succeeded"
	OutputFailed    OutputState = "failed"
)

// MaxAttempts bounds the attempts of one job; after the last failed one the
// job fails and its credits are released.
const MaxAttempts = 3

// MaxPromptLen bounds a custom prompt.
const MaxPromptLen = 2000

// Spec is what a seller asks for.
type Spec struct {
	ImageID     string
	SceneID     string
	Prompt      string
	Variants    int
	Aspect      string
	Size        string
	Marketplace string
	ProductLock bool
	LookID      string
	Seed        int64
}

// Validate checks a spec and returns an apperr.Invalid naming every bad field.
func (s Spec) Validate() error {
	var v []apperr.Violation
	bad := func(field, why string) { v = append(v, apperr.Violation{Field: field, Description: why}) }
	if strings.TrimSpace(s.ImageID) == "" {
		bad("image_id", "required")
	}
	switch {
	case s.SceneID == "" && strings.TrimSpace(s.Prompt) == "":
		bad("scene_id", "a scene or a prompt is required")
	case s.SceneID != "":
		if _, ok := studio.Lookup(s.SceneID); !ok {
			bad("scene_id", "unknown scene")
		}
	}
	if len(s.Prompt) > MaxPromptLen {
		bad("prompt", fmt.Sprintf("at most %d bytes", MaxPromptLen))
	}
	if s.Variants < 1 || s.Variants > 4 {
		bad("variants", "1 to 4")
	}
	if _, _, err := studio.Dimensions(s.Aspect, s.Size); err != nil {
		if _, ok := studio.Aspects[s.Aspect]; !ok {
			bad("aspect_ratio", "one of 1:1, 4:5, 3:4, 2:3, 16:9, 9:16")
		}
		if _, ok := studio.Sizes[s.Size]; !ok {
			bad("size", "one of 1K, 2K, 4K")
		}
	}
	if s.Marketplace != "" {
		if _, ok := market.Lookup(s.Marketplace); !ok {
			bad("marketplace", "unknown marketplace preset")
		}
	}
	if len(v) > 0 {
		return apperr.Invalid("invalid generation request", v...)
	}
	return nil
}

// Output is one variant's result.
type Output struct {
	Index      int
	State      OutputState
	ImageID    string
	Fidelity   float64
	Flagged    bool
	Compliance *market.Verdict
	Error      string
}

// Job is a generation job.
type Job struct {
	ID       string
	UserID   string
	Spec     Spec
	State    State
	Outputs  []Output
	HoldID   string
	Reserved int64
	Captured int64
	Released int64
	Error    string
	Attempts int
	// LeaseOwner and LeaseUntil are the worker running the current attempt
	// and until when it holds the job without renewing.
	LeaseOwner   string
	LeaseUntil   time.Time
	CreateTime   time.Time
	UpdateTime   time.Time
	StartTime    time.Time
	CompleteTime time.Time
}

// New is a queued job whose credits (one per variant) are held as holdID.
func New(id, userID string, spec Spec, holdID string, now time.Time) (*Job, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	j := &Job{
		ID: id, UserID: userID, Spec: spec, State: Queued, HoldID: holdID, Reserved: int64(spec.Variants),
		Attempts: 1, CreateTime: now, UpdateTime: now,
	}
	for i := range spec.Variants {
		j.Outputs = append(j.Outputs, Output{Index: i, State: OutputPending})
	}
	return j, nil
}

// attemptNamespace makes attempt message ids; never change it, or queued
// attempts would be republished under new ids.
var attemptNamespace = uuid.MustParse("5b0c1d6e-8a51-4f63-9a8e-6f3c2b1d7e90")

// AttemptMessageID is the work-queue message id of a job's attempt: a
// re-publish of the same attempt is de-duplicated by JetStream and the
// consumer, a retried attempt is a new message.
func AttemptMessageID(jobID string, attempt int) string {
	return uuid.NewSHA1(attemptNamespace, fmt.Appendf(nil, "job:%s:attempt:%d", jobID, attempt)).String()
}

// ErrNotClaimable is returned by Claim for a job another worker holds or
// that is over.
var ErrNotClaimable = apperr.Precondition("JOB_NOT_CLAIMABLE", "the job is over or held by another worker")

// ErrLeaseLost is returned by Renew and Finish to a worker whose attempt is
// no longer the job's running one: the job was cancelled, or its lease ran
// out and the attempt was given to another worker.
var ErrLeaseLost = apperr.Precondition("JOB_LEASE_LOST", "the attempt no longer holds the job")

// Claim starts attempt on behalf of worker until lease. Only a queued job
// whose current attempt is attempt is claimable, so each attempt runs at
// most once, however often its message is delivered: a running job whose
// worker died is moved to a new attempt by Expire, never re-run as the
// same one.
func (j *Job) Claim(worker string, attempt int, lease, now time.Time) error {
	if attempt != j.Attempts || j.State != Queued {
		return ErrNotClaimable
	}
	j.State, j.LeaseOwner, j.LeaseUntil, j.UpdateTime = Running, worker, lease, now
	if j.StartTime.IsZero() {
		j.StartTime = now
	}
	return nil
}

// Holds reports whether worker's attempt is the job's running one.
func (j *Job) Holds(worker string, attempt int) bool {
	return j.State == Running && j.LeaseOwner == worker && j.Attempts == attempt
}

// Renew extends worker's lease on its running attempt.
func (j *Job) Renew(worker string, attempt int, lease, now time.Time) error {
	if !j.Holds(worker, attempt) {
		return ErrLeaseLost
	}
	j.LeaseUntil, j.UpdateTime = lease, now
	return nil
}

// LeaseExpired reports whether the job is running on a lease that ran out
// by now: its worker died or lost touch.
func (j *Job) LeaseExpired(now time.Time) bool {
	return j.State == Running && !now.Before(j.LeaseUntil)
}

// RetryDelay is how long attempt (2, 3, …) waits after the previous one
// was given up: 2 s, 8 s, 32 s, … capped at 2 minutes.
func RetryDelay(attempt int) time.Duration {
	if attempt <= 1 {
		return 0
	}
	d := 2 * time.Second
	for range attempt - 2 {
		d *= 4
		if d >= 2*time.Minute {
			return 2 * time.Minute
		}
	}
	return d
}

// Finish ends a running attempt with its variants' results and returns the
// credits to capture: one per produced image. Producing nothing fails the job.
func (j *Job) Finish(outs []Output, now time.Time) (int64, error) {
	if j.State != Running {
		return 0, ErrLeaseLost
	}
	var produced int64
	for _, o := range outs {
		if o.Index < 0 || o.Index >= len(j.Outputs) {
			return 0, fmt.Errorf("output index %d of %d", o.Index, len(j.Outputs))
		}
		j.Outputs[o.Index] = o
		if o.State == OutputSucceeded {
			produced++
		}
	}
	switch {
	case produced == int64(len(j.Outputs)):
		j.State = Succeeded
	case produced > 0:
		j.State = PartiallySucceeded
	default:
		j.State = Failed
		j.Error = "no variant was produced"
	}
	j.Captured, j.Released = produced, j.Reserved-produced
	j.end(now)
	return produced, nil
}

// Retry gives up the running attempt: the job is queued again as the next
// attempt, or fails when it has used MaxAttempts. It reports whether a new
// attempt was queued.
func (j *Job) Retry(cause string, now time.Time) (bool, error) {
	if j.State != Running && j.State != Queued {
		return false, apperr.Precondition("JOB_NOT_RUNNING", "the job is over")
	}
	if j.Attempts >= MaxAttempts {
		j.fail(cause, now)
		return false, nil
	}
	j.Attempts++
	j.State, j.LeaseOwner, j.LeaseUntil, j.UpdateTime = Queued, "", time.Time{}, now
	return true, nil
}

// Fail ends the job with nothing produced: every held credit is released.
func (j *Job) Fail(cause string, now time.Time) error {
	if j.State.Terminal() {
		return apperr.Precondition("JOB_ENDED", "the job is over")
	}
	j.fail(cause, now)
	return nil
}

func (j *Job) fail(cause string, now time.Time) {
	j.State, j.Error = Failed, cause
	for i := range j.Outputs {
		if j.Outputs[i].State == OutputPending {
			j.Outputs[i].State, j.Outputs[i].Error = OutputFailed, cause
		}
	}
	j.Captured, j.Released = 0, j.Reserved
	j.end(now)
}

// Cancel ends a queued or running job; nothing is charged. A running worker
// notices at its finish, which then fails on the state.
func (j *Job) Cancel(now time.Time) error {
	if j.State.Terminal() {
		return apperr.Precondition("JOB_ENDED", "the job is over")
	}
	j.fail("canceled", now)
	j.State = Canceled
	return nil
}

func (j *Job) end(now time.Time) {
	j.LeaseOwner, j.LeaseUntil, j.UpdateTime, j.CompleteTime = "", time.Time{}, now, now
}
