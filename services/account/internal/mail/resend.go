package mail

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/resend/resend-go/v3"
)

// Resend sends through the Resend API with the mail ID as idempotency key,
// so a mail sent again after a crash is not delivered twice.
type Resend struct {
	client *resend.Client
}

// NewResend returns a Resend sender; baseURL overrides the API's address
// (tests point it at a local server), empty for the default.
func NewResend(apiKey, baseURL string, hc *http.Client) (*Resend, error) {
	if apiKey == "" {
		return nil, errors.New("resend: empty api key")
	}
	c := resend.NewCustomClient(hc, apiKey)
	if baseURL != "" {
		u, err := url.Parse(strings.TrimRight(baseURL, "/") + "/")
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("resend: base url %q must be absolute", baseURL)
		}
		c.BaseURL = u
	}
	return &Resend{client: c}, nil
}

// Send implements Sender.
func (r *Resend) Send(ctx context.Context, m Message) error {
	req := &resend.SendEmailRequest{From: m.From, To: []string{m.To}, Subject: m.Subject, Text: m.Text, Html: m.HTML, ReplyTo: m.ReplyTo}
	if _, err := r.client.Emails.SendWithOptions(ctx, req, &resend.SendEmailOptions{IdempotencyKey: m.ID}); err != nil {
		return fmt.Errorf("resend mail %s: %w", m.ID, err)
	}
	return nil
}
