package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/rpc"
)

const caseKey = "x-test-case"

// byCase returns the error registered for the call's x-test-case value.
func byCase(cases map[string]error) handlerFunc {
	return func(ctx context.Context, _ string) error {
		md, _ := metadata.FromIncomingContext(ctx)
		name := first(md, caseKey)
		if name == "panic" {
			panic("handler bug")
		}
		return cases[name]
	}
}

func TestServer_errorMapping(t *testing.T) {
	t.Parallel()
	downstream, err := status.New(codes.PermissionDenied, "downstream says no").
		WithDetails(&errdetails.ErrorInfo{Reason: "OTHER", Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		err     error
		code    codes.Code
		level   slog.Level
		details []proto.Message
	}{
		{name: "not_found", err: apperr.NotFound("image %s", "i1"), code: codes.NotFound, level: slog.LevelDebug},
		{
			name: "invalid", err: apperr.Invalid("bad", apperr.Violation{Field: "prompt", Description: "required"}),
			code: codes.InvalidArgument, level: slog.LevelInfo,
			details: []proto.Message{&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: "prompt", Description: "required"},
			}}},
		},
		{
			name: "precondition", err: apperr.Precondition("INSUFFICIENT_CREDITS", "not enough credits"),
			code: codes.FailedPrecondition, level: slog.LevelInfo,
			details: []proto.Message{&errdetails.ErrorInfo{Reason: "INSUFFICIENT_CREDITS", Domain: apperr.Domain}},
		},
		{name: "conflict", err: apperr.Conflict("exists"), code: codes.AlreadyExists, level: slog.LevelInfo},
		{name: "aborted", err: apperr.Aborted("raced"), code: codes.Aborted, level: slog.LevelInfo},
		{name: "unavailable", err: apperr.Unavailable("down", errors.New("dial refused")), code: codes.Unavailable, level: slog.LevelWarn},
		{name: "unauthenticated", err: apperr.Unauthenticated("who"), code: codes.Unauthenticated, level: slog.LevelInfo},
		{name: "permission_denied", err: apperr.PermissionDenied("no"), code: codes.PermissionDenied, level: slog.LevelInfo},
		{
			name: "too_many", err: apperr.TooMany("slow down", 3*time.Second),
			code: codes.ResourceExhausted, level: slog.LevelInfo,
			details: []proto.Message{&errdetails.RetryInfo{RetryDelay: durationpb.New(3 * time.Second)}},
		},
		{name: "wrapped", err: fmt.Errorf("capture r1: %w", apperr.NotFound("reservation")), code: codes.NotFound, level: slog.LevelDebug},
		{name: "context_canceled", err: fmt.Errorf("query: %w", context.Canceled), code: codes.Canceled, level: slog.LevelDebug},
		{name: "context_deadline", err: fmt.Errorf("query: %w", context.DeadlineExceeded), code: codes.DeadlineExceeded, level: slog.LevelWarn},
		{
			name: "grpc_status_passthrough", err: fmt.Errorf("call billing: %w", downstream.Err()),
			code: codes.PermissionDenied, level: slog.LevelInfo,
			details: []proto.Message{&errdetails.ErrorInfo{Reason: "OTHER", Domain: "example.com"}},
		},
		{name: "unclassified", err: errors.New("pq: password=hunter2"), code: codes.Internal, level: slog.LevelError},
	}
	cases := map[string]error{}
	for _, tt := range tests {
		cases[tt.name] = tt.err
	}
	e := newEnv(t, byCase(cases))
	conn := e.dial(t, rpc.ClientOptions{})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, span := tracerProvider.Tracer("test").Start(t.Context(), tt.name)
			defer span.End()
			ctx = metadata.AppendToOutgoingContext(ctx, caseKey, tt.name)

			_, err := call(ctx, conn, mOpen)
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("code = %v, want %v (%v)", st.Code(), tt.code, err)
			}
			var got []proto.Message
			for _, d := range st.Details() {
				got = append(got, d.(proto.Message))
			}
			if diff := cmp.Diff(tt.details, got, protocmp.Transform()); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
			if tt.code == codes.Internal {
				if strings.Contains(st.Message(), "hunter2") {
					t.Errorf("message %q leaks the cause", st.Message())
				}
				if traceID := span.SpanContext().TraceID().String(); !strings.Contains(st.Message(), traceID) {
					t.Errorf("message %q lacks the trace id %s", st.Message(), traceID)
				}
			}
			recs := e.logs.find("error", tt.err.Error())
			if len(recs) != 1 {
				t.Fatalf("logged %d times, want once", len(recs))
			}
			if recs[0].Level != tt.level {
				t.Errorf("logged at %v, want %v", recs[0].Level, tt.level)
			}
		})
	}
}

