// Package consumers holds the analysis service's event handlers.
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
	"github.com/connectengine/photoshoot/services/analysis/internal/analysis"
	"github.com/connectengine/photoshoot/services/analysis/internal/store"
)

// Durable consumer names.
const (
	DurableImageUploaded = "analysis-image-uploaded"
	DurableUserDeleted   = "analysis-user-deleted"
	DurableImageDeleted  = "analysis-image-deleted"
)

// purgeNamespace makes the purge confirmation's id a function of the
// deletion, so a re-run confirms with the same id.
var purgeNamespace = uuid.MustParse("0b6f5d7e-9c1a-4f57-8d1e-6a2b9e3c4d51")

// ImageUploaded analyses every upload as it arrives. The analysis commits
// in its own transaction (with analysis.completed); a redelivery finds it
// cached. An image deleted in the meantime is skipped; a provider outage
// fails the message, which JetStream redelivers with back-off.
func ImageUploaded(pool *pgxpool.Pool, js jetstream.JetStream, logger *slog.Logger, svc *analysis.Service) *events.Consumer {
	return events.NewConsumer(pool, js, logger, events.ConsumerConfig{
		Stream:         events.StreamMedia,
		Durable:        DurableImageUploaded,
		FilterSubjects: []string{events.SubjectImageUploaded},
		AckWait:        2 * time.Minute,
		Handler: func(ctx context.Context, _ pgx.Tx, msg events.Message) error {
			var ev eventsv1.ImageUploaded
			if err := msg.Unmarshal(&ev); err != nil {
				return err
			}
			a, err := svc.Analyze(ctx, ev.GetUserId(), ev.GetImageId())
			if apperr.KindOf(err) == apperr.KindNotFound {
				logger.InfoContext(ctx, "uploaded image gone before analysis", "image_id", ev.GetImageId())
				return nil
			}
			if err != nil {
				return fmt.Errorf("analyse upload %s: %w", ev.GetImageId(), err)
			}
			logger.InfoContext(ctx, "upload analysed", "image_id", ev.GetImageId(), "analysis_id", a.ID, "state", a.State)
			return nil
		},
	})
}

// ImageDeleted deletes the analyses of an image the user deleted: what we
// learnt of a photo (its text, colours, what it shows) goes with it. Media
// deletes the masks itself, with the image.
func ImageDeleted(pool *pgxpool.Pool, js jetstream.JetStream, logger *slog.Logger, svc *analysis.Service) *events.Consumer {
	return events.NewConsumer(pool, js, logger, events.ConsumerConfig{
		Stream:         events.StreamMedia,
		Durable:        DurableImageDeleted,
		FilterSubjects: []string{events.SubjectImageDeleted},
		AckWait:        2 * time.Minute, // may wait for an analysis in flight
		Handler: func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
			var ev eventsv1.ImageDeleted
			if err := msg.Unmarshal(&ev); err != nil {
				return err
			}
			var n int64
			err := svc.Forget(ctx, ev.GetUserId(), ev.GetImageId(), func() (err error) {
				n, err = store.DeleteImage(ctx, tx, ev.GetUserId(), ev.GetImageId())
				return err
			})
			if err != nil {
				return err
			}
			if n > 0 {
				logger.InfoContext(ctx, "deleted image's analyses removed", "image_id", ev.GetImageId(), "analyses", n)
			}
			return nil
		},
	})
}

// UserDeleted deletes the user's analyses when account says the user is
// gone and confirms with UserDataPurged in the same transaction. The masks
// are media's images and go with media's own purge.
func UserDeleted(pool *pgxpool.Pool, js jetstream.JetStream, logger *slog.Logger) *events.Consumer {
	return events.NewConsumer(pool, js, logger, events.ConsumerConfig{
		Stream:         events.StreamAccount,
		Durable:        DurableUserDeleted,
		FilterSubjects: []string{events.SubjectUserDeleted},
		Handler: func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
			var ev eventsv1.UserDeleted
			if err := msg.Unmarshal(&ev); err != nil {
				return err
			}
			n, err := store.DeleteUser(ctx, tx, ev.GetUserId())
			if err != nil {
				return err
			}
			confirm := events.Event{
				ID:      uuid.NewSHA1(purgeNamespace, []byte(ev.GetDeletionId()+"/"+ev.GetUserId())).String(),
				Subject: events.SubjectAnalysisUserPurged,
				Payload: &eventsv1.UserDataPurged{
					UserId:     ev.GetUserId(),
					DeletionId: ev.GetDeletionId(),
					Service:    "analysis",
					PurgeTime:  timestamppb.New(time.Now()),
				},
			}
			if err := events.Append(ctx, tx, confirm); err != nil {
				return fmt.Errorf("confirm purge of user %s: %w", ev.GetUserId(), err)
			}
			logger.InfoContext(ctx, "user's analyses purged", "user_id", ev.GetUserId(), "analyses", n)
			return nil
		},
	})
}
