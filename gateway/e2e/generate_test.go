package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	_ "image/jpeg"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestGenerateJourney: upload → see the analysis → generate 2 variants in
// a scene → watch progress → results with fidelity scores → download one
// and check it decodes at the asked size → the balance paid for exactly
// what was produced.
func TestGenerateJourney(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, 5*time.Minute)
	signIn(t, ctx, newEmail("generate"))
	waitFor(t, ctx, "the balance", `document.querySelector('[data-balance-big]').textContent !== '–'`, 20*time.Second)
	before := eval[int](t, ctx, `Number(document.querySelector('[data-balance-big]').textContent.replace(/[^0-9]/g, ''))`)

	do(t, ctx, "upload a photo", chromedp.SetUploadFiles(chromedp.CSS("[data-file-input]"), []string{env.fixture}))
	waitFor(t, ctx, "the upload", `document.querySelector('.upload-item.is-done')`, 30*time.Second)
	waitFor(t, ctx, "the analysis card", `document.querySelector('[data-analysis] .analysis dl')`, 60*time.Second)
	waitFor(t, ctx, "scenes", `document.querySelector('[data-scenes] input[name=sceneId]')`, 20*time.Second)

	do(t, ctx, "choose 2 variants, 1:1, 1K and generate",
		chromedp.Click(chromedp.CSS(`[data-scenes] .scene:first-child label`)),
		chromedp.SetValue(chromedp.CSS("#variants"), "2"),
		chromedp.SetValue(chromedp.CSS("#aspect"), "1:1"),
		chromedp.SetValue(chromedp.CSS("#size"), "1K"),
	)
	if cost := eval[string](t, ctx, `document.querySelector('[data-cost]').innerText`); !bytes.Contains([]byte(cost), []byte("2 credits")) {
		t.Errorf("cost before submit = %q, want it to say 2 credits", cost)
	}
	do(t, ctx, "generate", chromedp.Click(chromedp.CSS("[data-generate-button]")))
	waitFor(t, ctx, "a job card with progress", `document.querySelector('[data-job] .progress-bar, [data-job] .results-grid')`, 20*time.Second)
	waitFor(t, ctx, "both results", `document.querySelectorAll('[data-job] [data-output]').length === 2`, 3*time.Minute)
	scores := eval[[]float64](t, ctx, `[...document.querySelectorAll('[data-job] [data-fidelity]')].map((b) => Number(b.dataset.fidelity))`)
	if len(scores) != 2 {
		t.Fatalf("fidelity scores shown = %v, want 2", scores)
	}
	for _, s := range scores {
		if s <= 0 || s > 1 {
			t.Errorf("fidelity score %v outside (0, 1]", s)
		}
	}

	href := eval[string](t, ctx, `document.querySelector('[data-job] [data-download="jpeg"]').href`)
	b64 := eval[string](t, ctx, fmt.Sprintf(`fetch(%s).then((r) => r.arrayBuffer()).then((b) => {
		let s = ''; new Uint8Array(b).forEach((c) => { s += String.fromCharCode(c); }); return btoa(s);
	})`, strconv.Quote(href)))
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the downloaded image does not decode: %v", err)
	}
	if format != "jpeg" || cfg.Width != 1024 || cfg.Height != 1024 {
		t.Errorf("download = %s %d×%d, want jpeg 1024×1024 (1K, 1:1)", format, cfg.Width, cfg.Height)
	}
	waitFor(t, ctx, "the balance after capture", fmt.Sprintf(`Number(document.querySelector('[data-balance-big]').textContent.replace(/[^0-9]/g, '')) === %d`, before-2), 20*time.Second)
}
