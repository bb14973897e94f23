package claude_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/analyzertest"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/claude"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/synth"
)

const testKey = "sk-ant-test"

var goodInput = map[string]any{
	"title":            "Olive oil tin",
	"category":         "food can",
	"materials":        []string{"tinplate"},
	"attributes":       []map[string]string{{"name": "capacity", "value": "500 ml"}},
	"palette":          []map[string]any{{"hex": "#c8d0a0", "name": "olive", "share": 0.6}, {"hex": "#f5f2e6", "name": "cream", "share": 0.3}},
	"texts":            []map[string]string{{"text": "OLIVE", "kind": "label"}, {"text": "Casa", "kind": "logo"}},
	"suggested_scenes": []string{"kitchen-counter", "light-wood"},
}

// fake speaks the Messages API: each request gets the next scripted reply
// (the last one repeats) after the request's shape is checked.
type fake struct {
	t       *testing.T
	replies []func(w http.ResponseWriter)
	calls   atomic.Int32
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(f.calls.Add(1)) - 1
	if err := checkRequest(r); err != nil {
		f.t.Errorf("request %d: %v", n, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.replies[min(n, len(f.replies)-1)](w)
}

func checkRequest(r *http.Request) error {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		return fmt.Errorf("%s %s", r.Method, r.URL.Path)
	}
	// This SDK version sends the key as a bearer token; the API also takes
	// x-api-key.
	if (r.Header.Get("x-api-key") != testKey && r.Header.Get("authorization") != "Bearer "+testKey) || r.Header.Get("anthropic-version") == "" {
		return errors.New("missing api key or version header")
	}
	var body struct {
		Model      string `json:"model"`
		ToolChoice struct {
			Type string `json:"type"`
			Name string `json:"name"`
		} `json:"tool_choice"`
		Tools []struct {
			Name        string         `json:"name"`
			InputSchema map[string]any `json:"input_schema"`
		} `json:"tools"`
		Messages []struct {
			Content []struct {
				Type   string `json:"type"`
				Source struct {
					Type      string `json:"type"`
					MediaType string `json:"media_type"`
					Data      string `json:"data"`
				} `json:"source"`
			} `json:"content"`
		} `json:"messages"`
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return err
	}
	if body.Model != "claude-test-model" {
		return fmt.Errorf("model %q", body.Model)
	}
	if body.ToolChoice.Type != "tool" || len(body.Tools) != 1 || body.Tools[0].Name != body.ToolChoice.Name || body.Tools[0].InputSchema["type"] != "object" {
		return fmt.Errorf("tool not forced: %+v", body.ToolChoice)
	}
	if len(body.Messages) != 1 || len(body.Messages[0].Content) == 0 {
		return errors.New("no user message")
	}
	img := body.Messages[0].Content[0]
	if img.Type != "image" || img.Source.Type != "base64" || img.Source.MediaType != "image/jpeg" || len(img.Source.Data) >= 5<<20 {
		return fmt.Errorf("image block %s/%s/%s of %d bytes", img.Type, img.Source.Type, img.Source.MediaType, len(img.Source.Data))
	}
	if _, err := base64.StdEncoding.DecodeString(img.Source.Data); err != nil {
		return fmt.Errorf("image data: %w", err)
	}
	return nil
}

func toolReply(input any) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("request-id", "req_ok")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test-model",
			"content":     []map[string]any{{"type": "tool_use", "id": "toolu_1", "name": "record_product_analysis", "input": input}},
			"stop_reason": "tool_use", "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": 1500, "output_tokens": 220},
		})
	}
}

func overloaded(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_overloaded")
	w.Header().Set("retry-after-ms", "5")
	w.WriteHeader(529)
	_, _ = io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
}

func newProvider(t *testing.T, replies ...func(w http.ResponseWriter)) (*claude.Analyzer, *fake) {
	t.Helper()
	f := &fake{t: t, replies: replies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	a, err := claude.New(claude.Config{APIKey: testKey, Model: "claude-test-model", BaseURL: srv.URL, MaxRetries: 2, AttemptTimeout: 5 * time.Second, Budget: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return a, f
}

func sample(t *testing.T) synth.Sample {
	t.Helper()
	s, err := synth.Render(synth.Spec{Seed: 9, Width: 320, Height: 240, Backdrop: synth.White, Shape: synth.Can})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	t.Parallel()
	a, _ := newProvider(t, toolReply(goodInput))
	analyzertest.RunSuite(t, a)
}

func TestReadsLabelsAndRecordsUsage(t *testing.T) {
	t.Parallel()
	a, f := newProvider(t, overloaded, toolReply(goodInput))
	r, err := a.Analyze(t.Context(), sample(t).Image)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	if got := f.calls.Load(); got != 2 {
		t.Errorf("%d calls, want 2 (one 529 retried)", got)
	}
	want := analyzer.Usage{RequestID: "req_ok", InputTokens: 1500, OutputTokens: 220, Attempts: 2}
	if r.Usage != want {
		t.Errorf("usage %+v, want %+v", r.Usage, want)
	}
	if r.Title != "Olive oil tin" || len(r.Texts) != 2 || r.Texts[1].Kind != analyzer.TextLogo {
		t.Errorf("title %q texts %+v", r.Title, r.Texts)
	}
	if r.Scenes[0].SceneID != "kitchen-counter" {
		t.Errorf("first scene %q, want Claude's first choice", r.Scenes[0].SceneID)
	}
	found := false
	for _, c := range r.Scenes[0].Constraints {
		found = found || c == "keep the label text 'OLIVE' unchanged"
	}
	if !found {
		t.Errorf("constraints %q lack the label text", r.Scenes[0].Constraints)
	}
}

func TestOverloadedExhaustsRetries(t *testing.T) {
	t.Parallel()
	a, f := newProvider(t, overloaded)
	_, err := a.Analyze(t.Context(), sample(t).Image)
	if !errors.Is(err, analyzer.ErrUnavailable) {
		t.Fatalf("error %v, want ErrUnavailable", err)
	}
	if got := f.calls.Load(); got != 3 {
		t.Errorf("%d calls, want 3 (two retries)", got)
	}
}

func TestRejectsMalformedOutput(t *testing.T) {
	t.Parallel()
	bad := map[string]any{}
	for k, v := range goodInput {
		bad[k] = v
	}
	bad["palette"] = []map[string]any{{"hex": "olive green", "name": "olive", "share": 2}}
	cases := map[string]func(w http.ResponseWriter){
		"invalid_fields": toolReply(bad),
		"unknown_scene":  toolReply(map[string]any{"title": "x", "category": "y", "suggested_scenes": []string{"moon"}}),
		"not_an_object":  toolReply("just text"),
		"no_tool_call": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"msg_2","type":"message","role":"assistant","model":"claude-test-model","content":[{"type":"text","text":"I think it is a can."}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":5}}`)
		},
	}
	for name, reply := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, _ := newProvider(t, reply)
			_, err := a.Analyze(t.Context(), sample(t).Image)
			if !errors.Is(err, claude.ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
		})
	}
}

func TestClientErrorIsNotRetried(t *testing.T) {
	t.Parallel()
	a, f := newProvider(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}`)
	})
	_, err := a.Analyze(t.Context(), sample(t).Image)
	if err == nil || errors.Is(err, analyzer.ErrUnavailable) {
		t.Fatalf("error %v, want a permanent error", err)
	}
	if got := f.calls.Load(); got != 1 {
		t.Errorf("%d calls, want 1", got)
	}
}
