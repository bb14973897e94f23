package imagemodel

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	// Providers answer in PNG or JPEG (png is imported above).
	_ "image/jpeg"

	"github.com/connectengine/photoshoot/services/generation/internal/imaging"
)

// DefaultAIMLModel is the AIML API model used when none is configured.
const DefaultAIMLModel = "google/nano-banana-pro-edit"

// maxDownload bounds one result image's size.
const maxDownload = 64 << 20

// AIMLConfig configures the AIML API client.
type AIMLConfig struct {
	// BaseURL is the API root, e.g. https://api.aimlapi.com.
	BaseURL string
	// APIKey is sent as a Bearer token.
	APIKey string
	// Model is the model id (DefaultAIMLModel when empty).
	Model string
	// HTTP is the client to use (http.DefaultClient when nil).
	HTTP *http.Client
	// CallTimeout bounds each HTTP call (default 120s: 4K renders are slow).
	CallTimeout time.Duration
	// RetryBudget bounds the time spent retrying 429/5xx/network errors
	// (default 3 minutes); after it the call fails with ErrUnavailable.
	RetryBudget time.Duration
	// Backoff is the first retry's delay, doubled each time (default 500ms).
	Backoff time.Duration
}

// AIML calls the AIML API's image generation endpoint.
type AIML struct {
	cfg AIMLConfig
}

