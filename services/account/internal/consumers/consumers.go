// Package consumers holds the account service's event handlers: the mailer
// (MailRequested → a provider, exactly once per committed request), the
// exporter (ExportRequested → a zip in media) and the four purge
// confirmations that complete an account deletion. Each runs in the
// transaction of pkg/events' idempotent inbox.
package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
	"github.com/connectengine/photoshoot/services/account/internal/mail"
	"github.com/connectengine/photoshoot/services/account/internal/privacy"
	"github.com/connectengine/photoshoot/services/account/internal/store"
)

// maxDeliver is how often a message is tried before it is dead-lettered.
const maxDeliver = 5

// Mailer renders and sends mails.
type Mailer struct {
	Sender       mail.Sender
	Renderer     *mail.Renderer
	SupportEmail string
	Now          func() time.Time
}

// Config describes the mailer's durable consumer.
func (m *Mailer) Config() events.ConsumerConfig {
	return events.ConsumerConfig{
		Stream: events.StreamAccount, Durable: "account-mailer",
		FilterSubjects: []string{events.SubjectMailRequested}, MaxDeliver: maxDeliver, Handler: m.handle,
	}
}

// handle records the mail as sent and then sends it, in the inbox's
// transaction. If the send fails the record rolls back and the message is
// retried. If the process dies after the send but before the commit, the
// retry sends again with the same mail ID, which the provider de-duplicates
// (Resend's idempotency key, the dev mailbox's file name).
func (m *Mailer) handle(ctx context.Context, tx pgx.Tx, msg events.Message) error {
	var ev eventsv1.MailRequested
	if err := msg.Unmarshal(&ev); err != nil {
		return err
	}
	already, err := store.RecordMailSent(ctx, tx, ev.GetMailId(), ev.GetTemplate(), m.Now())
	if err != nil || already {
		return err
	}
	out, err := m.Renderer.Render(ev.GetTemplate(), ev.GetData())
	if err != nil {
		return err
	}
	out.ID, out.To = ev.GetMailId(), ev.GetTo()
	if ev.GetTemplate() == identity.TemplateContactMessage {
		out.ReplyTo = ev.GetData()["email"]
	}
	if err := m.Sender.Send(ctx, out); err != nil {
		return fmt.Errorf("send %s mail %s: %w", ev.GetTemplate(), ev.GetMailId(), err)
	}
	return nil
}

// Exporter runs data exports.
type Exporter struct {
	Store     *store.Store
	Builder   *privacy.Exporter
	PublicURL string
	Logger    *slog.Logger
	Now       func() time.Time
}

// Config describes the exporter's durable consumer. Exports are slow; the
// consumer keeps its message alive while it works.
func (e *Exporter) Config() events.ConsumerConfig {
	return events.ConsumerConfig{
		Stream: events.StreamAccount, Durable: "account-exporter",
		FilterSubjects: []string{events.SubjectExportRequested}, MaxDeliver: maxDeliver, Handler: e.handle,
	}
}

func (e *Exporter) handle(ctx context.Context, tx pgx.Tx, msg events.Message) error {
	var ev eventsv1.ExportRequested
	if err := msg.Unmarshal(&ev); err != nil {
		return err
	}
	exp, open, err := e.Store.MarkExportRunning(ctx, ev.GetExportId())
	if err != nil || !open {
		return err
	}
	res, err := e.Builder.Build(ctx, exp.UserID, exp.ID)
	exp.CompleteTime = e.Now()
	var failure *privacy.Failure
	switch {
	case errors.As(err, &failure):
		e.Logger.WarnContext(ctx, "export failed", "export", exp.ID, "reason", failure.Reason, "err", err)
		exp.State, exp.FailureReason = identity.ExportFailed, failure.Reason
		return store.FinishExport(ctx, tx, exp, nil)
	case err != nil && msg.NumDelivered >= maxDeliver:
		exp.State, exp.FailureReason = identity.ExportFailed, "services unavailable after retries"
		e.Logger.WarnContext(ctx, "export failed after retries", "export", exp.ID, "err", err)
		return store.FinishExport(ctx, tx, exp, nil)
	case err != nil:
		return err
	}
	exp.State, exp.ImageID, exp.SizeBytes = identity.ExportSucceeded, res.ImageID, res.SizeBytes
	m := identity.Mail{ID: identity.NewID(), Template: identity.TemplateExportReady, Data: map[string]string{
		"download_url": DownloadURL(e.PublicURL, res.ImageID),
		"size":         humanSize(res.SizeBytes),
	}}
	return store.FinishExport(ctx, tx, exp, &m)
}

// DownloadURL is where the owner downloads a stored export (media serves
// the owner with their session).
func DownloadURL(publicURL, imageID string) string {
	return publicURL + "/v1/images/" + imageID + "/content"
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// Purges completes deletions from the services' confirmations.
type Purges struct {
	Now    func() time.Time
	Logger *slog.Logger
}

// Configs describe one durable consumer per confirming service's stream.
func (p *Purges) Configs() []events.ConsumerConfig {
	subjects := []struct{ service, stream, subject string }{
		{"billing", events.StreamBilling, events.SubjectBillingUserPurged},
		{"media", events.StreamMedia, events.SubjectMediaUserPurged},
		{"analysis", events.StreamAnalysis, events.SubjectAnalysisUserPurged},
		{"generation", events.StreamGeneration, events.SubjectGenerationUserPurged},
	}
	out := make([]events.ConsumerConfig, 0, len(subjects))
	for _, s := range subjects {
		out = append(out, events.ConsumerConfig{
			Stream: s.stream, Durable: "account-purged-" + s.service,
			FilterSubjects: []string{s.subject}, MaxDeliver: maxDeliver,
			Handler: func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
				return p.handle(ctx, tx, msg, s.service)
			},
		})
	}
	return out
}

// handle takes the confirming service from the subject (each service
// publishes on its own), not from the payload.
func (p *Purges) handle(ctx context.Context, tx pgx.Tx, msg events.Message, service string) error {
	var ev eventsv1.UserDataPurged
	if err := msg.Unmarshal(&ev); err != nil {
		return err
	}
	m := identity.Mail{ID: identity.NewID(), Template: identity.TemplateAccountDeleted, Data: map[string]string{}}
	done, err := store.ConfirmPurge(ctx, tx, ev.GetDeletionId(), ev.GetUserId(), service, p.Now(), m)
	if err != nil {
		return err
	}
	if done {
		p.Logger.InfoContext(ctx, "account deletion completed", "user", ev.GetUserId(), "deletion", ev.GetDeletionId())
	}
	return nil
}
