// Package claude is the production product analyser: Anthropic's Messages
// API with the photo as a base64 image block and the answer forced through
// a tool whose JSON schema is the analysis, validated before use. Claude
// returns no pixels, so the mask, bounding box and measured backdrop come
// from the local analyser; Claude supplies what a model can read and the
// local one cannot: what the product is, its materials and attributes, the
// exact text and logos on it, and which scenes suit it.
package claude

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"sync"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/local"
)

// Defaults for Config's zero fields.
const (
	DefaultModel = "claude-sonnet-4-5"
	// DefaultMaxRetries bounds retries of 408/409/429/5xx (529 overloaded
	// included) and connection errors; the SDK backs off exponentially with
	// jitter and honours Retry-After.
	DefaultMaxRetries = 3
	// DefaultAttemptTimeout bounds one HTTP attempt.
	DefaultAttemptTimeout = 60 * time.Second
	// DefaultBudget bounds the whole call, retries and back-off included.
	DefaultBudget = 150 * time.Second
)

// Image limits: the API rejects base64 images over 5 MB and gains nothing
// from more than about 1568 pixels on the long side.
const (
	maxImageSide   = 1568
	maxBase64Bytes = 5 << 20
	toolName       = "record_product_analysis"
	maxTokens      = 2048
)

// Config configures the provider.
type Config struct {
	APIKey string
	// Model is the model id (ANTHROPIC_MODEL); empty means DefaultModel.
	Model string
	// BaseURL is the API's base URL (ANTHROPIC_BASE_URL); empty means
	// Anthropic's.
	BaseURL        string
	MaxRetries     int
	AttemptTimeout time.Duration
	Budget         time.Duration
	// HTTPClient is optional (tests pass the httptest server's).
	HTTPClient *http.Client
}

// Analyzer is the Claude provider.
type Analyzer struct {
	client anthropic.Client
	model  string
	budget time.Duration
	local  *local.Analyzer
}

// New builds the provider. It never reads the environment: internal/app
// passes every setting.
func New(cfg Config) (*Analyzer, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("claude: an API key is required")
	}
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.Budget == 0 {
		cfg.Budget = DefaultBudget
	}
	opts := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(cfg.MaxRetries),
		option.WithRequestTimeout(cfg.AttemptTimeout),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &Analyzer{client: anthropic.NewClient(opts...), model: cfg.Model, budget: cfg.Budget, local: local.New()}, nil
}

// Provider names the provider and the model, so a new model re-analyses.
func (a *Analyzer) Provider() analyzer.Provider {
	return analyzer.Provider{Name: "claude", Version: a.model + "+" + local.Version}
}

// Analyze asks Claude about the product and merges its answer with the
// local analyser's mask and measurements.
func (a *Analyzer) Analyze(ctx context.Context, img image.Image) (analyzer.Result, error) {
	base, err := a.local.Analyze(ctx, img)
	if err != nil {
		return analyzer.Result{}, err
	}
	data, err := encode(img)
	if err != nil {
		return analyzer.Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, a.budget)
	defer cancel()

	var rec recorder
	msg, err := a.client.Messages.New(ctx, a.params(data), option.WithMiddleware(rec.middleware))
	usage := rec.usage()
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return analyzer.Result{}, fmt.Errorf("claude: %w", err)
		}
		var apiErr *anthropic.Error
		if errors.As(err, &apiErr) && !retryable(apiErr.StatusCode) {
			return analyzer.Result{}, fmt.Errorf("claude request %s: status %d: %w", usage.RequestID, apiErr.StatusCode, err)
		}
		return analyzer.Result{}, fmt.Errorf("claude request %s after %d attempts: %w: %w", usage.RequestID, usage.Attempts, analyzer.ErrUnavailable, err)
	}
	usage.InputTokens, usage.OutputTokens = msg.Usage.InputTokens, msg.Usage.OutputTokens
	if msg.ID != "" && usage.RequestID == "" {
		usage.RequestID = msg.ID
	}
	out, err := parse(msg)
	if err != nil {
		return analyzer.Result{}, fmt.Errorf("claude request %s: %w", usage.RequestID, err)
	}
	r := merge(base, out)
	r.Usage = usage
	if err := r.Validate(img.Bounds()); err != nil {
		return analyzer.Result{}, fmt.Errorf("claude request %s: %w: %w", usage.RequestID, ErrMalformed, err)
	}
	return r, nil
}

// ErrMalformed means Claude answered, but not with a usable analysis.
var ErrMalformed = errors.New("malformed analysis")

func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusConflict || status == http.StatusTooManyRequests || status >= 500
}

func (a *Analyzer) params(jpegData []byte) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     a.model,
		MaxTokens: maxTokens,
		System:    []anthropic.TextBlockParam{{Text: systemPrompt}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
			anthropic.NewImageBlockBase64("image/jpeg", base64.StdEncoding.EncodeToString(jpegData)),
			anthropic.NewTextBlock("Analyse the product in this photo and record it with the tool."),
		)},
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
			Name:        toolName,
			Description: anthropic.String("Records the analysis of the product in a seller's photo."),
			InputSchema: inputSchema(),
		}}},
		ToolChoice: anthropic.ToolChoiceParamOfTool(toolName),
	}
}

const systemPrompt = `You analyse e-commerce product photos for a studio that restages products in new scenes.
Describe only the main product. Spell any text or logo on it exactly as printed, preserving case; never invent text you cannot read.
Colours are sRGB hex "#rrggbb" in lower case. Choose scenes only from the listed ids, best first.`

// encode downscales img to the API's useful size and encodes it as JPEG,
// stepping down quality and size until the base64 form is under the limit.
func encode(img image.Image) ([]byte, error) {
	side := maxImageSide
	for _, q := range []int{88, 80, 70, 60, 60, 60} {
		thumb := local.Thumbnail(img, side)
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, thumb, &jpeg.Options{Quality: q}); err != nil {
			return nil, fmt.Errorf("encode jpeg: %w", err)
		}
		if base64.StdEncoding.EncodedLen(buf.Len()) < maxBase64Bytes {
			return buf.Bytes(), nil
		}
		side = side * 3 / 4
	}
	return nil, fmt.Errorf("%w: cannot encode under %d bytes", analyzer.ErrInvalidImage, maxBase64Bytes)
}

// recorder counts attempts and keeps the last request id the API sent.
type recorder struct {
	mu       sync.Mutex
	attempts int
	id       string
}

func (r *recorder) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if res != nil {
		if id := res.Header.Get("request-id"); id != "" {
			r.id = id
		}
	}
	return res, err
}

func (r *recorder) usage() analyzer.Usage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return analyzer.Usage{RequestID: r.id, Attempts: r.attempts}
}

// parse finds the forced tool call and decodes and validates its input.
func parse(msg *anthropic.Message) (answer, error) {
	for _, block := range msg.Content {
		if block.Type != "tool_use" || block.Name != toolName {
			continue
		}
		var a answer
		dec := json.NewDecoder(bytes.NewReader(block.Input))
		if err := dec.Decode(&a); err != nil {
			return answer{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if err := a.validate(); err != nil {
			return answer{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return a, nil
	}
	return answer{}, fmt.Errorf("%w: no %s tool call (stop reason %q)", ErrMalformed, toolName, msg.StopReason)
}