// NewAIML returns an AIML API client.
func NewAIML(cfg AIMLConfig) (*AIML, error) {
	if cfg.BaseURL == "" || cfg.APIKey == "" {
		return nil, errors.New("aiml: base url and api key are required")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Model == "" {
		cfg.Model = DefaultAIMLModel
	}
	if cfg.HTTP == nil {
		cfg.HTTP = http.DefaultClient
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 120 * time.Second
	}
	if cfg.RetryBudget <= 0 {
		cfg.RetryBudget = 3 * time.Minute
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	return &AIML{cfg: cfg}, nil
}

// Name implements Model.
func (a *AIML) Name() string { return "aiml:" + a.cfg.Model }

// aimlRequest is the body of POST /v1/images/generations.
type aimlRequest struct {
	Model       string   `json:"model"`
	Prompt      string   `json:"prompt"`
	ImageURLs   []string `json:"image_urls"`
	AspectRatio string   `json:"aspect_ratio"`
	Resolution  string   `json:"resolution"`
	NumImages   int      `json:"num_images"`
}

// aimlResponse accepts both shapes the API answers with: OpenAI-style
// data[] and fal-style images[], each item a URL or base64.
type aimlResponse struct {
	Data   []aimlImage `json:"data"`
	Images []aimlImage `json:"images"`
}

type aimlImage struct {
	URL     string `json:"url"`
	B64JSON string `json:"b64_json"`
}

// Generate implements Model. The product lock finds the product in each
// result; results of another size are cropped to the asked aspect and scaled.
func (a *AIML) Generate(ctx context.Context, req Request) ([]Image, error) {
	w, h, err := req.Validate()
	if err != nil {
		return nil, err
	}
	src := req.SourceURL
	if src == "" {
		var buf bytes.Buffer
		if err := png.Encode(&buf, req.Source); err != nil {
			return nil, fmt.Errorf("encode source: %w", err)
		}
		src = "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	body, err := json.Marshal(aimlRequest{
		Model: a.cfg.Model, Prompt: req.Prompt, ImageURLs: []string{src},
		AspectRatio: req.Aspect, Resolution: req.Size, NumImages: req.N,
	})
	if err != nil {
		return nil, fmt.Errorf("encode aiml request: %w", err)
	}
	var resp aimlResponse
	if err := a.retry(ctx, func(ctx context.Context) error {
		return a.post(ctx, body, &resp)
	}); err != nil {
		return nil, err
	}
	items := append(resp.Data, resp.Images...)
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: no images in the response", ErrRejected)
	}
	out := make([]Image, 0, min(len(items), req.N))
	for i, it := range items[:min(len(items), req.N)] {
		var img image.Image
		err := a.retry(ctx, func(ctx context.Context) error {
			var err error
			img, err = a.fetch(ctx, it)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("result %d: %w", i, err)
		}
		out = append(out, Image{Image: fitTo(imaging.ToRGBA(img), w, h)})
	}
	return out, nil
}

// retryable marks an error worth another try inside the budget.
type retryable struct {
	err   error
	after time.Duration
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// retry runs call with a per-call timeout, retrying retryable failures with
// exponential backoff (or the server's Retry-After) until the budget is spent.
func (a *AIML) retry(ctx context.Context, call func(context.Context) error) error {
	deadline := time.Now().Add(a.cfg.RetryBudget)
	wait := a.cfg.Backoff
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
		err := call(cctx)
		timedOut := cctx.Err() != nil
		cancel()
		var r *retryable
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("aiml call: %w", ctx.Err())
		case timedOut:
			r = &retryable{err: fmt.Errorf("aiml call timed out after %s: %w", a.cfg.CallTimeout, err)}
		case !errors.As(err, &r):
			return err
		}
		pause := max(wait, r.after)
		if time.Now().Add(pause).After(deadline) {
			return fmt.Errorf("%w: %d attempts: %w", ErrUnavailable, attempt, r.err)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("aiml call: %w", ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
}

func (a *AIML) post(ctx context.Context, body []byte, into *aimlResponse) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.BaseURL+"/v1/images/generations", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.cfg.HTTP.Do(req)
	if err != nil {
		return &retryable{err: fmt.Errorf("post generation: %w", err)}
	}
	defer resp.Body.Close()
	if err := statusError(resp); err != nil {
		return err
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDownload)).Decode(into); err != nil {
		return fmt.Errorf("%w: decode response: %w", ErrRejected, err)
	}
	return nil
}

func (a *AIML) fetch(ctx context.Context, it aimlImage) (image.Image, error) {
	var data []byte
	switch {
	case it.B64JSON != "":
		b, err := base64.StdEncoding.DecodeString(it.B64JSON)
		if err != nil {
			return nil, fmt.Errorf("%w: base64 result: %w", ErrRejected, err)
		}
		data = b
	case strings.HasPrefix(it.URL, "data:"):
		_, enc, ok := strings.Cut(it.URL, ";base64,")
		b, err := base64.StdEncoding.DecodeString(enc)
		if !ok || err != nil {
			return nil, fmt.Errorf("%w: data url result", ErrRejected)
		}
		data = b
	case it.URL != "":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, it.URL, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: result url: %w", ErrRejected, err)
		}
		resp, err := a.cfg.HTTP.Do(req)
		if err != nil {
			return nil, &retryable{err: fmt.Errorf("get result: %w", err)}
		}
		defer resp.Body.Close()
		if err := statusError(resp); err != nil {
			return nil, err
		}
		if data, err = io.ReadAll(io.LimitReader(resp.Body, maxDownload)); err != nil {
			return nil, &retryable{err: fmt.Errorf("read result: %w", err)}
		}
	default:
		return nil, fmt.Errorf("%w: result has neither url nor data", ErrRejected)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: decode result: %w", ErrRejected, err)
	}
	return img, nil
}

// statusError classifies a non-2xx answer: 429 and 5xx are retryable (with
// Retry-After honoured), any other is a rejection.
func statusError(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	err := fmt.Errorf("aiml status %d", resp.StatusCode)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		var after time.Duration
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil {
			after = time.Duration(s) * time.Second
		}
		return &retryable{err: err, after: after}
	}
	return fmt.Errorf("%w: %w", ErrRejected, err)
}

// fitTo crops m to the aspect of w×h around its centre and scales it to w×h.
func fitTo(m *image.RGBA, w, h int) *image.RGBA {
	mw, mh := m.Rect.Dx(), m.Rect.Dy()
	if mw == w && mh == h {
		return m
	}
	target := float64(w) / float64(h)
	cw, ch := mw, mh
	if float64(mw)/float64(mh) > target {
		cw = int(math.Round(float64(mh) * target))
	} else {
		ch = int(math.Round(float64(mw) / target))
	}
	x0, y0 := (mw-cw)/2, (mh-ch)/2
	return imaging.Resize(imaging.Crop(m, image.Rect(x0, y0, x0+cw, y0+ch)), w, h)
}
