// Package edge holds the gateway's HTTP middleware: request ids, security
// headers, body caps, per-request timeouts, compression, rate limits and
// route names for telemetry.
// Each is a plain func(http.Handler) http.Handler, composed in app.
package edge

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"
)

// RequestID gives every request an id: the caller's X-Request-Id when it is
// sane (8 to 128 of A-Z a-z 0-9 . _ : -), a fresh one otherwise. It is
// echoed in the response, recorded on the span and forwarded to the
// services.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header()["X-Request-Id"] = []string{id}
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("http.request_id", id))
		next.ServeHTTP(w, r)
	})
}

func saneRequestID(id string) bool {
	if len(id) < 8 || len(id) > 128 {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID is 24 hex digits from math/rand/v2's per-thread ChaCha8
// generator: unpredictable enough for an id that is no secret, and no
// system call per request.
func newRequestID() string {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint32(b[8:], rand.Uint32())
	return hex.EncodeToString(b[:])
}

// SecurityOptions shape the security headers.
type SecurityOptions struct {
	// HSTS sends Strict-Transport-Security (https deployments outside dev).
	HSTS bool
	// ScriptHosts are extra script origins, e.g. Google's tag hosts when
	// analytics is configured.
	ScriptHosts []string
	// ConnectHosts are extra fetch/XHR origins (analytics beacons).
	ConnectHosts []string
}

// Security sets the headers every response carries: a Content-Security-
// Policy that allows only our own scripts (plus the configured tag hosts),
// no framing, no MIME sniffing, a strict referrer policy, and HSTS outside
// dev.
func Security(opt SecurityOptions) func(http.Handler) http.Handler {
	script := strings.Join(append([]string{"'self'"}, opt.ScriptHosts...), " ")
	connect := strings.Join(append([]string{"'self'"}, opt.ConnectHosts...), " ")
	csp := "default-src 'self'; script-src " + script + "; connect-src " + connect +
		"; img-src 'self' data: blob:; style-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
	// The values are built once and shared by every response; each slice
	// is full (len == cap), so a handler that adds a value gets a copy.
	headers := []header{
		{"Content-Security-Policy", []string{csp}},
		{"X-Content-Type-Options", []string{"nosniff"}},
		{"X-Frame-Options", []string{"DENY"}},
		{"Referrer-Policy", []string{"strict-origin-when-cross-origin"}},
		{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
	}
	if opt.HSTS {
		headers = append(headers, header{"Strict-Transport-Security", []string{"max-age=31536000; includeSubDomains"}})
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for _, kv := range headers {
				h[kv.key] = kv.value
			}
			next.ServeHTTP(w, r)
		})
	}
}

// header is one response header with its value, canonical key first.
type header struct {
	key   string
	value []string
}

// LimitBody caps request bodies; a larger one fails to read, and
// grpc-gateway answers 400 (the upload route has its own, larger cap).
func LimitBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				_, _ = w.Write([]byte(`{"code":3,"message":"request body too large","details":[]}`))
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Timeout bounds a request's work: its context ends after d, which cancels
// the gRPC call behind it (a deadline grpc-gateway passes on).
func Timeout(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// NewCompressor gzips text responses (JSON, HTML, CSS, JS) for clients
// that accept it; image bytes and server-sent events are left alone.
func NewCompressor() (func(http.Handler) http.Handler, error) {
	wrap, err := gzhttp.NewWrapper(gzhttp.MinSize(1024), gzhttp.ContentTypes([]string{
		"application/json", "text/html", "text/css", "text/plain", "application/javascript", "text/javascript", "image/svg+xml",
	}))
	if err != nil {
		return nil, err
	}
	return func(h http.Handler) http.Handler { return wrap(h) }, nil
}

// Limiter is a per-key token bucket (per IP, per user) for the expensive
// routes. It is per gateway replica: a coarse shield in front of the
// services' own, durable limits.
type Limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewLimiter allows perMinute requests a minute per key, in bursts of burst.
func NewLimiter(perMinute float64, burst int) *Limiter {
	return &Limiter{rate: rate.Limit(perMinute / 60), burst: burst, buckets: map[string]*bucket{}}
}

// Allow takes a token for key, or says how long until one is available.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// RateLimit refuses a request with 429 and Retry-After when any of the keys
// the function returns (e.g. "ip:1.2.3.4", "user:…") is out of tokens.
func RateLimit(l *Limiter, keys func(*http.Request) []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, k := range keys(r) {
				if ok, wait := l.Allow(k); !ok {
					secs := int(wait.Seconds()) + 1
					w.Header().Set("Retry-After", strconv.Itoa(secs))
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusTooManyRequests)
					_, _ = w.Write([]byte(`{"code":8,"message":"too many requests, slow down","details":[]}`))
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Chain applies middleware so that the first listed runs first.
func Chain(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// SetRoute names the route that served r: the http.route attribute of
// otelhttp's request metrics and, as semantic conventions want, the span
// name "METHOD route". otelhttp reads r.Pattern only from the request it
// handed on, which the middleware here replace with copies; the labeler it
// puts in the context is shared by all of them. The first, most specific
// name wins, so call it innermost first.
func SetRoute(r *http.Request, route string) {
	l, ok := otelhttp.LabelerFromContext(r.Context())
	if !ok || route == "" {
		return
	}
	for _, kv := range l.Get() {
		if kv.Key == semconv.HTTPRouteKey {
			return
		}
	}
	l.Add(semconv.HTTPRoute(route))
	trace.SpanFromContext(r.Context()).SetName(r.Method + " " + route)
}

// Routes wraps a ServeMux so that the pattern it matched becomes the
// request's route (see SetRoute), without the pattern's method: the
// pattern "GET /v1/images/{image_id}/content" is the route
// "/v1/images/{image_id}/content". Every route is a fixed pattern, never a
// raw path, so the metrics' label values stay few.
func Routes(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		p := r.Pattern
		if i := strings.IndexByte(p, ' '); i >= 0 {
			p = p[i+1:]
		}
		SetRoute(r, p)
	})
}
