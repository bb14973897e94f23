// Package web is the browser half of the gateway: the app's pages (Go
// templates rendered once per request around a shared layout), its static
// assets (CSS, JavaScript modules, sample images; all embedded, no CDN) and
// the dev-only mailbox page. The pages are shells: each loads one module
// that talks to the REST API with the session cookie, so the API stays the
// only contract between the app and the services.
//
// Every page obeys the gateway's strict Content-Security-Policy: no inline
// scripts, no inline event handlers, no style attributes. Configuration the
// scripts need (analytics ids, dev mode) travels in <meta> tags.
package web

//go:generate go run ./samplegen static/img

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the web app.
type Options struct {
	// DevMode serves /dev/mailbox and points the "check your email" page at it.
	DevMode bool
	// PublicURL is the app's public origin, e.g. https://studio.example.
	PublicURL string
	// GAMeasurementID and GTMID switch on Google Analytics 4 and Google Tag
	// Manager. The tags load only after the visitor allows analytics
	// cookies, and the cookie banner appears only when one is set (with
	// neither, the app sets essential cookies only and has nothing to ask).
	GAMeasurementID, GTMID string
	// Account lists the dev mailbox (ListDevMail). The connection must add
	// the gateway's service credential; the call is made only in DevMode.
	Account accountv1.AccountServiceClient
	// Logger receives errors the pages cannot show.
	Logger *slog.Logger
}

// Tag hosts Google's tags load from and report to.
const (
	tagScriptHost = "https://www.googletagmanager.com"
)

var (
	gaIDPattern  = regexp.MustCompile(`^G-[A-Z0-9]{4,20}$`)
	gtmIDPattern = regexp.MustCompile(`^GTM-[A-Z0-9]{4,20}$`)
)

// ScriptHosts are the origins the Content-Security-Policy must allow, for
// scripts and for their beacons, when analytics is configured; none
// otherwise, so an unconfigured deployment allows only its own scripts.
func ScriptHosts(opt Options) []string {
	if opt.GAMeasurementID == "" && opt.GTMID == "" {
		return nil
	}
	return []string{
		tagScriptHost,
		"https://www.google-analytics.com",
		"https://*.google-analytics.com",
		"https://*.analytics.google.com",
	}
}

// page is one route of the app.
type page struct {
	// path is the ServeMux pattern's path.
	path string
	// name picks templates/<name>.html and static/js/pages/<name>.js.
	name  string
	title string
	// app pages need a signed-in user; their scripts send visitors to
	// sign-in, and search engines are asked not to index them.
	app bool
}

var pages = []page{
	{path: "/{$}", name: "landing", title: "Studio product photos from one snapshot"},
	{path: "/sign-in", name: "sign-in", title: "Sign in"},
	{path: "/check-email", name: "check-email", title: "Check your email"},
	{path: "/auth/confirm", name: "confirm", title: "Confirm sign-in"},
	{path: "/studio", name: "studio", title: "Studio", app: true},
	{path: "/gallery", name: "gallery", title: "Gallery", app: true},
	{path: "/credits", name: "credits", title: "Credits", app: true},
	{path: "/checkout/test/{purchaseID}", name: "checkout-test", title: "Test checkout", app: true},
	{path: "/settings", name: "settings", title: "Settings", app: true},
	{path: "/contact", name: "contact", title: "Contact us"},
	{path: "/privacy", name: "privacy", title: "Privacy policy"},
	{path: "/terms", name: "terms", title: "Terms of service"},
	{path: "/docs/api", name: "api", title: "API reference"},
}

// view is what every template sees.
type view struct {
	Title, Page string
	App         bool
	DevMode     bool
	PublicURL   string
	GAID, GTMID string
	Year        int
	// Assets maps a static path to its cache-busting URL.
	Assets map[string]string
	// Data is the page's own data (the mailbox).
	Data any
}

// Asset returns the versioned URL of a static file.
func (v view) Asset(name string) string {
	if u, ok := v.Assets[name]; ok {
		return u
	}
	return "/static/" + name
}

// handler serves the app.
type handler struct {
	opt       Options
	templates map[string]*template.Template
	assets    map[string]asset
	versions  map[string]string
	mux       *http.ServeMux
}

type asset struct {
	body        []byte
	etag        string
	contentType string
}

// NewHandler serves every path the REST API does not: the pages, /static/*
// and, in DevMode, /dev/mailbox. Unknown paths get the app's 404 page.
func NewHandler(opt Options) (http.Handler, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.GAMeasurementID != "" && !gaIDPattern.MatchString(opt.GAMeasurementID) {
		return nil, fmt.Errorf("GA measurement id %q: want G-XXXXXXX", opt.GAMeasurementID)
	}
	if opt.GTMID != "" && !gtmIDPattern.MatchString(opt.GTMID) {
		return nil, fmt.Errorf("GTM id %q: want GTM-XXXXXXX", opt.GTMID)
	}
	if opt.DevMode && opt.Account == nil {
		return nil, errors.New("dev mode needs the account client for the dev mailbox")
	}
	h := &handler{opt: opt, templates: map[string]*template.Template{}, mux: http.NewServeMux()}
	if err := h.loadAssets(); err != nil {
		return nil, err
	}
	layout, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	names := []string{"not-found", "mailbox"}
	for _, p := range pages {
		names = append(names, p.name)
	}
	for _, name := range names {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		h.templates[name] = t
	}
	for _, p := range pages {
		h.mux.HandleFunc("GET "+p.path, func(w http.ResponseWriter, r *http.Request) {
			h.render(w, r, http.StatusOK, p, nil)
		})
	}
	h.mux.HandleFunc("GET /static/", h.static)
	h.mux.HandleFunc("GET /dev/mailbox", h.mailbox)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.notFound(w, r)
	})
	return h.mux, nil
}

// loadAssets reads every static file once and gives it a content hash, so
// pages link to /static/x.css?v=<hash>; browsers revalidate with ETags.
func (h *handler) loadAssets() error {
	h.assets = map[string]asset{}
	h.versions = map[string]string{}
	return fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		sum := sha256.Sum256(body)
		tag := hex.EncodeToString(sum[:6])
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		rel := strings.TrimPrefix(p, "static/")
		h.assets[rel] = asset{body: body, etag: `"` + tag + `"`, contentType: ct}
		h.versions[rel] = "/static/" + rel + "?v=" + tag
		return nil
	})
}

func (h *handler) static(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[strings.TrimPrefix(r.URL.Path, "/static/")]
	if !ok {
		h.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", a.etag)
	if r.URL.Query().Get("v") != "" {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusNotFound, page{name: "not-found", title: "Page not found"}, nil)
}

func (h *handler) render(w http.ResponseWriter, r *http.Request, code int, p page, data any) {
	v := view{
		Title: p.title, Page: p.name, App: p.app,
		DevMode: h.opt.DevMode, PublicURL: h.opt.PublicURL,
		Year: time.Now().Year(), Assets: h.versions, Data: data,
	}
	if h.opt.GAMeasurementID != "" || h.opt.GTMID != "" {
		v.GAID, v.GTMID = h.opt.GAMeasurementID, h.opt.GTMID
	}
	var buf bytes.Buffer
	if err := h.templates[p.name].ExecuteTemplate(&buf, "layout", v); err != nil {
		h.opt.Logger.ErrorContext(r.Context(), "render page", "page", p.name, "error", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-cache")
	if p.app || p.name == "confirm" || p.name == "mailbox" {
		hd.Set("X-Robots-Tag", "noindex")
		hd.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
