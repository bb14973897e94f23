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

	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/slack"
)

// DurableNotify names the consumer that posts job events to Slack.
const DurableNotify = "generation-slack"

// MaxNotifyAge is how old (by its time-ordered id) a job event may be and
// still be posted. Older ones are dropped: after a long Slack outage, or
// when the consumer is first created on a stream holding days of events, a
// burst of stale notifications would bury the channel.
const MaxNotifyAge = time.Hour

// Notify posts started, completed and failed job events to poster (a Slack
// webhook, or the log in development). A notification carries no personal
// data: the job id, the scene (never a custom prompt's text), counts,
// duration and the coarse error class, never the user.
//
// Slack's 429s and 5xxs are retried inside one delivery within the
// webhook's budget, then by redelivery with this consumer's back-off; an
// answer that retrying cannot change (a bad payload, a removed webhook) is
// logged and the event acknowledged. The post happens before the inbox
// entry commits, so a crash in between posts again: notifications are at
// least once.
func Notify(pool *pgxpool.Pool, js jetstream.JetStream, logger *slog.Logger, poster slack.Poster) *events.Consumer {
	return events.NewConsumer(pool, js, logger, events.ConsumerConfig{
		Stream:         events.StreamGeneration,
		Durable:        DurableNotify,
		FilterSubjects: []string{events.SubjectJobStarted, events.SubjectJobCompleted, events.SubjectJobFailed},
		MaxDeliver:     8,
		Backoff:        []time.Duration{5 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute},
		Handler: func(ctx context.Context, _ pgx.Tx, msg events.Message) error {
			if at, ok := eventTime(msg.ID); ok && time.Since(at) > MaxNotifyAge {
				logger.InfoContext(ctx, "job event too old to notify", "event", msg.ID, "subject", msg.Subject)
				return nil
			}
			m, err := notification(msg)
			if err != nil {
				return err
			}
			err = poster.Post(ctx, m)
			if slack.IsPermanent(err) {
				logger.ErrorContext(ctx, "slack refused a notification; dropped", "event", msg.ID, "error", err)
				return nil
			}
			return err
		},
	})
}

// eventTime is when a time-ordered (v7) event id was made.
func eventTime(id string) (time.Time, bool) {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		return time.Time{}, false
	}
	return time.Unix(u.Time().UnixTime()), true
}

// notification renders a job event.
func notification(msg events.Message) (slack.Message, error) {
	var (
		icon, verb, jobID, scene string
		fields                   []string
	)
	switch msg.Subject {
	case events.SubjectJobStarted:
		var ev eventsv1.JobStarted
		if err := msg.Unmarshal(&ev); err != nil {
			return slack.Message{}, err
		}
		icon, verb, jobID, scene = ":arrow_forward:", "started", ev.GetJobId(), ev.GetSceneId()
		fields = []string{"Attempt", fmt.Sprint(ev.GetAttempt())}
	case events.SubjectJobCompleted:
		var ev eventsv1.JobCompleted
		if err := msg.Unmarshal(&ev); err != nil {
			return slack.Message{}, err
		}
		icon, verb, jobID, scene = ":white_check_mark:", "completed", ev.GetJobId(), ev.GetSceneId()
		if ev.GetProduced() < ev.GetRequested() {
			icon, verb = ":large_yellow_circle:", "partly completed"
		}
		fields = []string{
			"Variants", fmt.Sprintf("%d of %d", ev.GetProduced(), ev.GetRequested()),
			"Credits", fmt.Sprint(ev.GetCreditsCaptured()),
			"Duration", duration(ev.GetDuration().AsDuration()),
		}
	case events.SubjectJobFailed:
		var ev eventsv1.JobFailed
		if err := msg.Unmarshal(&ev); err != nil {
			return slack.Message{}, err
		}
		icon, verb, jobID, scene = ":x:", "failed", ev.GetJobId(), ev.GetSceneId()
		if ev.GetErrorClass() == "canceled" {
			icon, verb = ":heavy_minus_sign:", "canceled"
		}
		fields = []string{"Error", orNone(ev.GetErrorClass()), "Duration", duration(ev.GetDuration().AsDuration())}
	default:
		return slack.Message{}, fmt.Errorf("no notification for subject %s", msg.Subject)
	}
	if scene == "" {
		scene = "custom prompt"
	}
	fields = append([]string{"Job", "`" + slack.Escape(jobID) + "`", "Scene", slack.Escape(scene)}, fields...)

	text := fmt.Sprintf("%s Generation job %s", icon, verb)
	block := slack.Block{Type: "section"}
	for i := 0; i < len(fields); i += 2 {
		text += fmt.Sprintf(" · %s %s", fields[i], fields[i+1])
		block.Fields = append(block.Fields, slack.Text{Type: "mrkdwn", Text: "*" + fields[i] + "*\n" + fields[i+1]})
	}
	return slack.Message{
		Text: text,
		Blocks: []slack.Block{
			{Type: "section", Text: &slack.Text{Type: "mrkdwn", Text: fmt.Sprintf("%s *Generation job %s*", icon, verb)}},
			block,
		},
	}, nil
}

func duration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return slack.Escape(s)
}
