package app

import (
	"errors"
	"fmt"

	"github.com/connectengine/photoshoot/pkg/platform"
)

// Config is the generation service's configuration.
type Config struct {
	platform.Config

	// BillingAddr is the billing service, which holds, captures and
	// releases a job's credits (BILLING_ADDR).
	BillingAddr string

	// SlackWebhookURL is the Slack incoming webhook that job events are
	// posted to; when empty they are logged instead (SLACK_WEBHOOK_URL).
	SlackWebhookURL string
}

// LoadConfig reads the configuration from the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	pc, err := platform.LoadConfig("generation", getenv)
	c := Config{Config: pc, BillingAddr: getenv("BILLING_ADDR"), SlackWebhookURL: getenv("SLACK_WEBHOOK_URL")}
	errs := []error{err, checkWebhookURL(c.SlackWebhookURL)}
	if c.BillingAddr == "" {
		errs = append(errs, fmt.Errorf("BILLING_ADDR is required"))
	}
	return c, errors.Join(errs...)
}
