package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// shot is one page to photograph and how to tell it has settled.
type shot struct {
	name, path, ready string
}

// TestScreenshots saves every page at desktop (1280×800) and phone
// (375×740) width, full length, under $PHOTOSHOOT_SCREENSHOTS or a
// temporary directory it logs. They are CI output, not committed.
func TestScreenshots(t *testing.T) {
	t.Parallel()
	dir := os.Getenv("PHOTOSHOOT_SCREENSHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "photoshoot-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	ctx := newTab(t, 5*time.Minute)

	settled := ready + ` && document.readyState === 'complete' && ![...document.querySelectorAll('[aria-busy="true"]')].length`
	signedOut := []shot{
		{"landing", "/", settled + ` && [...document.images].every((i) => i.complete)`},
		{"sign-in", "/sign-in", settled},
		{"check-email", "/check-email?email=seller%40example.com", settled},
		{"confirm", "/auth/confirm#token=example", settled},
		{"confirm-no-token", "/auth/confirm", settled + ` && document.querySelector('[data-form-error] .alert')`},
		{"contact", "/contact", settled},
		{"privacy", "/privacy", settled},
		{"terms", "/terms", settled},
		{"api-reference", "/docs/api", settled + ` && document.querySelector('.op')`},
		{"not-found", "/no-such-page", settled},
	}
	for _, s := range signedOut {
		capture(t, ctx, dir, s)
	}

	email := newEmail("screens")
	signIn(t, ctx, email)
	do(t, ctx, "upload a photo for the studio and gallery",
		chromedp.SetUploadFiles(chromedp.CSS("[data-file-input]"), []string{env.fixture}))
	// Best effort: the pages are photographed in whatever state the upload
	// leaves them (an upload refused shows its error state).
	waitFor(t, ctx, "the upload to finish or be refused", `document.querySelector('.upload-item.is-done, .upload-item .alert')`, 30*time.Second)

	signedIn := []shot{
		{"studio", "/studio", settled + ` && document.querySelector('[data-balance-big]').textContent !== '–' && !document.querySelector('[data-scenes]').textContent.includes('Loading') && !document.querySelector('[data-analysis]').textContent.includes('Looking')`},
		{"gallery", "/gallery", settled + ` && (document.querySelector('[data-gallery] li') || document.querySelector('[data-gallery-error] .alert')) && [...document.images].every((i) => i.complete)`},
		{"credits", "/credits", settled + ` && !document.querySelector('[data-history]').textContent.includes('Loading') && !document.querySelector('[data-packs]').textContent.includes('Loading')`},
		{"settings", "/settings", settled + ` && document.querySelector('[data-sessions] .list-item')`},
		{"dev-mailbox", "/dev/mailbox", settled},
		{"contact-signed-in", "/contact", settled},
	}
	for _, s := range signedIn {
		capture(t, ctx, dir, s)
	}
	// The test checkout page, reached the way a buyer reaches it.
	open(t, ctx, "/credits")
	waitFor(t, ctx, "packs", `document.querySelector('.pack button')`, 20*time.Second)
	do(t, ctx, "buy", chromedp.Click(chromedp.CSS(".pack button")))
	waitFor(t, ctx, "the checkout page", `location.pathname.startsWith('/checkout/test/')`, 20*time.Second)
	path := eval[string](t, ctx, `location.pathname`)
	capture(t, ctx, dir, shot{"checkout-test", path, settled})
}

// capture photographs one page at both widths.
func capture(t *testing.T, ctx context.Context, dir string, s shot) {
	t.Helper()
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 800}, {"phone", 375, 740}} {
		do(t, ctx, "open "+s.path,
			chromedp.EmulateViewport(size.w, size.h),
			chromedp.Navigate(env.base+s.path),
		)
		waitFor(t, ctx, s.name+" to settle", s.ready, 20*time.Second)
		if overflow := eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`); overflow {
			t.Errorf("%s is wider than the %s viewport (%dpx): it scrolls sideways", s.name, size.name, size.w)
		}
		img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", s.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, s.name+"-"+size.name+".png"), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, "reset the viewport", chromedp.EmulateViewport(1280, 800))
}
