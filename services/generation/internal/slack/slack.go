// Package slack posts notifications to a Slack incoming webhook, or, with no
// webhook configured, writes them to the log. It is plain net/http: an
// incoming webhook is one POST of {"text", "blocks"} that answers "ok".
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Message is an incoming-webhook payload. Text is the notification's
// fallback (shown where blocks are not, and in the log); Blocks lay it out.
type Message struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks,omitempty"`
}

// Block is a Block Kit layout block: a section with Text and/or Fields, or
// a context with Elements.
type Block struct {
	Type     string `json:"type"`
	Text     *Text  `json:"text,omitempty"`
	Fields   []Text `json:"fields,omitempty"`
	Elements []Text `json:"elements,omitempty"`
}

// Text is a Block Kit text object ("mrkdwn" or "plain_text").
type Text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Poster delivers a message.
type Poster interface {
	Post(ctx context.Context, m Message) error
}

// Error is a webhook answer other than 200: Slack's status and its short
// error body (e.g. "invalid_payload", "channel_is_archived").
type Error struct {
	Status     int
	Body       string
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("slack webhook: status %d: %s", e.Status, e.Body)
}

// Permanent reports whether retrying cannot help: every 4xx but 429 (a bad
// payload, a removed webhook, an archived channel).
func (e *Error) Permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests
}

// IsPermanent reports whether err is a webhook answer that retrying cannot
// change.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent()
}

// Options tune a Webhook; zero values take the defaults noted.
type Options struct {
	// HTTP is the client (a client with CallTimeout when nil).
	HTTP *http.Client
	// CallTimeout bounds one POST (default 10 s).
	CallTimeout time.Duration
	// Budget bounds the time one Post spends retrying 429s, 5xxs and network
	// errors (default 20 s). A wait that would overrun it ends the Post with
	// the last error instead, and the caller retries later: the consumer's
	// redelivery, with its own back-off.
	Budget time.Duration
	// Backoff is the first wait after a 5xx or a network error, doubled
	// each time (default 500 ms). A 429 waits its Retry-After instead.
	Backoff time.Duration
}

// Webhook posts to one incoming-webhook URL. The URL is a secret (it
// carries the token): it never appears in errors or logs.
type Webhook struct {
	url string
	opt Options
}

// NewWebhook returns a client of the webhook at url.
func NewWebhook(url string, opt Options) *Webhook {
	if opt.CallTimeout <= 0 {
		opt.CallTimeout = 10 * time.Second
	}
	if opt.HTTP == nil {
		opt.HTTP = &http.Client{Timeout: opt.CallTimeout}
	}
	if opt.Budget <= 0 {
		opt.Budget = 20 * time.Second
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 500 * time.Millisecond
	}
	return &Webhook{url: url, opt: opt}
}

// Post sends m, retrying 429, 5xx and network failures within the budget:
// after the answer's Retry-After when it has one, else with exponential
// back-off. A permanent
// answer (see Error.Permanent) is returned at once.
func (w *Webhook) Post(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode slack message: %w", err)
	}
	deadline := time.Now().Add(w.opt.Budget)
	backoff := w.opt.Backoff
	for attempt := 1; ; attempt++ {
		err := w.post(ctx, body)
		if err == nil || IsPermanent(err) || ctx.Err() != nil {
			return err
		}
		wait := backoff
		if se := (*Error)(nil); errors.As(err, &se) && se.RetryAfter > 0 {
			wait = se.RetryAfter
		} else {
			backoff *= 2
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("slack webhook: gave up after %d attempts: %w", attempt, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("slack webhook: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func (w *Webhook) post(ctx context.Context, body []byte) error {
	cctx, cancel := context.WithTimeout(ctx, w.opt.CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Body: "bad webhook url"}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.opt.HTTP.Do(req)
	if err != nil {
		// *url.Error spells out the URL, which is a secret.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("slack webhook: post: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	e := &Error{Status: resp.StatusCode, Body: strings.TrimSpace(string(msg))}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// Escape makes s literal inside mrkdwn text: Slack reads &, < and > as
// markup.
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Log writes each message's text to a logger instead of Slack: the default
// with no webhook configured (development).
type Log struct {
	Logger *slog.Logger
}

// Post logs m.Text; it never fails.
func (l Log) Post(ctx context.Context, m Message) error {
	l.Logger.InfoContext(ctx, "notification", "text", m.Text)
	return nil
}