func TestServer_panicBecomesInternalAndServerKeepsServing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, byCase(nil))
	conn := e.dial(t, rpc.ClientOptions{})
	ctx := metadata.AppendToOutgoingContext(t.Context(), caseKey, "panic")

	_, err := call(ctx, conn, mOpen)
	if got := status.Code(err); got != codes.Internal {
		t.Fatalf("code = %v, want Internal", got)
	}
	if strings.Contains(err.Error(), "handler bug") {
		t.Errorf("panic value leaked to the client: %v", err)
	}
	recs := e.logs.find("panic", "handler bug")
	if len(recs) != 1 {
		t.Fatalf("panic logged %d times, want once", len(recs))
	}
	if recs[0].Level != slog.LevelError {
		t.Errorf("panic logged at %v, want ERROR", recs[0].Level)
	}
	var stack string
	recs[0].Attrs(func(a slog.Attr) bool {
		if a.Key == "stack" {
			stack = a.Value.String()
		}
		return true
	})
	if !strings.Contains(stack, "byCase") {
		t.Errorf("logged stack does not show the panicking handler:\n%s", stack)
	}

	// The same connection still works.
	if _, err := call(t.Context(), conn, mOpen); err != nil {
		t.Fatalf("call after panic: %v", err)
	}
	// So does a panicking stream.
	stream, err := conn.NewStream(withBearer(ctx, rpc.UserAuthHeader, e.token(t, "u1")),
		&grpc.StreamDesc{ServerStreams: true}, mWatch)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := stream.RecvMsg(&emptypb.Empty{}); status.Code(err) != codes.Internal {
		t.Fatalf("stream Recv = %v, want Internal", err)
	}
}

func TestServer_publicMethodNeedsUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ok)
	conn := e.dial(t, rpc.ClientOptions{})
	other := newEnv(t, ok) // signs with a key e does not know
	foreign, err := authn.NewServiceToken([]byte("another-secret-another-secret-another"), "generation")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		ctx  context.Context
		code codes.Code
		user string
	}{
		{"no_token", t.Context(), codes.Unauthenticated, ""},
		{"service_credential_only", withBearer(t.Context(), rpc.ServiceAuthHeader, e.services.Token(time.Now())), codes.Unauthenticated, ""},
		{"garbage_token", withBearer(t.Context(), rpc.UserAuthHeader, "garbage"), codes.Unauthenticated, ""},
		{"foreign_key", withBearer(t.Context(), rpc.UserAuthHeader, other.token(t, "u1")), codes.Unauthenticated, ""},
		{"wrong_scheme", metadata.AppendToOutgoingContext(t.Context(), rpc.UserAuthHeader, "Basic "+e.token(t, "u1")), codes.Unauthenticated, ""},
		{"valid_token", withBearer(t.Context(), rpc.UserAuthHeader, e.token(t, "u1")), codes.OK, "u1"},
		{
			"valid_token_and_foreign_service_credential",
			withBearer(withBearer(t.Context(), rpc.UserAuthHeader, e.token(t, "u1")), rpc.ServiceAuthHeader, foreign.Token(time.Now())),
			codes.Unauthenticated, "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, err := call(tt.ctx, conn, mPublic)
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v, want %v (%v)", got, tt.code, err)
			}
			if got := first(tr, trUser); got != tt.user {
				t.Errorf("handler saw user %q, want %q", got, tt.user)
			}
		})
	}
}

func TestServer_unauthenticatedMethodVerifiesTokenOnlyWhenPresent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ok)
	conn := e.dial(t, rpc.ClientOptions{})

	tr, err := call(t.Context(), conn, mOpen)
	if err != nil {
		t.Fatalf("no token: %v", err)
	}
	if got := first(tr, trUser); got != "" {
		t.Errorf("handler saw user %q, want none", got)
	}

	tr, err = call(withBearer(t.Context(), rpc.UserAuthHeader, e.token(t, "u7")), conn, mOpen)
	if err != nil {
		t.Fatalf("valid token: %v", err)
	}
	if got := first(tr, trUser); got != "u7" {
		t.Errorf("handler saw user %q, want u7", got)
	}

	_, err = call(withBearer(t.Context(), rpc.UserAuthHeader, "garbage"), conn, mOpen)
	if got := status.Code(err); got != codes.Unauthenticated {
		t.Errorf("bad token: code = %v, want Unauthenticated", got)
	}
}

func TestServer_internalMethodNeedsServiceCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ok)
	conn := e.dial(t, rpc.ClientOptions{})
	foreign, err := authn.NewServiceToken([]byte("another-secret-another-secret-another"), "generation")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		ctx     context.Context
		code    codes.Code
		user    string
		service string
	}{
		{"nothing", t.Context(), codes.Unauthenticated, "", ""},
		{"user_token_only", withBearer(t.Context(), rpc.UserAuthHeader, e.token(t, "u1")), codes.Unauthenticated, "", ""},
		{"user_token_as_service_credential", withBearer(t.Context(), rpc.ServiceAuthHeader, e.token(t, "u1")), codes.Unauthenticated, "", ""},
		{"foreign_secret", withBearer(t.Context(), rpc.ServiceAuthHeader, foreign.Token(time.Now())), codes.Unauthenticated, "", ""},
		{"service_credential", withBearer(t.Context(), rpc.ServiceAuthHeader, e.services.Token(time.Now())), codes.OK, "", "generation"},
		{
			"service_credential_and_user",
			withBearer(withBearer(t.Context(), rpc.ServiceAuthHeader, e.services.Token(time.Now())), rpc.UserAuthHeader, e.token(t, "u2")),
			codes.OK, "u2", "generation",
		},
		{
			"service_credential_and_bad_user",
			withBearer(withBearer(t.Context(), rpc.ServiceAuthHeader, e.services.Token(time.Now())), rpc.UserAuthHeader, "garbage"),
			codes.Unauthenticated, "", "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, err := call(tt.ctx, conn, mInternal)
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v, want %v (%v)", got, tt.code, err)
			}
			if got := first(tr, trUser); got != tt.user {
				t.Errorf("handler saw user %q, want %q", got, tt.user)
			}
			if got := first(tr, trService); got != tt.service {
				t.Errorf("handler saw service %q, want %q", got, tt.service)
			}
		})
	}
}

