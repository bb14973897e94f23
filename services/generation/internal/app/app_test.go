package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/events/eventstest"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/platform/platformtest"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	"github.com/connectengine/photoshoot/pkg/rpc"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/app"
	"github.com/connectengine/photoshoot/services/generation/internal/store"
)

// billingDouble is an in-process gRPC server for billing's internal credit
// RPCs (Reserve idempotent by job id, Capture, Release), with a balance per
// user. The real billing binary is not started here yet (see the README).
type billingDouble struct {
	billingv1.UnimplementedBillingServiceServer
	mu       sync.Mutex
	balance  map[string]int64
	holds    map[string]*billingv1.Hold // by id
	byJob    map[string]string
	released map[string]int
}

func (b *billingDouble) Reserve(ctx context.Context, r *billingv1.ReserveRequest) (*billingv1.ReserveResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id, ok := b.byJob[r.GetJobId()]; ok {
		return &billingv1.ReserveResponse{Hold: b.holds[id]}, nil
	}
	if b.balance[r.GetUserId()] < r.GetAmount() {
		st, _ := apperr.ToStatus(ctx, apperr.Precondition("INSUFFICIENT_CREDITS", "not enough credits"))
		return nil, st.Err()
	}
	b.balance[r.GetUserId()] -= r.GetAmount()
	h := &billingv1.Hold{Id: "hold-" + r.GetJobId(), JobId: r.GetJobId(), UserId: r.GetUserId(), Amount: r.GetAmount()}
	b.holds[h.Id], b.byJob[r.GetJobId()] = h, h.Id
	return &billingv1.ReserveResponse{Hold: h}, nil
}

func (b *billingDouble) Release(_ context.Context, r *billingv1.ReleaseRequest) (*billingv1.ReleaseResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.holds[r.GetHoldId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no hold")
	}
	if h.Released == 0 && h.Captured == 0 {
		h.Released = h.Amount
		b.balance[h.UserId] += h.Amount
	}
	b.released[h.Id]++
	return &billingv1.ReleaseResponse{Hold: h}, nil
}

func (b *billingDouble) credits(user string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.balance[user]
}

type env struct {
	client  generationv1.GenerationServiceClient
	signer  *authn.Signer
	billing *billingDouble
	// internal calls with a service credential (ExportUserData).
	internal generationv1.GenerationServiceClient
	// js publishes and reads the service's events.
	js jetstream.JetStream
}

