package apperr_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

func TestToStatus_kinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		kind    apperr.Kind
		code    codes.Code
		level   slog.Level
		details []proto.Message
	}{
		{
			name: "not_found", err: apperr.NotFound("image %s not found", "img_1"),
			kind: apperr.KindNotFound, code: codes.NotFound, level: slog.LevelDebug,
		},
		{
			name: "invalid_with_violations",
			err: apperr.Invalid("bad request",
				apperr.Violation{Field: "page_size", Description: "must be at most 100"},
				apperr.Violation{Field: "name", Description: "required"}),
			kind: apperr.KindInvalid, code: codes.InvalidArgument, level: slog.LevelInfo,
			details: []proto.Message{&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: "page_size", Description: "must be at most 100"},
				{Field: "name", Description: "required"},
			}}},
		},
		{
			name: "invalid_without_violations", err: apperr.Invalid("bad request"),
			kind: apperr.KindInvalid, code: codes.InvalidArgument, level: slog.LevelInfo,
		},
		{
			name: "precondition", err: apperr.Precondition("INSUFFICIENT_CREDITS", "not enough credits"),
			kind: apperr.KindPrecondition, code: codes.FailedPrecondition, level: slog.LevelInfo,
			details: []proto.Message{&errdetails.ErrorInfo{Reason: "INSUFFICIENT_CREDITS", Domain: apperr.Domain}},
		},
		{
			name: "conflict", err: apperr.Conflict("user %q exists", "a@b.c"),
			kind: apperr.KindConflict, code: codes.AlreadyExists, level: slog.LevelInfo,
		},
		{
			name: "aborted", err: apperr.Aborted("reservation changed concurrently"),
			kind: apperr.KindAborted, code: codes.Aborted, level: slog.LevelInfo,
		},
		{
			name: "unavailable", err: apperr.Unavailable("image model unavailable", errors.New("dial tcp: refused")),
			kind: apperr.KindUnavailable, code: codes.Unavailable, level: slog.LevelWarn,
		},
		{
			name: "unauthenticated", err: apperr.Unauthenticated("invalid access token"),
			kind: apperr.KindUnauthenticated, code: codes.Unauthenticated, level: slog.LevelInfo,
		},
		{
			name: "permission_denied", err: apperr.PermissionDenied("admin only"),
			kind: apperr.KindPermissionDenied, code: codes.PermissionDenied, level: slog.LevelInfo,
		},
		{
			name: "too_many", err: apperr.TooMany("slow down", 1500*time.Millisecond),
			kind: apperr.KindTooMany, code: codes.ResourceExhausted, level: slog.LevelInfo,
			details: []proto.Message{&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)}},
		},
		{
			name: "too_many_without_delay", err: apperr.TooMany("slow down", 0),
			kind: apperr.KindTooMany, code: codes.ResourceExhausted, level: slog.LevelInfo,
		},
		{
			name: "context_canceled", err: fmt.Errorf("query: %w", context.Canceled),
			kind: apperr.KindCanceled, code: codes.Canceled, level: slog.LevelDebug,
		},
		{
			name: "context_deadline", err: fmt.Errorf("query: %w", context.DeadlineExceeded),
			kind: apperr.KindDeadline, code: codes.DeadlineExceeded, level: slog.LevelWarn,
		},
		{
			name: "unclassified", err: errors.New("boom"),
			kind: apperr.KindInternal, code: codes.Internal, level: slog.LevelError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := apperr.KindOf(tt.err); got != tt.kind {
				t.Errorf("KindOf = %v, want %v", got, tt.kind)
			}
			st, level := apperr.ToStatus(t.Context(), tt.err)
			if st.Code() != tt.code {
				t.Errorf("code = %v, want %v", st.Code(), tt.code)
			}
			if level != tt.level {
				t.Errorf("level = %v, want %v", level, tt.level)
			}
			if diff := cmp.Diff(tt.details, detailMessages(t, st), protocmp.Transform()); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
		})
	}
}

func TestToStatus_wrappedKeepsKind(t *testing.T) {
	t.Parallel()
	base := apperr.Precondition("INSUFFICIENT_CREDITS", "not enough credits")
	err := fmt.Errorf("reserve credits for job %s: %w", "job_1", fmt.Errorf("ledger: %w", base))

	if got := apperr.KindOf(err); got != apperr.KindPrecondition {
		t.Fatalf("KindOf = %v, want precondition", got)
	}
	st, _ := apperr.ToStatus(t.Context(), err)
	if st.Code() != codes.FailedPrecondition {
		t.Fatalf("code = %v, want FailedPrecondition", st.Code())
	}
	// The public message is the kind's own, not the wrapping context.
	if strings.Contains(st.Message(), "job_1") {
		t.Errorf("wrapping context leaked into the status message %q", st.Message())
	}
}

func TestToStatus_unknownHidesCauseAndNamesTrace(t *testing.T) {
	t.Parallel()
	traceID := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(t.Context(), sc)

	secret := "password=hunter2 host=db.internal"
	st, level := apperr.ToStatus(ctx, fmt.Errorf("connect: %w", errors.New(secret)))

	if st.Code() != codes.Internal || level != slog.LevelError {
		t.Fatalf("got %v at %v, want Internal at ERROR", st.Code(), level)
	}
	if !strings.Contains(st.Message(), traceID.String()) {
		t.Errorf("message %q does not name trace id %s", st.Message(), traceID)
	}
	if strings.Contains(st.Message(), "hunter2") || strings.Contains(st.Message(), "connect") {
		t.Errorf("message %q leaks the cause", st.Message())
	}
	if len(st.Details()) != 0 {
		t.Errorf("internal status carries details %v", st.Details())
	}
}

