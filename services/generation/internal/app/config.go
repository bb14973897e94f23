package app

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/services/generation/internal/imagemodel"
	"github.com/connectengine/photoshoot/services/generation/internal/lock"
)

// Config is the generation service's configuration.
type Config struct {
	platform.Config

	// BillingAddr is the billing service, which holds, captures and
	// releases a job's credits (BILLING_ADDR).
	BillingAddr string
	// MediaAddr is the media service: sources, masks and outputs (MEDIA_ADDR).
	MediaAddr string
	// AnalysisAddr is the analysis service: masks and prompts (ANALYSIS_ADDR).
	AnalysisAddr string

	// Workers is how many job attempts this process runs at once (WORKERS;
	// default 2 for `generation`, 4 for `generation worker`; 0 makes
	// `generation` an API-only process).
	Workers int
	// WorkerLease is a job's lease without renewal, and the work message's
	// AckWait (WORKER_LEASE, default 30s).
	WorkerLease time.Duration
	// FidelityThreshold flags AI outputs whose product SSIM is lower
	// (FIDELITY_THRESHOLD, default 0.9).
	FidelityThreshold float64
	// AIML is the AIML API provider; used when AIMLAPI_API_KEY is set,
	// otherwise the local studio renderer makes the images.
	AIML imagemodel.AIMLConfig

	// SlackWebhookURL is the Slack incoming webhook that job events are
	// posted to; when empty they are logged instead (SLACK_WEBHOOK_URL).
	SlackWebhookURL string
}

// DefaultAIMLBaseURL is the AIML API's public endpoint.
const DefaultAIMLBaseURL = "https://api.aimlapi.com"

// LoadConfig reads the configuration from the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	pc, err := platform.LoadConfig("generation", getenv)
	c := Config{
		Config: pc, BillingAddr: getenv("BILLING_ADDR"), MediaAddr: getenv("MEDIA_ADDR"), AnalysisAddr: getenv("ANALYSIS_ADDR"),
		Workers: -1, WorkerLease: 30 * time.Second, FidelityThreshold: lock.DefaultThreshold,
		AIML: imagemodel.AIMLConfig{
			APIKey: getenv("AIMLAPI_API_KEY"), BaseURL: getenv("AIMLAPI_BASE_URL"), Model: getenv("AIMLAPI_MODEL"),
		},
		SlackWebhookURL: getenv("SLACK_WEBHOOK_URL"),
	}
	errs := []error{err, checkWebhookURL(c.SlackWebhookURL)}
	for name, v := range map[string]string{"BILLING_ADDR": c.BillingAddr, "MEDIA_ADDR": c.MediaAddr, "ANALYSIS_ADDR": c.AnalysisAddr} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
	}
	if c.AIML.APIKey != "" && c.AIML.BaseURL == "" {
		c.AIML.BaseURL = DefaultAIMLBaseURL
	}
	if v := getenv("WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 64 {
			errs = append(errs, fmt.Errorf("WORKERS=%q: want 0..64", v))
		}
		c.Workers = n
	}
	if v := getenv("WORKER_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 3*time.Second || d > 10*time.Minute {
			errs = append(errs, fmt.Errorf("WORKER_LEASE=%q: want a duration from 3s to 10m", v))
		}
		c.WorkerLease = d
	}
	if v := getenv("FIDELITY_THRESHOLD"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f >= 1 {
			errs = append(errs, fmt.Errorf("FIDELITY_THRESHOLD=%q: want a number between 0 and 1", v))
		}
		c.FidelityThreshold = f
	}
	return c, errors.Join(errs...)
}

// workers is how many attempts to run: the configured number, or the
// mode's default.
func (c Config) workers(workerMode bool) int {
	switch {
	case c.Workers >= 0:
		return c.Workers
	case workerMode:
		return 4
	default:
		return 2
	}
}
