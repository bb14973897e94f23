package media_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/connectengine/photoshoot/gateway/internal/media"
	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/events/eventstest"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	"github.com/connectengine/photoshoot/pkg/rpc"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"

	"github.com/connectengine/photoshoot/pkg/freeport"
)

// The media service runs as its own process, built once per test binary
// from services/media, as in production: the gateway cannot import its
// internal packages, and a separate process lets the benchmark measure
// each side's memory.
var (
	buildOnce sync.Once
	mediaBin  string
	buildErr  error
)

// TestMain removes the built binary when the tests end.
func TestMain(m *testing.M) {
	code := m.Run()
	if mediaBin != "" {
		_ = os.RemoveAll(filepath.Dir(mediaBin))
	}
	os.Exit(code)
}

func mediaBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "services", "media")
		out, err := os.MkdirTemp("", "media-bin-")
		if err != nil {
			buildErr = err
			return
		}
		mediaBin = filepath.Join(out, "media")
		cmd := exec.Command("go", "build", "-o", mediaBin, "./cmd/media")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build media: %v\n%s", err, b)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return mediaBin
}

// keys serves account's GetSigningKeys, the one account RPC media calls.
type keys struct {
	accountv1.UnimplementedAccountServiceServer
	key authn.PublicKey
}

func (k *keys) GetSigningKeys(context.Context, *accountv1.GetSigningKeysRequest) (*accountv1.GetSigningKeysResponse, error) {
	return &accountv1.GetSigningKeysResponse{Keys: []*accountv1.SigningKey{{Kid: k.key.KID, PublicKey: k.key.Key}}}, nil
}

// env is a media process behind the handler under test.
type env struct {
	gateway  *httptest.Server
	client   mediav1.MediaServiceClient
	signer   *authn.Signer
	mediaDir string
	pid      int
	// bodyRead counts the request body bytes the handler consumed.
	bodyRead atomic.Int64
}

func start(t testing.TB) *env {
	t.Helper()
	bin := mediaBinary(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := authn.NewSigner("k1", priv, platform.TokenIssuer, platform.TokenAudience, authn.MaxTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	acctLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acct := grpc.NewServer()
	accountv1.RegisterAccountServiceServer(acct, &keys{key: signer.PublicKey()})
	go func() { _ = acct.Serve(acctLis) }()
	t.Cleanup(acct.Stop)

	secret := randomHex()
	e := &env{signer: signer, mediaDir: t.TempDir()}
	addr := freeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"DATABASE_URL=" + postgrestest.NewDatabase(t),
		"NATS_URL=" + eventstest.New(t).URL(),
		"ACCOUNT_ADDR=" + acctLis.Addr().String(),
		"GRPC_ADDR=" + addr,
		"SERVICE_AUTH_SECRET=" + secret,
		"MEDIA_SIGNING_KEY=" + randomHex(),
		"MEDIA_DIR=" + e.mediaDir,
		"MEDIA_TMP_DIR=" + t.TempDir(),
		"PUBLIC_URL=http://photos.test",
		"LOG_FORMAT=text",
		"HOME=" + os.Getenv("HOME"),
		"PATH=" + os.Getenv("PATH"),
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.pid = cmd.Process.Pid
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("media logs:\n%s", logs.String())
		}
	})
	raw, _ := hex.DecodeString(secret)
	token, err := authn.NewServiceToken(raw, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.Dial(addr, rpc.ClientOptions{Service: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	waitServing(t, healthpb.NewHealthClient(conn))
	e.client = mediav1.NewMediaServiceClient(conn)

	h := media.NewHandler(e.client, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/images", func(w http.ResponseWriter, r *http.Request) {
		r.Body = &countingBody{ReadCloser: r.Body, n: &e.bodyRead}
		h.Upload(w, r)
	})
	mux.HandleFunc("GET /v1/images/{image_id}/content", h.Content)
	mux.HandleFunc("GET /v1/images/{image_id}/thumbnail", h.Content)
	e.gateway = httptest.NewServer(mux)
	t.Cleanup(e.gateway.Close)
	return e
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func randomHex() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freeAddr finds a free port for the media process. Another process could
// take it before media binds it; start then fails visibly rather than
// flakily passing.
func freeAddr(t testing.TB) string {
	t.Helper()
	port, err := freeport.Pick(nil)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func waitServing(t testing.TB, h healthpb.HealthClient) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	t.Fatal("media never became SERVING")
}

func (e *env) token(t testing.TB, userID string) string {
	t.Helper()
	tok, err := e.signer.Sign(authn.Caller{UserID: userID}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

func (e *env) do(t testing.TB, method, path, auth string, body io.Reader, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, e.gateway.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := body.(*os.File); ok {
		// A file goes with its length, as browsers and curl send it.
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = st.Size()
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// readBody reads and closes a response body.
func readBody(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blobFiles lists files under the media directory.
func (e *env) blobFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(e.mediaDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// procStatus reads a field in kB from /proc/<pid>/status.
func procStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// cpuTime is the CPU time (user + system) a process has used so far, from
// /proc/<pid>/stat, at the kernel's 10 ms clock-tick resolution.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name (which may hold spaces), from field 3.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return -1
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// resetPeak resets a process's peak RSS (VmHWM) to its current RSS.
func resetPeak(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// Fixtures, built in code (the media module's phototest is internal to it).

func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(x), uint8(y), 128, 255}
			if x < w/2 && y < h/2 {
				c = color.RGBA{255, 0, 0, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func jpegOf(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, gradient(w, h), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngOf(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, gradient(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