func TestToStatus_unavailableHidesCause(t *testing.T) {
	t.Parallel()
	err := apperr.Unavailable("payments unavailable", errors.New("stripe: 503 from 10.0.0.7"))
	st, _ := apperr.ToStatus(t.Context(), err)
	if strings.Contains(st.Message(), "10.0.0.7") {
		t.Errorf("message %q leaks the cause", st.Message())
	}
	if !strings.Contains(err.Error(), "10.0.0.7") {
		t.Errorf("Error() %q drops the cause the log needs", err.Error())
	}
}

func TestToStatus_grpcStatusPassesThrough(t *testing.T) {
	t.Parallel()
	in, err := status.New(codes.PermissionDenied, "downstream says no").
		WithDetails(&errdetails.ErrorInfo{Reason: "OTHER", Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	st, level := apperr.ToStatus(t.Context(), fmt.Errorf("call billing: %w", in.Err()))
	if diff := cmp.Diff(in.Proto(), st.Proto(), protocmp.Transform()); diff != "" {
		t.Errorf("status changed (-want +got):\n%s", diff)
	}
	if level != slog.LevelInfo {
		t.Errorf("level = %v, want INFO", level)
	}

	// A status with code Unknown says nothing useful: treat it as a bug.
	st, _ = apperr.ToStatus(t.Context(), status.Error(codes.Unknown, "secret detail"))
	if st.Code() != codes.Internal || strings.Contains(st.Message(), "secret") {
		t.Errorf("unknown status became %v %q, want generic Internal", st.Code(), st.Message())
	}
}

func TestFromStatus_roundTrip(t *testing.T) {
	t.Parallel()
	errs := []error{
		apperr.NotFound("image not found"),
		apperr.Invalid("bad request", apperr.Violation{Field: "prompt", Description: "too long"}),
		apperr.Precondition("INSUFFICIENT_CREDITS", "not enough credits"),
		apperr.Conflict("exists"),
		apperr.Aborted("retry"),
		apperr.Unavailable("down", errors.New("cause")),
		apperr.Unauthenticated("who are you"),
		apperr.PermissionDenied("no"),
		apperr.TooMany("slow down", 2*time.Second),
	}
	for _, in := range errs {
		t.Run(apperr.KindOf(in).String(), func(t *testing.T) {
			t.Parallel()
			st, _ := apperr.ToStatus(t.Context(), in)
			out := apperr.FromStatus(fmt.Errorf("call media: %w", st.Err()))

			var want, got *apperr.Error
			if !errors.As(in, &want) || !errors.As(out, &got) {
				t.Fatalf("FromStatus(%v) = %T, want *apperr.Error", st.Err(), out)
			}
			if got.Kind() != want.Kind() {
				t.Errorf("kind = %v, want %v", got.Kind(), want.Kind())
			}
			if got.Message() != want.Message() || got.Reason() != want.Reason() || got.RetryAfter() != want.RetryAfter() {
				t.Errorf("got (%q, %q, %v), want (%q, %q, %v)",
					got.Message(), got.Reason(), got.RetryAfter(), want.Message(), want.Reason(), want.RetryAfter())
			}
			if diff := cmp.Diff(want.Violations(), got.Violations()); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			// Translating again must not change the code (mercari's NotFound→AlreadyExists bug).
			again, _ := apperr.ToStatus(t.Context(), out)
			if again.Code() != st.Code() {
				t.Errorf("round trip code = %v, want %v", again.Code(), st.Code())
			}
		})
	}
}

func TestFromStatus_otherCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code codes.Code
		kind apperr.Kind
	}{
		{codes.OutOfRange, apperr.KindInvalid},
		{codes.Canceled, apperr.KindCanceled},
		{codes.DeadlineExceeded, apperr.KindDeadline},
		{codes.Internal, apperr.KindInternal},
		{codes.Unknown, apperr.KindInternal},
		{codes.DataLoss, apperr.KindInternal},
		{codes.Unimplemented, apperr.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			t.Parallel()
			err := apperr.FromStatus(status.Error(tt.code, "downstream"))
			if got := apperr.KindOf(err); got != tt.kind {
				t.Errorf("KindOf = %v, want %v", got, tt.kind)
			}
		})
	}
}

func TestFromStatus_leavesOtherErrorsAlone(t *testing.T) {
	t.Parallel()
	plain := errors.New("plain")
	if got := apperr.FromStatus(plain); got != plain {
		t.Errorf("FromStatus(plain) = %v, want it unchanged", got)
	}
	kinded := apperr.NotFound("x")
	if got := apperr.FromStatus(kinded); got != kinded {
		t.Errorf("FromStatus(kinded) = %v, want it unchanged", got)
	}
	if apperr.FromStatus(nil) != nil {
		t.Error("FromStatus(nil) != nil")
	}
}

func detailMessages(t *testing.T, st *status.Status) []proto.Message {
	t.Helper()
	var out []proto.Message
	for _, d := range st.Details() {
		m, ok := d.(proto.Message)
		if !ok {
			t.Fatalf("undecodable detail: %v", d)
		}
		out = append(out, m)
	}
	return out
}
