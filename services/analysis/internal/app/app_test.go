package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"image/png"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/events/eventstest"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/platform/platformtest"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	"github.com/connectengine/photoshoot/pkg/rpc"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/synth"
	"github.com/connectengine/photoshoot/services/analysis/internal/app"

	"github.com/connectengine/photoshoot/pkg/freeport"
)

// env is the real analysis app in-process and the real media binary as a
// process, sharing an embedded NATS; a small gRPC server stands in for
// account's key endpoint so media can verify user tokens.
type env struct {
	analysis analysisv1.AnalysisServiceClient
	media    mediav1.MediaServiceClient
	signer   *authn.Signer
	js       jetstream.JetStream
}

func TestConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"DATABASE_URL": "postgres://x", "NATS_URL": "nats://x", "ACCOUNT_ADDR": "a:1", "MEDIA_ADDR": "m:1",
		"SERVICE_AUTH_SECRET": hex.EncodeToString(make([]byte, 32)),
	}
	cases := []struct {
		name string
		env  map[string]string
		want string // analyser, or "" for an error
	}{
		{"key_means_claude", map[string]string{"ANTHROPIC_API_KEY": "k"}, app.AnalyzerClaude},
		{"no_key_in_production_fails", nil, ""},
		{"no_key_in_dev_mode_is_local", map[string]string{"DEV_MODE": "1"}, app.AnalyzerLocal},
		{"explicit_local", map[string]string{"ANALYZER": "local"}, app.AnalyzerLocal},
		{"explicit_local_wins_over_key", map[string]string{"ANALYZER": "local", "ANTHROPIC_API_KEY": "k"}, app.AnalyzerLocal},
		{"claude_without_key_fails", map[string]string{"ANALYZER": "claude", "DEV_MODE": "1"}, ""},
		{"unknown_analyzer_fails", map[string]string{"ANALYZER": "magic", "DEV_MODE": "1"}, ""},
		{"bad_base_url_fails", map[string]string{"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "nope"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := app.LoadConfig(func(k string) string {
				if v, ok := c.env[k]; ok {
					return v
				}
				return base[k]
			})
			if c.want == "" {
				if err == nil {
					t.Errorf("no error, analyser %q", cfg.Analyzer)
				}
				return
			}
			if err != nil || cfg.Analyzer != c.want {
				t.Errorf("analyser %q, error %v; want %q", cfg.Analyzer, err, c.want)
			}
		})
	}
}

