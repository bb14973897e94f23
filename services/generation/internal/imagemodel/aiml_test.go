package imagemodel_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connectengine/photoshoot/services/generation/internal/imagemodel"
	"github.com/connectengine/photoshoot/services/generation/internal/imagemodel/imagemodeltest"
	"github.com/connectengine/photoshoot/services/generation/internal/imaging"
	"github.com/connectengine/photoshoot/services/generation/internal/studio"
)

const testKey = "test-key"

// fakeAIML answers POST /v1/images/generations the way the AIML API does.
// It draws a faithful product (it is given the suite's mask, as a real model
// sees the product) a few pixels off where it was asked, in the scene, and
// returns odd results by URL and even ones as base64. Before answering it
// replays failures: the statuses in fail, one per call.
type fakeAIML struct {
	t     *testing.T
	mask  *image.Gray
	srv   *httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	fail  []int
	hang  bool
	last  map[string]any
	files sync.Map
	stop  chan struct{}
}

func newFakeAIML(t *testing.T) *fakeAIML {
	t.Helper()
	_, mask := imagemodeltest.Source()
	f := &fakeAIML{t: t, mask: mask, stop: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/images/generations", f.generate)
	mux.HandleFunc("GET /files/{name}", func(w http.ResponseWriter, r *http.Request) {
		b, ok := f.files.Load(r.PathValue("name"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(b.([]byte))
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.stop) }) // runs first: frees hanging handlers
	return f
}

func (f *fakeAIML) client(t *testing.T, callTimeout, budget time.Duration) *imagemodel.AIML {
	t.Helper()
	c, err := imagemodel.NewAIML(imagemodel.AIMLConfig{
		BaseURL: f.srv.URL, APIKey: testKey, CallTimeout: callTimeout, RetryBudget: budget, Backoff: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeAIML) generate(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	// Read the body first: the server notices a client hanging up only
	// once it has.
	data, _ := readAll(r)
	if r.Header.Get("Authorization") != "Bearer "+testKey {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	var status int
	if len(f.fail) > 0 {
		status, f.fail = f.fail[0], f.fail[1:]
	}
	hang := f.hang
	f.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-f.stop:
		}
		return
	}
	if status != 0 {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		http.Error(w, "scripted failure", status)
		return
	}
	var body struct {
		Model       string   `json:"model"`
		Prompt      string   `json:"prompt"`
		ImageURLs   []string `json:"image_urls"`
		AspectRatio string   `json:"aspect_ratio"`
		Resolution  string   `json:"resolution"`
		NumImages   int      `json:"num_images"`
	}
	raw := map[string]any{}
	_ = json.Unmarshal(data, &raw)
	if err := json.Unmarshal(data, &body); err != nil || len(body.ImageURLs) != 1 || body.Model == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.last = raw
	f.mu.Unlock()
	src, err := f.source(body.ImageURLs[0])
	if err != nil {
		http.Error(w, "unreadable image", http.StatusUnprocessableEntity)
		return
	}
	width, height, err := studio.Dimensions(body.AspectRatio, body.Resolution)
	if err != nil {
		http.Error(w, "bad size", http.StatusBadRequest)
		return
	}
	var items []map[string]string
	for i := range body.NumImages {
		// The model answers at a different resolution than asked (as real
		// ones do), which the client must scale back.
		res, err := studio.Render(studio.Request{Source: src, Mask: f.mask, SceneID: "marble", Width: width / 2, Height: height / 2, Seed: int64(i)})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		shifted := image.NewRGBA(res.Image.Rect)
		imaging.Composite(shifted, res.Image, opaque(res.Image.Rect), image.Pt(7, -5))
		var buf bytes.Buffer
		_ = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, shifted)
		if i%2 == 0 {
			items = append(items, map[string]string{"b64_json": base64.StdEncoding.EncodeToString(buf.Bytes())})
			continue
		}
		name := strings.ReplaceAll(time.Now().Format("150405.000000000"), ".", "")
		f.files.Store(name, buf.Bytes())
		items = append(items, map[string]string{"url": f.srv.URL + "/files/" + name})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": items})
}

func (f *fakeAIML) source(u string) (image.Image, error) {
	if enc, ok := strings.CutPrefix(u, "data:image/png;base64,"); ok {
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return nil, err
		}
		return png.Decode(bytes.NewReader(b))
	}
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	return png.Decode(resp.Body)
}

func readAll(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(r.Body)
	return buf.Bytes(), err
}

func opaque(r image.Rectangle) *image.Gray {
	g := image.NewGray(r)
	for i := range g.Pix {
		g.Pix[i] = 255
	}
	return g
}

func TestAIMLContract(t *testing.T) {
	t.Parallel()
	f := newFakeAIML(t)
	imagemodeltest.RunSuite(t, f.client(t, time.Minute, time.Minute))
}

func baseRequest() imagemodel.Request {
	src, mask := imagemodeltest.Source()
	return imagemodel.Request{Source: src, Mask: mask, Prompt: "p", SceneID: "marble", Aspect: "1:1", Size: "1K", N: 1}
}

func TestAIMLRequestShape(t *testing.T) {
	t.Parallel()
	f := newFakeAIML(t)
	req := baseRequest()
	var buf bytes.Buffer
	_ = png.Encode(&buf, req.Source)
	f.files.Store("source", buf.Bytes())
	req.SourceURL = f.srv.URL + "/files/source"
	req.Prompt = "on marble"
	req.Aspect, req.Size, req.N = "16:9", "1K", 2
	imgs, err := f.client(t, time.Minute, time.Minute).Generate(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 || imgs[0].Image.Rect.Size() != image.Pt(1024, 576) {
		t.Fatalf("got %d images of %v", len(imgs), imgs[0].Image.Rect.Size())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := map[string]any{
		"model": imagemodel.DefaultAIMLModel, "prompt": "on marble", "aspect_ratio": "16:9", "resolution": "1K",
		"num_images": float64(2), "image_urls": []any{req.SourceURL},
	}
	for k, v := range want {
		got, _ := json.Marshal(f.last[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("request %s = %s, want %s", k, got, exp)
		}
	}
}

func TestAIMLRetries(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		fail      []int
		budget    time.Duration
		wantErr   error
		wantCalls int32
	}{
		"429_then_ok":        {fail: []int{429, 429}, budget: 5 * time.Second, wantCalls: 3},
		"503_then_ok":        {fail: []int{503}, budget: 5 * time.Second, wantCalls: 2},
		"5xx_beyond_budget":  {fail: []int{500, 502, 503, 500, 500, 500, 500, 500, 500, 500}, budget: 30 * time.Millisecond, wantErr: imagemodel.ErrUnavailable},
		"400_is_not_retried": {fail: []int{400}, budget: 5 * time.Second, wantErr: imagemodel.ErrRejected, wantCalls: 1},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAIML(t)
			f.fail = tt.fail
			_, err := f.client(t, time.Minute, tt.budget).Generate(t.Context(), baseRequest())
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if tt.wantCalls != 0 && f.calls.Load() != tt.wantCalls {
				t.Fatalf("%d calls, want %d", f.calls.Load(), tt.wantCalls)
			}
		})
	}
}

func TestAIMLCallTimeout(t *testing.T) {
	t.Parallel()
	f := newFakeAIML(t)
	f.hang = true
	req := baseRequest()
	req.SourceURL = f.srv.URL + "/files/source" // a small body reaches the server at once
	start := time.Now()
	_, err := f.client(t, time.Second, 2500*time.Millisecond).Generate(t.Context(), req)
	if !errors.Is(err, imagemodel.ErrUnavailable) {
		t.Fatalf("error %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("a hanging provider held the call for %s", d)
	}
	if f.calls.Load() < 2 {
		t.Fatalf("%d calls, want the timed-out call retried", f.calls.Load())
	}
}

func TestAIMLRejectsBadKey(t *testing.T) {
	t.Parallel()
	f := newFakeAIML(t)
	c, _ := imagemodel.NewAIML(imagemodel.AIMLConfig{BaseURL: f.srv.URL, APIKey: "wrong", Backoff: time.Millisecond})
	if _, err := c.Generate(t.Context(), baseRequest()); !errors.Is(err, imagemodel.ErrRejected) {
		t.Fatalf("error %v, want ErrRejected", err)
	}
	if _, err := imagemodel.NewAIML(imagemodel.AIMLConfig{BaseURL: f.srv.URL}); err == nil {
		t.Fatal("a client without a key was made")
	}
}
