package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSignInThroughDevMailbox: a newcomer signs in with a magic link from
// the dev mailbox and lands in the studio with trial credits.
func TestSignInThroughDevMailbox(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, 2*time.Minute)
	email := newEmail("signin")
	signIn(t, ctx, email)
	if got := eval[string](t, ctx, `fetch('/v1/me').then((r) => r.json()).then((b) => b.user.email)`); got != email {
		t.Errorf("signed in as %q, want %q", got, email)
	}
	waitFor(t, ctx, "the header to show the signed-in menu", `!document.querySelector('[data-auth="in"]').hidden`, 10*time.Second)

	// The link is single use: opening it again offers the button, and
	// pressing it explains that the link is spent.
	link := eval[string](t, ctx, fmt.Sprintf(`fetch('/dev/mailbox').then((r) => r.text()).then((html) => {
		const doc = new DOMParser().parseFromString(html, 'text/html');
		const mail = [...doc.querySelectorAll('.mail')].find((m) => m.textContent.includes(%q) && m.querySelector('a[href*="/auth/confirm"]'));
		return mail.querySelector('a[href*="/auth/confirm"]').getAttribute('href');
	})`, email))
	do(t, ctx, "reopen the used link", chromedp.Navigate(link))
	waitFor(t, ctx, "the confirm page", ready, 20*time.Second)
	do(t, ctx, "press Sign in again", chromedp.Click(chromedp.CSS("[data-confirm-button]")))
	waitFor(t, ctx, "the expired-link message", `document.querySelector('[data-form-error] .alert-error')`, 10*time.Second)
}

// TestUploadShowsInGalleryAndDelete: upload a photo in the studio, find it
// in the gallery, delete it there after confirming.
func TestUploadShowsInGalleryAndDelete(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, 3*time.Minute)
	signIn(t, ctx, newEmail("upload"))

	do(t, ctx, "choose a photo", chromedp.SetUploadFiles(chromedp.CSS("[data-file-input]"), []string{env.fixture}))
	waitFor(t, ctx, "the upload to finish", `document.querySelector('.upload-item.is-done')`, 30*time.Second)
	id := eval[string](t, ctx, `document.querySelector('[data-source][aria-pressed="true"]').dataset.source`)
	if id == "" {
		t.Fatal("the uploaded photo is not selected as the source")
	}

	// The analysis stores a mask in media; it is not a photo to browse.
	waitFor(t, ctx, "the analysis card", `document.querySelector('.analysis h3')`, 60*time.Second)

	open(t, ctx, "/gallery")
	tile := fmt.Sprintf(`[data-image-id=%q]`, id)
	waitFor(t, ctx, "the upload in the gallery", fmt.Sprintf(`document.querySelector('%s img').complete && document.querySelector('%s img').naturalWidth > 0`, tile, tile), 20*time.Second)
	if n := eval[int](t, ctx, `document.querySelectorAll('[data-image-id]').length`); n != 1 {
		t.Errorf("the gallery shows %d images after one upload, want 1 (no analysis masks)", n)
	}

	do(t, ctx, "select and delete it",
		chromedp.Click(chromedp.CSS(tile+" [data-tile-check]")),
		chromedp.Click(chromedp.CSS("[data-delete-selected]")),
		chromedp.WaitVisible(chromedp.CSS("[data-dialog]")),
	)
	// Cancelling keeps the image.
	do(t, ctx, "cancel the deletion", chromedp.Click(chromedp.CSS("[data-dialog-cancel]")))
	if gone := eval[bool](t, ctx, `document.querySelector('`+tile+`') === null`); gone {
		t.Fatal("cancelling the confirmation deleted the image")
	}
	do(t, ctx, "delete it for real",
		chromedp.Click(chromedp.CSS("[data-delete-selected]")),
		chromedp.WaitVisible(chromedp.CSS("[data-dialog]")),
		chromedp.Click(chromedp.CSS("[data-dialog-ok]")),
	)
	waitFor(t, ctx, "the tile to disappear", `document.querySelector('`+tile+`') === null`, 15*time.Second)
	status := eval[int](t, ctx, fmt.Sprintf(`fetch('/v1/images/%s').then((r) => r.status)`, id))
	if status != 404 {
		t.Errorf("GET /v1/images/%s after delete = %d, want 404", id, status)
	}
}

// TestBuyTestModePack: buy the first pack through the test-mode checkout
// page and see the balance grow by its credits, with the purchase in the
// history.
func TestBuyTestModePack(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, 2*time.Minute)
	signIn(t, ctx, newEmail("credits"))

	open(t, ctx, "/credits")
	waitFor(t, ctx, "the balance and packs", `document.querySelector('[data-available]').textContent !== '–' && document.querySelector('.pack button')`, 20*time.Second)
	before := balance(t, ctx)
	credits := eval[int](t, ctx, `fetch('/v1/billing/packs').then((r) => r.json()).then((b) => Number(b.packs[0].credits))`)

	do(t, ctx, "buy the first pack", chromedp.Click(chromedp.CSS(".pack button")))
	waitFor(t, ctx, "the test checkout page", `location.pathname.startsWith('/checkout/test/') && `+ready, 20*time.Second)
	if text := eval[string](t, ctx, `document.querySelector('[data-checkout]').innerText`); !strings.Contains(text, "Test mode — no card is charged") {
		t.Errorf("checkout page does not say it is test mode: %q", text)
	}
	do(t, ctx, "confirm the test purchase", chromedp.Click(chromedp.CSS("[data-confirm-test]")))
	waitFor(t, ctx, "credits after the purchase", `location.pathname === '/credits' && document.querySelector('[data-available]').textContent !== '–'`, 20*time.Second)
	waitFor(t, ctx, "the new balance", fmt.Sprintf(`Number(document.querySelector('[data-available]').textContent.replace(/[^0-9]/g, '')) === %d`, before+credits), 20*time.Second)
	waitFor(t, ctx, "the purchase in the history", `[...document.querySelectorAll('[data-history-rows] tr')].some((r) => r.textContent.includes('Purchase'))`, 20*time.Second)
}

