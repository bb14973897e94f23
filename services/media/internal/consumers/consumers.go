// Package consumers holds the media service's event handlers.
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

	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/media/internal/gallery"
	"github.com/connectengine/photoshoot/services/media/internal/store"
)

// DurableUserDeleted names the account-deletion consumer.
const DurableUserDeleted = "media-user-deleted"

// purgeNamespace makes the confirmation's event id a function of the
// deletion id, so a re-run of the handler confirms with the same id.
var purgeNamespace = uuid.MustParse("6f1c8f3e-3a0e-4d52-9d51-0c5a3b8e7a11")

// UserDeleted deletes everything media holds about a user when account
// says the user is gone, then confirms with UserDataPurged. The blobs go
// first, outside the transaction (idempotent, retried with the message);
// then the rows and the confirmation commit together with the inbox entry.
func UserDeleted(pool *pgxpool.Pool, js jetstream.JetStream, logger *slog.Logger, svc *gallery.Service) *events.Consumer {
	return events.NewConsumer(pool, js, logger, events.ConsumerConfig{
		Stream:         events.StreamAccount,
		Durable:        DurableUserDeleted,
		FilterSubjects: []string{events.SubjectUserDeleted},
		Handler: func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
			var ev eventsv1.UserDeleted
			if err := msg.Unmarshal(&ev); err != nil {
				return err
			}
			// Rows first (this waits for inserts in flight and refuses later
			// ones), then every blob under the user's prefix: a blob is
			// written before its row, so each one whose row committed is
			// there to delete, and an image refused by the tombstone deletes
			// its own.
			n, err := store.DeleteUser(ctx, tx, ev.GetUserId())
			if err != nil {
				return err
			}
			if err := svc.PurgeBlobs(ctx, ev.GetUserId()); err != nil {
				return err
			}
			confirm := events.Event{
				ID:      uuid.NewSHA1(purgeNamespace, []byte(ev.GetDeletionId()+"/"+ev.GetUserId())).String(),
				Subject: events.SubjectMediaUserPurged,
				Payload: &eventsv1.UserDataPurged{
					UserId:     ev.GetUserId(),
					DeletionId: ev.GetDeletionId(),
					Service:    "media",
					PurgeTime:  timestamppb.New(time.Now()),
				},
			}
			if err := events.Append(ctx, tx, confirm); err != nil {
				return fmt.Errorf("confirm purge of user %s: %w", ev.GetUserId(), err)
			}
			logger.InfoContext(ctx, "user's media purged", "user_id", ev.GetUserId(), "images", n)
			return nil
		},
	})
}
