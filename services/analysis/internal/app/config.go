package app

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/connectengine/photoshoot/pkg/platform"
)

// Analyzer choices (ANALYZER).
const (
	AnalyzerLocal  = "local"
	AnalyzerClaude = "claude"
)

// Config is the analysis service's configuration.
type Config struct {
	platform.Config
	// MediaAddr is the media service (MEDIA_ADDR).
	MediaAddr string
	// Analyzer is "claude" or "local": Claude when ANTHROPIC_API_KEY is
	// set, unless ANALYZER=local chooses the local analyser explicitly.
	Analyzer string
	// AnthropicAPIKey, AnthropicModel and AnthropicBaseURL configure the
	// Claude provider (ANTHROPIC_*).
	AnthropicAPIKey  string
	AnthropicModel   string
	AnthropicBaseURL string
}

// LoadConfig reads the configuration from the environment. Without an
// Anthropic key the local analyser runs only in dev mode or when
// ANALYZER=local says so; otherwise start-up fails naming the key.
func LoadConfig(getenv func(string) string) (Config, error) {
	pc, err := platform.LoadConfig("analysis", getenv)
	c := Config{
		Config:           pc,
		MediaAddr:        getenv("MEDIA_ADDR"),
		AnthropicAPIKey:  getenv("ANTHROPIC_API_KEY"),
		AnthropicModel:   getenv("ANTHROPIC_MODEL"),
		AnthropicBaseURL: getenv("ANTHROPIC_BASE_URL"),
	}
	errs := []error{err}
	if c.MediaAddr == "" {
		errs = append(errs, errors.New("MEDIA_ADDR is required"))
	}
	choice := strings.ToLower(getenv("ANALYZER"))
	switch {
	case choice != "" && choice != AnalyzerLocal && choice != AnalyzerClaude:
		errs = append(errs, fmt.Errorf("ANALYZER %q must be local or claude", choice))
	case choice == AnalyzerLocal:
		c.Analyzer = AnalyzerLocal
	case c.AnthropicAPIKey != "":
		c.Analyzer = AnalyzerClaude
	case choice == AnalyzerClaude:
		errs = append(errs, errors.New("ANTHROPIC_API_KEY is required when ANALYZER=claude"))
	case pc.DevMode:
		c.Analyzer = AnalyzerLocal
	default:
		errs = append(errs, errors.New("ANTHROPIC_API_KEY is required (or set ANALYZER=local to use the local analyser, or DEV_MODE=1)"))
	}
	if u := c.AnthropicBaseURL; u != "" {
		if p, err := url.Parse(u); err != nil || p.Scheme == "" || p.Host == "" {
			errs = append(errs, fmt.Errorf("ANTHROPIC_BASE_URL %q must be an absolute URL", u))
		}
	}
	return c, errors.Join(errs...)
}