// start runs the service; each set may change its environment first.
func start(t *testing.T, set ...func(vars map[string]string)) *env {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := authn.NewSigner("test-key", priv, platform.TokenIssuer, platform.TokenAudience, authn.MaxTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	b := &billingDouble{balance: map[string]int64{}, holds: map[string]*billingv1.Hold{}, byJob: map[string]string{}, released: map[string]int{}}
	blis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bsrv := grpc.NewServer()
	billingv1.RegisterBillingServiceServer(bsrv, b)
	go func() { _ = bsrv.Serve(blis) }()
	t.Cleanup(bsrv.Stop)

	ns := eventstest.New(t)
	vars := map[string]string{
		"DATABASE_URL": postgrestest.NewDatabase(t,
			postgrestest.Migrations{FS: events.Migrations, VersionTable: events.MigrationsVersionTable},
			postgrestest.Migrations{FS: store.Migrations, VersionTable: platform.ServiceMigrationsTable}),
		"NATS_URL":            ns.URL(),
		"ACCOUNT_ADDR":        "127.0.0.1:1",
		"BILLING_ADDR":        blis.Addr().String(),
		"MEDIA_ADDR":          "127.0.0.1:1",
		"ANALYSIS_ADDR":       "127.0.0.1:1",
		"WORKERS":             "0", // the API alone: jobs stay queued (the worker has tests of its own)
		"SERVICE_AUTH_SECRET": hex.EncodeToString(secret),
		"LOG_FORMAT":          "text",
	}
	for _, f := range set {
		f(vars)
	}
	cfg, err := app.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys = func(context.Context) ([]authn.PublicKey, error) { return []authn.PublicKey{signer.PublicKey()}, nil }
	cfg.LogWriter = io.Discard
	a, err := app.New(t.Context(), cfg, app.ModeServe)
	if err != nil {
		t.Fatal(err)
	}
	srv := platformtest.Serve(t, a.Serve)
	conn, err := rpc.Dial(srv.Addr, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	platformtest.WaitServing(t, conn)
	serviceToken, err := authn.NewServiceToken(secret, "test")
	if err != nil {
		t.Fatal(err)
	}
	iconn, err := rpc.Dial(srv.Addr, rpc.ClientOptions{Service: serviceToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { iconn.Close() })
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		client: generationv1.NewGenerationServiceClient(conn), signer: signer, billing: b,
		internal: generationv1.NewGenerationServiceClient(iconn), js: js,
	}
}

func (e *env) as(t *testing.T, user string) context.Context {
	t.Helper()
	tok, err := e.signer.Sign(authn.Caller{UserID: user}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
}

func code(err error) codes.Code { return status.Code(err) }

func TestGenerationsComponent(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.billing.balance["alice"] = 5
	alice, bob := e.as(t, "alice"), e.as(t, "bob")

	t.Run("scenes_are_public_with_previews", func(t *testing.T) {
		resp, err := e.client.ListScenes(t.Context(), &generationv1.ListScenesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetScenes()) != 11 || resp.GetScenes()[0].GetPreviewUrl() == "" {
			t.Fatalf("%d scenes, first preview %q", len(resp.GetScenes()), resp.GetScenes()[0].GetPreviewUrl())
		}
	})

	var jobID string
	t.Run("create_holds_credits_and_queues", func(t *testing.T) {
		resp, err := e.client.CreateGeneration(alice, &generationv1.CreateGenerationRequest{
			ImageId: "img-1", SceneId: "marble", Variants: 3, AspectRatio: "4:5", Size: "2K", Marketplace: "amazon", RequestId: "r1",
		})
		if err != nil {
			t.Fatal(err)
		}
		j := resp.GetJob()
		jobID = j.GetId()
		if j.GetState() != generationv1.JobState_JOB_STATE_QUEUED || len(j.GetOutputs()) != 3 || !j.GetProductLock() ||
			j.GetCredits().GetReserved() != 3 || e.billing.credits("alice") != 2 {
			t.Fatalf("job %v, balance %d", j, e.billing.credits("alice"))
		}
		again, err := e.client.CreateGeneration(alice, &generationv1.CreateGenerationRequest{
			ImageId: "img-1", SceneId: "marble", Variants: 3, AspectRatio: "4:5", Size: "2K", Marketplace: "amazon", RequestId: "r1",
		})
		if err != nil || again.GetJob().GetId() != jobID || e.billing.credits("alice") != 2 {
			t.Fatalf("a retried request made %v (err %v), balance %d", again.GetJob().GetId(), err, e.billing.credits("alice"))
		}
	})

	t.Run("insufficient_credits_is_failed_precondition", func(t *testing.T) {
		_, err := e.client.CreateGeneration(alice, &generationv1.CreateGenerationRequest{ImageId: "img-1", SceneId: "marble", Variants: 4})
		if code(err) != codes.FailedPrecondition {
			t.Fatalf("code %v, want FailedPrecondition", code(err))
		}
		var reason string
		for _, d := range status.Convert(err).Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				reason = info.GetReason()
			}
		}
		if reason != "INSUFFICIENT_CREDITS" {
			t.Fatalf("reason %q, want INSUFFICIENT_CREDITS", reason)
		}
	})

	t.Run("invalid_requests", func(t *testing.T) {
		for name, req := range map[string]*generationv1.CreateGenerationRequest{
			"no_image":   {SceneId: "marble"},
			"bad_scene":  {ImageId: "i", SceneId: "moon"},
			"variants":   {ImageId: "i", SceneId: "marble", Variants: 9},
			"bad_aspect": {ImageId: "i", SceneId: "marble", AspectRatio: "5:4"},
		} {
			if _, err := e.client.CreateGeneration(alice, req); code(err) != codes.InvalidArgument {
				t.Errorf("%s: code %v, want InvalidArgument", name, code(err))
			}
		}
		if _, err := e.client.CreateGeneration(t.Context(), &generationv1.CreateGenerationRequest{ImageId: "i", SceneId: "marble"}); code(err) != codes.Unauthenticated {
			t.Errorf("anonymous create: code %v", code(err))
		}
	})

	t.Run("cross_user_is_not_found", func(t *testing.T) {
		if _, err := e.client.GetGeneration(bob, &generationv1.GetGenerationRequest{JobId: jobID}); code(err) != codes.NotFound {
			t.Fatalf("bob get: code %v", code(err))
		}
		if _, err := e.client.CancelGeneration(bob, &generationv1.CancelGenerationRequest{JobId: jobID}); code(err) != codes.NotFound {
			t.Fatalf("bob cancel: code %v", code(err))
		}
		list, err := e.client.ListGenerations(bob, &generationv1.ListGenerationsRequest{})
		if err != nil || len(list.GetJobs()) != 0 {
			t.Fatalf("bob lists %d jobs, %v", len(list.GetJobs()), err)
		}
	})

	t.Run("list_pages_with_signed_tokens", func(t *testing.T) {
		if _, err := e.client.CreateGeneration(alice, &generationv1.CreateGenerationRequest{ImageId: "img-2", Prompt: "on a beach"}); err != nil {
			t.Fatal(err)
		}
		first, err := e.client.ListGenerations(alice, &generationv1.ListGenerationsRequest{PageSize: 1})
		if err != nil || len(first.GetJobs()) != 1 || first.GetNextPageToken() == "" {
			t.Fatalf("first page %v, %v", first, err)
		}
		second, err := e.client.ListGenerations(alice, &generationv1.ListGenerationsRequest{PageSize: 1, PageToken: first.GetNextPageToken()})
		if err != nil || len(second.GetJobs()) != 1 || second.GetJobs()[0].GetId() == first.GetJobs()[0].GetId() || second.GetNextPageToken() != "" {
			t.Fatalf("second page %v, %v", second, err)
		}
		if _, err := e.client.ListGenerations(bob, &generationv1.ListGenerationsRequest{PageToken: first.GetNextPageToken()}); code(err) != codes.InvalidArgument {
			t.Fatalf("alice's token for bob: code %v", code(err))
		}
		if _, err := e.client.ListGenerations(alice, &generationv1.ListGenerationsRequest{PageToken: first.GetNextPageToken() + "x"}); code(err) != codes.InvalidArgument {
			t.Fatalf("tampered token: code %v", code(err))
		}
	})

	t.Run("cancel_releases_credits", func(t *testing.T) {
		before := e.billing.credits("alice")
		resp, err := e.client.CancelGeneration(alice, &generationv1.CancelGenerationRequest{JobId: jobID})
		if err != nil {
			t.Fatal(err)
		}
		j := resp.GetJob()
		if j.GetState() != generationv1.JobState_JOB_STATE_CANCELED || j.GetCredits().GetReleased() != 3 || e.billing.credits("alice") != before+3 {
			t.Fatalf("canceled job %v, balance %d (was %d)", j, e.billing.credits("alice"), before)
		}
		if _, err := e.client.CancelGeneration(alice, &generationv1.CancelGenerationRequest{JobId: jobID}); err != nil {
			t.Fatalf("second cancel: %v", err)
		}
		if e.billing.credits("alice") != before+3 {
			t.Fatal("a second cancel released twice")
		}
	})
}