func balance(t *testing.T, ctx context.Context) int {
	t.Helper()
	s := eval[string](t, ctx, `document.querySelector('[data-available]').textContent.replace(/[^0-9]/g, '')`)
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("balance %q is not a number", s)
	}
	return n
}

// TestSettings: profile, API key (secret shown once, then revoked), and
// the session list with the current browser marked.
func TestSettings(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, 2*time.Minute)
	signIn(t, ctx, newEmail("settings"))

	open(t, ctx, "/settings")
	if !eval[bool](t, ctx, `matchMedia('(prefers-reduced-motion: reduce)').matches`) {
		t.Fatal("the test browser does not prefer reduced motion: clicks may land mid smooth-scroll")
	}
	waitFor(t, ctx, "sessions and keys", `document.querySelector('[data-sessions] .list-item') && !document.querySelector('[data-keys]').textContent.includes('Loading')`, 20*time.Second)
	if current := eval[bool](t, ctx, `[...document.querySelectorAll('[data-sessions] .badge')].some((b) => b.textContent === 'This browser')`); !current {
		t.Error("the session list does not mark this browser")
	}

	do(t, ctx, "save a display name",
		chromedp.SendKeys(chromedp.CSS("#display-name"), "Ada Seller"),
		chromedp.Click(chromedp.CSS("[data-profile-form] button[type=submit]")),
	)
	waitFor(t, ctx, "the saved name", `fetch('/v1/me').then((r) => r.json()).then((b) => b.user.displayName === 'Ada Seller')`, 15*time.Second)

	do(t, ctx, "create an API key",
		chromedp.SendKeys(chromedp.CSS("#key-name"), "e2e key"),
		chromedp.Click(chromedp.CSS("[data-key-form] button[type=submit]")),
	)
	waitFor(t, ctx, "the new key's secret", `document.querySelector('[data-secret]') && document.querySelector('[data-key-list]')`, 15*time.Second)
	secret := eval[string](t, ctx, `document.querySelector('[data-secret]').textContent`)
	if len(secret) < 10 || secret[:3] != "ps_" {
		t.Errorf("shown secret %q does not look like an API key", secret)
	}
	// The key works as a bearer token (from Go, as an API client would).
	if code := bearerStatus(t, secret, "/v1/me"); code != 200 {
		t.Errorf("GET /v1/me with the new key = %d, want 200", code)
	}
	open(t, ctx, "/settings")
	waitFor(t, ctx, "the key list", `document.querySelector('[data-key-list]')`, 15*time.Second)
	if shown := eval[bool](t, ctx, `document.body.innerText.includes(`+strconv.Quote(secret)+`)`); shown {
		t.Error("the secret is shown again after a reload")
	}
	do(t, ctx, "revoke the key",
		chromedp.Click(chromedp.CSS("[data-key-list] button")),
		chromedp.WaitVisible(chromedp.CSS("[data-dialog]")),
		chromedp.Click(chromedp.CSS("[data-dialog-ok]")),
	)
	waitFor(t, ctx, "the key list to empty", `!document.querySelector('[data-key-list]') && document.querySelector('[data-keys]').textContent.includes('No API keys')`, 15*time.Second)
	// The gateway caches a credential's access token for a few seconds, so
	// a revoked key stops working within that window, not at once.
	deadline := time.Now().Add(15 * time.Second)
	for code := bearerStatus(t, secret, "/v1/me"); code != http.StatusUnauthorized; code = bearerStatus(t, secret, "/v1/me") {
		if time.Now().After(deadline) {
			t.Fatalf("GET /v1/me with the revoked key = %d after 15s, want 401", code)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestDeleteAccount: the typed confirmation gates the button; deleting
// signs out and the session stops working.
func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, 2*time.Minute)
	signIn(t, ctx, newEmail("delete"))
	open(t, ctx, "/settings")
	do(t, ctx, "type part of the confirmation",
		chromedp.SendKeys(chromedp.CSS("#delete-confirm"), "delete my"),
	)
	if enabled := eval[bool](t, ctx, `!document.querySelector('[data-delete-button]').disabled`); enabled {
		t.Fatal("the delete button is enabled before the confirmation is typed in full")
	}
	do(t, ctx, "type the rest and delete",
		chromedp.SendKeys(chromedp.CSS("#delete-confirm"), " account"),
		chromedp.Click(chromedp.CSS("[data-delete-button]")),
	)
	waitFor(t, ctx, "the goodbye notice", `location.pathname === '/' && document.querySelector('[data-notice] .alert-ok')`, 30*time.Second)
	waitFor(t, ctx, "the session to end", `fetch('/v1/me').then((r) => r.status === 401)`, 20*time.Second)
}

// bearerStatus calls the API as an API client would, with a key.
func bearerStatus(t *testing.T, key, path string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, env.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
