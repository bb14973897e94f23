package app

import (
	"context"
	"errors"
	"log/slog"
	"net/url"

	"github.com/connectengine/photoshoot/services/generation/internal/slack"
)

// checkWebhookURL validates SLACK_WEBHOOK_URL without echoing it: the URL
// carries the webhook's token.
func checkWebhookURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("SLACK_WEBHOOK_URL must be an absolute http(s) URL")
	}
	return nil
}

// notifier is where job notifications go: the Slack webhook, or the log
// when none is configured. Notifications are for operators, not a product
// feature, so a missing webhook is not a start-up error outside dev mode
// either; it is logged once.
func notifier(ctx context.Context, cfg Config, logger *slog.Logger) slack.Poster {
	if cfg.SlackWebhookURL != "" {
		return slack.NewWebhook(cfg.SlackWebhookURL, slack.Options{})
	}
	if !cfg.DevMode {
		logger.WarnContext(ctx, "SLACK_WEBHOOK_URL is not set; job notifications go to the log")
	}
	return slack.Log{Logger: logger}
}