func TestServer_withoutVerifiersFailsClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ok, func(o *rpc.ServerOptions) { o.Users, o.Services = nil, nil })
	conn := e.dial(t, rpc.ClientOptions{})
	user := withBearer(t.Context(), rpc.UserAuthHeader, e.token(t, "u1"))
	svc := withBearer(t.Context(), rpc.ServiceAuthHeader, e.services.Token(time.Now()))

	for name, c := range map[string]struct {
		ctx    context.Context
		method string
		code   codes.Code
	}{
		"public_with_token":             {user, mPublic, codes.Unauthenticated},
		"open_with_token":               {user, mOpen, codes.Unauthenticated},
		"open_without_token":            {t.Context(), mOpen, codes.OK},
		"internal_with_service_cred":    {svc, mInternal, codes.Unauthenticated},
		"internal_without_service_cred": {t.Context(), mInternal, codes.Unauthenticated},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := call(c.ctx, conn, c.method); status.Code(err) != c.code {
				t.Errorf("code = %v, want %v", status.Code(err), c.code)
			}
		})
	}
	if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health check: %v", err)
	}
}

func TestServer_streamAuthAndErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, byCase(map[string]error{"not_found": apperr.NotFound("job")}))
	conn := e.dial(t, rpc.ClientOptions{})

	watch := func(ctx context.Context) (metadata.MD, error) {
		stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, mWatch)
		if err != nil {
			return nil, err
		}
		if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
			return nil, err
		}
		if err := stream.CloseSend(); err != nil {
			return nil, err
		}
		for {
			if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
				if errors.Is(err, io.EOF) {
					return stream.Trailer(), nil
				}
				return stream.Trailer(), err
			}
		}
	}

	if _, err := watch(t.Context()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v, want Unauthenticated", err)
	}
	user := withBearer(t.Context(), rpc.UserAuthHeader, e.token(t, "u3"))
	tr, err := watch(user)
	if err != nil {
		t.Fatalf("valid token: %v", err)
	}
	if got := first(tr, trUser); got != "u3" {
		t.Errorf("stream handler saw user %q, want u3", got)
	}
	if _, err := watch(metadata.AppendToOutgoingContext(user, caseKey, "not_found")); status.Code(err) != codes.NotFound {
		t.Errorf("stream error: %v, want NotFound", err)
	}
	if n := len(e.logs.find("method", mWatch)); n != 2 {
		t.Errorf("stream failures logged %d times, want 2", n)
	}
}

func TestServer_healthStartsNotServing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ok)
	conn := e.dial(t, rpc.ClientOptions{})
	hc := healthpb.NewHealthClient(conn)

	resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("status = %v, want NOT_SERVING", resp.GetStatus())
	}
	e.server.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	resp, err = hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status = %v, want SERVING", resp.GetStatus())
	}
}

func TestServer_registersReflection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ok)
	info := e.server.GRPC.GetServiceInfo()
	for _, name := range []string{"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection", "grpc.health.v1.Health"} {
		if _, ok := info[name]; !ok {
			t.Errorf("%s not registered", name)
		}
	}
}

func TestNewServer_warnsAboutMislistedUnauthenticatedMethods(t *testing.T) {
	t.Parallel()
	const typo = "/" + serviceName + "/Opne"
	e := newEnv(t, ok, func(o *rpc.ServerOptions) { o.Unauthenticated = append(o.Unauthenticated, typo, mInternal) })
	for _, m := range []string{typo, mInternal} {
		recs := e.logs.find("method", m)
		if len(recs) != 1 || recs[0].Level != slog.LevelWarn {
			t.Errorf("%s: got %d records, want one warning", m, len(recs))
		}
	}
	if n := len(e.logs.find("method", mOpen)); n != 0 {
		t.Errorf("correctly listed method logged %d times", n)
	}
	// The listing does not weaken the internal method.
	conn := e.dial(t, rpc.ClientOptions{})
	if _, err := call(t.Context(), conn, mInternal); status.Code(err) != codes.Unauthenticated {
		t.Errorf("internal method: %v, want Unauthenticated", err)
	}
}
