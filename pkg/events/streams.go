package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names: one stream per producing service, one for the generation
// work queue, one for dead letters.
const (
	StreamAccount        = "ACCOUNT"
	StreamBilling        = "BILLING"
	StreamMedia          = "MEDIA"
	StreamAnalysis       = "ANALYSIS"
	StreamGeneration     = "GENERATION"
	StreamGenerationWork = "GENERATION_WORK"
	StreamDeadLetter     = "DEADLETTER"
)

// duplicateWindow is how long JetStream remembers a Nats-Msg-Id. The relay
// re-publishes a row only after its claim lease (seconds) runs out, well
// inside this window; later duplicates are caught by consumers' inboxes.
const duplicateWindow = 2 * time.Minute

// Retention. Postgres holds the source of truth; the streams only carry
// events to consumers, so they keep a bounded history for consumers that
// were down and for replays.
const (
	eventMaxAge      = 14 * 24 * time.Hour
	deadLetterMaxAge = 30 * 24 * time.Hour
)

// Streams returns the configuration of every stream. Each lists exactly its
// subjects; none overlap, which JetStream requires.
func Streams() []jetstream.StreamConfig {
	events := func(name, description string, subjects ...string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: description,
			Subjects:    subjects,
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Duplicates:  duplicateWindow,
			MaxAge:      eventMaxAge,
			Discard:     jetstream.DiscardOld,
		}
	}
	work := events(StreamGenerationWork, "generation jobs, each taken by one worker", SubjectJobRequested)
	work.Retention = jetstream.WorkQueuePolicy
	work.MaxAge = 0 // a job waits for a worker however long that takes
	deadLetter := events(StreamDeadLetter, "messages consumers gave up on, per durable", deadLetterPrefix+">")
	deadLetter.MaxAge = deadLetterMaxAge
	return []jetstream.StreamConfig{
		events(StreamAccount, "account service events",
			SubjectUserCreated, SubjectUserDeleted, SubjectMailRequested, SubjectExportRequested),
		events(StreamBilling, "billing service events",
			SubjectCreditsGranted, SubjectBillingUserPurged),
		events(StreamMedia, "media service events",
			SubjectImageUploaded, SubjectImageDeleted, SubjectMediaUserPurged),
		events(StreamAnalysis, "analysis service events",
			SubjectAnalysisCompleted, SubjectAnalysisUserPurged),
		events(StreamGeneration, "generation service events",
			SubjectJobStarted, SubjectJobCompleted, SubjectJobFailed, SubjectGenerationUserPurged),
		work,
		deadLetter,
	}
}

// EnsureStreams creates every stream or updates it to the current
// configuration. It is idempotent, so every service calls it at start-up and
// the order in which services start does not matter. replicas is 1 for a
// single-node server and 3 in production.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, replicas int) error {
	for _, cfg := range Streams() {
		cfg.Replicas = replicas
		if err := ensureStream(ctx, js, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// ensureStream creates the stream, or updates it when its configuration
// differs from cfg in what we set. Every service ensures every stream as it
// starts, so an update that changes nothing is skipped: it is wasted work,
// and nats-server v2.15 races a stream update against a concurrent consumer
// creation on the same stream (seen under -race with services starting
// together).
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	st, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err = js.CreateStream(ctx, cfg); !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err
		}
		// Another service created it meanwhile: compare with theirs.
		st, err = js.Stream(ctx, cfg.Name)
	}
	if err != nil {
		return err
	}
	if sameStream(st.CachedInfo().Config, cfg) {
		return nil
	}
	_, err = js.UpdateStream(ctx, cfg)
	return err
}

// sameStream compares the fields Streams sets.
func sameStream(have, want jetstream.StreamConfig) bool {
	return have.Description == want.Description && slices.Equal(have.Subjects, want.Subjects) &&
		have.Retention == want.Retention && have.Storage == want.Storage && have.Duplicates == want.Duplicates &&
		have.MaxAge == want.MaxAge && have.Discard == want.Discard && have.Replicas == want.Replicas
}
