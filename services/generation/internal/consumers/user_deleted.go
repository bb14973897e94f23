// Package consumers holds the generation service's event handlers: the
// account-deletion purge and the Slack notifications of job events.
package consumers

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/store"
)

// DurableUserDeleted names the account-deletion consumer.
const DurableUserDeleted = "generation-user-deleted"

// purgeNamespace makes the confirmation's event id a function of the
// deletion id, so a re-run of the handler confirms with the same id.
var purgeNamespace = uuid.MustParse("2d8e4b1a-7c35-4e0f-9a6b-51f3c8d2e7a4")

// UserDeleted deletes everything generation holds about a user when account
// says the user is gone, and confirms with UserDataPurged.
//
// In the handler's transaction it locks the user's jobs, releases the
// credit holds of those not finished (through billing, idempotent by hold
// id, so a retried message releases nothing twice), deletes the jobs, their
// outputs and the user's Looks, and appends the confirmation. A worker
// running one of the jobs waits on the lock and then finds the job gone, so
// it captures nothing. The output images are media's and go with media's
// own purge.
func UserDeleted(pool *pgxpool.Pool, js jetstream.JetStream, logger *slog.Logger, credits job.Credits) *events.Consumer {
	return events.NewConsumer(pool, js, logger, events.ConsumerConfig{
		Stream:         events.StreamAccount,
		Durable:        DurableUserDeleted,
		FilterSubjects: []string{events.SubjectUserDeleted},
		Handler: func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
			var ev eventsv1.UserDeleted
			if err := msg.Unmarshal(&ev); err != nil {
				return err
			}
			user := ev.GetUserId()
			if user == "" {
				return fmt.Errorf("user deletion %s names no user", ev.GetDeletionId())
			}
			holds, err := store.LockUserJobs(ctx, tx, user)
			if err != nil {
				return err
			}
			for _, h := range holds {
				// NotFound or FailedPrecondition: billing purged the hold
				// already, or it ended; either way nothing is held.
				err := credits.Release(ctx, h)
				if k := apperr.KindOf(err); err != nil && k != apperr.KindNotFound && k != apperr.KindPrecondition {
					return fmt.Errorf("release hold %s of deleted user %s: %w", h, user, err)
				}
			}
			jobs, looks, err := store.DeleteUser(ctx, tx, user)
			if err != nil {
				return err
			}
			confirm := events.Event{
				ID:      uuid.NewSHA1(purgeNamespace, []byte(ev.GetDeletionId()+"/"+user)).String(),
				Subject: events.SubjectGenerationUserPurged,
				Payload: &eventsv1.UserDataPurged{
					UserId:     user,
					DeletionId: ev.GetDeletionId(),
					Service:    "generation",
					PurgeTime:  timestamppb.New(time.Now()),
				},
			}
			if err := events.Append(ctx, tx, confirm); err != nil {
				return fmt.Errorf("confirm purge of user %s: %w", user, err)
			}
			logger.InfoContext(ctx, "user's generations purged", "user_id", user, "jobs", jobs,
				"holds_released", len(holds), "looks", looks)
			return nil
		},
	})
}