func TestAnalysisService(t *testing.T) {
	t.Parallel()
	e := start(t)

	sample, err := synth.Render(synth.Spec{Seed: 42, Width: 480, Height: 360, Backdrop: synth.Grey, Shape: synth.Bottle})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, sample.Image); err != nil {
		t.Fatal(err)
	}
	img := e.upload(t, "user-a", buf.Bytes())

	// The upload event triggers the analysis; no one asks for it.
	got := e.waitAnalysis(t, "user-a", img.GetId())
	if got.GetProvider() != "local" || got.GetTitle() == "" || got.GetBackground().GetKind() == analysisv1.BackgroundKind_BACKGROUND_KIND_UNSPECIFIED {
		t.Errorf("analysis %v", got)
	}
	if n := len(got.GetSuggestedScenes()); n != len(analyzer.SceneIDs()) {
		t.Errorf("%d scenes, want a prompt for each of %d", n, len(analyzer.SceneIDs()))
	}
	if b := got.GetBoundingBox(); b.GetWidth() == 0 || b.GetHeight() == 0 {
		t.Errorf("empty bounding box %v", b)
	}
	mask, err := e.media.GetImage(e.as(t, "user-a"), &mediav1.GetImageRequest{ImageId: got.GetMaskImageId()})
	if err != nil {
		t.Fatalf("mask image: %v", err)
	}
	if mask.GetImage().GetKind() != mediav1.ImageKind_IMAGE_KIND_MASK || mask.GetImage().GetParentImageId() != img.GetId() ||
		mask.GetImage().GetWidth() != 480 || mask.GetImage().GetHeight() != 360 {
		t.Errorf("mask image %v", mask.GetImage())
	}
	var completed eventsv1.AnalysisCompleted
	waitEvent(t, e.js, events.StreamAnalysis, events.SubjectAnalysisCompleted, &completed, func() bool { return completed.GetImageId() == img.GetId() })
	if !completed.GetSucceeded() || completed.GetUserId() != "user-a" || completed.GetAnalysisId() != got.GetId() {
		t.Errorf("completed event %v", &completed)
	}

	// Cached: asking again returns the same analysis.
	again, err := e.analysis.AnalyzeImage(e.as(t, "user-a"), &analysisv1.AnalyzeImageRequest{ImageId: img.GetId()})
	if err != nil || again.GetAnalysis().GetId() != got.GetId() {
		t.Errorf("AnalyzeImage again: %v, %v; want cached %s", again.GetAnalysis().GetId(), err, got.GetId())
	}
	// Requests racing the upload's consumer (the studio asks as soon as an
	// upload is done) share one analysis: the same id and mask for all, and
	// one mask stored.
	sample2, err := synth.Render(synth.Spec{Seed: 43, Width: 320, Height: 240, Backdrop: synth.White, Shape: synth.Box})
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := png.Encode(&buf, sample2.Image); err != nil {
		t.Fatal(err)
	}
	second := e.upload(t, "user-a", buf.Bytes())
	const racers = 4
	results := make(chan string, racers)
	for range racers {
		go func() {
			resp, err := e.analysis.AnalyzeImage(e.as(t, "user-a"), &analysisv1.AnalyzeImageRequest{ImageId: second.GetId()})
			if err != nil {
				results <- err.Error()
				return
			}
			results <- resp.GetAnalysis().GetId() + " mask " + resp.GetAnalysis().GetMaskImageId()
		}()
	}
	seen := map[string]int{}
	for range racers {
		seen[<-results]++
	}
	if len(seen) != 1 {
		t.Errorf("racing AnalyzeImage calls saw different analyses: %v", seen)
	}
	masks, err := e.media.ListImages(e.as(t, "user-a"), &mediav1.ListImagesRequest{Kind: mediav1.ImageKind_IMAGE_KIND_MASK, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range masks.GetImages() {
		if m.GetParentImageId() == second.GetId() {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d masks stored for one image, want 1", n)
	}

	// Deleting the photo deletes what was learnt of it: media deletes the
	// mask with the image, analysis its analysis on media's event.
	var maskID string
	for id := range seen {
		_, maskID, _ = strings.Cut(id, " mask ")
	}
	if _, err := e.media.DeleteImage(e.as(t, "user-a"), &mediav1.DeleteImageRequest{ImageId: second.GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.media.GetImage(e.as(t, "user-a"), &mediav1.GetImageRequest{ImageId: maskID}); status.Code(err) != codes.NotFound {
		t.Errorf("mask after its image was deleted: %v, want NotFound", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.analysis.GetAnalysis(e.as(t, "user-a"), &analysisv1.GetAnalysisRequest{ImageId: second.GetId()})
		if status.Code(err) == codes.NotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("analysis of a deleted image still there: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an outcome
	}

	// Ownership: another user sees nothing, a stranger is turned away.
	if _, err := e.analysis.GetAnalysis(e.as(t, "user-b"), &analysisv1.GetAnalysisRequest{ImageId: img.GetId()}); status.Code(err) != codes.NotFound {
		t.Errorf("other user's GetAnalysis: %v, want NotFound", err)
	}
	if _, err := e.analysis.AnalyzeImage(e.as(t, "user-b"), &analysisv1.AnalyzeImageRequest{ImageId: img.GetId()}); status.Code(err) != codes.NotFound {
		t.Errorf("other user's AnalyzeImage: %v, want NotFound", err)
	}
	if _, err := e.analysis.AnalyzeImage(e.as(t, "user-a"), &analysisv1.AnalyzeImageRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("AnalyzeImage without id: %v, want InvalidArgument", err)
	}
	if _, err := e.analysis.GetAnalysis(t.Context(), &analysisv1.GetAnalysisRequest{ImageId: img.GetId()}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("anonymous GetAnalysis: %v, want Unauthenticated", err)
	}

	// Internal reads for generation and account.
	fetched, err := e.analysis.FetchAnalysis(t.Context(), &analysisv1.FetchAnalysisRequest{UserId: "user-a", ImageId: img.GetId()})
	if err != nil || fetched.GetAnalysis().GetId() != got.GetId() {
		t.Errorf("FetchAnalysis: %v, %v", fetched.GetAnalysis().GetId(), err)
	}
	if _, err := e.analysis.FetchAnalysis(t.Context(), &analysisv1.FetchAnalysisRequest{UserId: "user-b", ImageId: img.GetId()}); status.Code(err) != codes.NotFound {
		t.Errorf("FetchAnalysis for the wrong user: %v, want NotFound", err)
	}
	export, err := e.analysis.ExportUserData(t.Context(), &analysisv1.ExportUserDataRequest{UserId: "user-a"})
	if err != nil || len(export.GetAnalyses()) != 1 {
		t.Fatalf("export: %d analyses, %v", len(export.GetAnalyses()), err)
	}

	// Account deletion: everything goes, confirmed by event.
	payload, _ := proto.Marshal(&eventsv1.UserDeleted{UserId: "user-a", DeletionId: "del-7"})
	if _, err := e.js.Publish(t.Context(), events.SubjectUserDeleted, payload, jetstream.WithMsgID("0190b5d6-0000-7000-8000-0000000000a7")); err != nil {
		t.Fatal(err)
	}
	var purged eventsv1.UserDataPurged
	waitEvent(t, e.js, events.StreamAnalysis, events.SubjectAnalysisUserPurged, &purged, func() bool { return purged.GetDeletionId() == "del-7" })
	if purged.GetUserId() != "user-a" || purged.GetService() != "analysis" {
		t.Errorf("purged event %v", &purged)
	}
	export, err = e.analysis.ExportUserData(t.Context(), &analysisv1.ExportUserDataRequest{UserId: "user-a"})
	if err != nil || len(export.GetAnalyses()) != 0 {
		t.Errorf("export after deletion: %d analyses, %v", len(export.GetAnalyses()), err)
	}
}

func start(t *testing.T) *env {
	t.Helper()
	secretHex := randomHex(t)
	secret, _ := hex.DecodeString(secretHex)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := authn.NewSigner("test-key", priv, platform.TokenIssuer, platform.TokenAudience, authn.MaxTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	ns := eventstest.New(t)
	serviceToken, err := authn.NewServiceToken(secret, "test")
	if err != nil {
		t.Fatal(err)
	}

	mediaAddr := startMedia(t, ns.URL(), secretHex, startKeys(t, signer))
	mconn, err := rpc.Dial(mediaAddr, rpc.ClientOptions{Service: serviceToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mconn.Close() })
	platformtest.WaitServing(t, mconn)

	vars := map[string]string{
		"DATABASE_URL":        postgrestest.NewDatabase(t),
		"NATS_URL":            ns.URL(),
		"ACCOUNT_ADDR":        "127.0.0.1:1",
		"MEDIA_ADDR":          mediaAddr,
		"SERVICE_AUTH_SECRET": secretHex,
		"ANALYZER":            "local",
		"LOG_FORMAT":          "text",
	}
	cfg, err := app.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys = func(context.Context) ([]authn.PublicKey, error) { return []authn.PublicKey{signer.PublicKey()}, nil }
	cfg.LogWriter = io.Discard
	a, err := app.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := platformtest.Serve(t, a.Serve)
	conn, err := rpc.Dial(srv.Addr, rpc.ClientOptions{Service: serviceToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	platformtest.WaitServing(t, conn)

	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &env{analysis: analysisv1.NewAnalysisServiceClient(conn), media: mediav1.NewMediaServiceClient(mconn), signer: signer, js: js}
}

// keys serves account's GetSigningKeys with the test signer's key, which
// is all media asks of account.
type keys struct {
	accountv1.UnimplementedAccountServiceServer
	key authn.PublicKey
}

func (k *keys) GetSigningKeys(context.Context, *accountv1.GetSigningKeysRequest) (*accountv1.GetSigningKeysResponse, error) {
	return &accountv1.GetSigningKeysResponse{Keys: []*accountv1.SigningKey{{Kid: k.key.KID, PublicKey: k.key.Key}}}, nil
}

func startKeys(t *testing.T, signer *authn.Signer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	accountv1.RegisterAccountServiceServer(srv, &keys{key: signer.PublicKey()})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// startMedia builds the media binary and runs it against its own database.
func startMedia(t *testing.T, natsURL, secretHex, accountAddr string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "media")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/connectengine/photoshoot/services/media/cmd/media")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build media: %v\n%s", err, out)
	}
	port, err := freeport.Pick(nil) // media listens itself
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+postgrestest.NewDatabase(t),
		"NATS_URL="+natsURL,
		"GRPC_ADDR="+addr,
		"ACCOUNT_ADDR="+accountAddr,
		"SERVICE_AUTH_SECRET="+secretHex,
		"MEDIA_SIGNING_KEY="+randomHex(t),
		"MEDIA_DIR="+filepath.Join(dir, "blobs"),
		"MEDIA_TMP_DIR="+t.TempDir(),
		"LOG_FORMAT=text",
	)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Logf("media exited: %v\n%s", err, logs.String())
		}
		if t.Failed() {
			t.Logf("media logs:\n%s", logs.String())
		}
	})
	return addr
}

func (e *env) as(t *testing.T, userID string) context.Context {
	t.Helper()
	tok, err := e.signer.Sign(authn.Caller{UserID: userID, SessionID: "s-" + userID}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
}

func (e *env) upload(t *testing.T, userID string, data []byte) *mediav1.Image {
	t.Helper()
	stream, err := e.media.UploadImage(e.as(t, userID))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&mediav1.UploadImageRequest{Part: &mediav1.UploadImageRequest_Metadata{
		Metadata: &mediav1.UploadMetadata{FileName: "product.png", ContentType: "image/png"},
	}}); err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(len(data), 64<<10)
		if err := stream.Send(&mediav1.UploadImageRequest{Part: &mediav1.UploadImageRequest_Chunk{Chunk: data[:n]}}); err != nil {
			break // the server ended the call; CloseAndRecv has its status
		}
		data = data[n:]
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	return resp.GetImage()
}

// waitAnalysis polls GetAnalysis until the consumer has stored one.
func (e *env) waitAnalysis(t *testing.T, userID, imageID string) *analysisv1.Analysis {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := e.analysis.GetAnalysis(e.as(t, userID), &analysisv1.GetAnalysisRequest{ImageId: imageID})
		switch {
		case err == nil && resp.GetAnalysis().GetState() == analysisv1.AnalysisState_ANALYSIS_STATE_SUCCEEDED:
			return resp.GetAnalysis()
		case err == nil:
			t.Fatalf("analysis %v", resp.GetAnalysis())
		case status.Code(err) != codes.NotFound:
			t.Fatalf("GetAnalysis: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an outcome
	}
	t.Fatal("the upload was never analysed")
	return nil
}

// waitEvent reads subject from stream until done reports the decoded
// message is the one wanted, or a deadline passes.
func waitEvent(t *testing.T, js jetstream.JetStream, stream, subject string, dst proto.Message, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var cons jetstream.Consumer
	var err error
	for cons == nil {
		cons, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("consumer on %s: %v", subject, err)
			}
			time.Sleep(50 * time.Millisecond) // the services are still creating their streams
			cons = nil
		}
	}
	for {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("no matching %s event: %v", subject, err)
		}
		if err := proto.Unmarshal(msg.Data(), dst); err != nil {
			t.Fatal(err)
		}
		if done() {
			return
		}
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
