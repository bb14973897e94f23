package e2e

import (
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestExportData: start a data export and watch it to the download link.
func TestExportData(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, 3*time.Minute)
	signIn(t, ctx, newEmail("export"))
	open(t, ctx, "/settings")
	do(t, ctx, "start an export", chromedp.Click(chromedp.CSS("[data-export]")))
	waitFor(t, ctx, "the export to finish", `document.querySelector('[data-export-status] .alert-ok a[download]') || document.querySelector('[data-export-status] .alert-error')`, 90*time.Second)
	if failed := eval[string](t, ctx, `(document.querySelector('[data-export-status] .alert-error') || {}).innerText || ''`); failed != "" {
		t.Fatalf("export failed: %s", failed)
	}
	href := eval[string](t, ctx, `document.querySelector('[data-export-status] a[download]').href`)
	status := eval[int](t, ctx, `fetch(`+strconv.Quote(href)+`).then((r) => r.status)`)
	if status != 200 {
		t.Errorf("GET export download %s = %d, want 200", href, status)
	}
}
