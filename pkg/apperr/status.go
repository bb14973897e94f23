package apperr

import (
	"context"
	"errors"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// grpcStatuser is implemented by the errors grpc-go returns and creates.
type grpcStatuser interface{ GRPCStatus() *status.Status }

var kindCodes = [...]codes.Code{
	KindInternal:         codes.Internal,
	KindNotFound:         codes.NotFound,
	KindInvalid:          codes.InvalidArgument,
	KindPrecondition:     codes.FailedPrecondition,
	KindConflict:         codes.AlreadyExists,
	KindAborted:          codes.Aborted,
	KindUnavailable:      codes.Unavailable,
	KindUnauthenticated:  codes.Unauthenticated,
	KindPermissionDenied: codes.PermissionDenied,
	KindTooMany:          codes.ResourceExhausted,
	KindCanceled:         codes.Canceled,
	KindDeadline:         codes.DeadlineExceeded,
}

func (k Kind) code() codes.Code {
	if k >= 0 && int(k) < len(kindCodes) {
		return kindCodes[k]
	}
	return codes.Internal
}

// ToStatus is the one place where errors become wire statuses. It returns
// the status to send and the level at which the caller should log the
// original error (once, with its cause):
//
//   - an *Error anywhere in the chain maps by kind, with BadRequest,
//     ErrorInfo and RetryInfo details where it carries them;
//   - an error that already is a gRPC status (code other than Unknown)
//     passes through unchanged, details included;
//   - context.Canceled and context.DeadlineExceeded map to their codes;
//   - anything else becomes Internal with a generic message naming the trace
//     ID, so that no cause text reaches the client.
func ToStatus(ctx context.Context, err error) (*status.Status, slog.Level) {
	if err == nil {
		return status.New(codes.OK, ""), slog.LevelDebug
	}
	st := toStatus(ctx, err)
	return st, LevelFor(st.Code())
}

func toStatus(ctx context.Context, err error) *status.Status {
	var e *Error
	if errors.As(err, &e) {
		return e.toStatus(ctx)
	}
	var gs grpcStatuser
	if errors.As(err, &gs) {
		if st := gs.GRPCStatus(); st != nil && st.Code() != codes.Unknown && st.Code() != codes.OK {
			return st
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded")
	default:
		return internalStatus(ctx)
	}
}

func (e *Error) toStatus(ctx context.Context) *status.Status {
	if e.kind.code() == codes.Internal {
		return internalStatus(ctx)
	}
	st := status.New(e.kind.code(), e.msg)
	var details []protoadapt.MessageV1
	if len(e.violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range e.violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field:       v.Field,
				Description: v.Description,
			})
		}
		details = append(details, br)
	}
	if e.reason != "" {
		details = append(details, &errdetails.ErrorInfo{Reason: e.reason, Domain: Domain})
	}
	if e.retryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.retryAfter)})
	}
	if len(details) == 0 {
		return st
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		// Only fails for code OK or an unmarshalable detail, neither possible
		// here; the bare status is still correct.
		return st
	}
	return withDetails
}

// internalStatus hides the cause and gives the client the trace ID instead,
// which is all support needs to find the logged cause.
func internalStatus(ctx context.Context) *status.Status {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return status.New(codes.Internal, "internal error (trace id "+sc.TraceID().String()+")")
	}
	return status.New(codes.Internal, "internal error")
}

// LevelFor is the log level for a failed call with the given code: Error for
// our bugs, Warn for outages and timeouts, Info for client mistakes, Debug
// for the ordinary noise of cancellations and lookups of missing things.
func LevelFor(c codes.Code) slog.Level {
	switch c {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return slog.LevelError
	case codes.Unavailable, codes.DeadlineExceeded, codes.Unimplemented:
		return slog.LevelWarn
	case codes.OK, codes.Canceled, codes.NotFound:
		return slog.LevelDebug
	default:
		return slog.LevelInfo
	}
}

// FromStatus translates the gRPC status of a downstream call into the
// matching kind, keeping its message, reason, violations and retry delay, so
// a service decides on purpose what to tell its own caller. The original
// error stays the cause for the log. Errors that carry no status, and errors
// that already have a kind, are returned unchanged.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var gs grpcStatuser
	if !errors.As(err, &gs) {
		return err
	}
	st := gs.GRPCStatus()
	if st == nil || st.Code() == codes.OK {
		return err
	}
	out := &Error{kind: kindOfCode(st.Code()), msg: st.Message(), cause: err}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, fv := range d.GetFieldViolations() {
				out.violations = append(out.violations, Violation{Field: fv.GetField(), Description: fv.GetDescription()})
			}
		case *errdetails.ErrorInfo:
			out.reason = d.GetReason()
		case *errdetails.RetryInfo:
			out.retryAfter = d.GetRetryDelay().AsDuration()
		}
	}
	return out
}

func kindOfCode(c codes.Code) Kind {
	switch c {
	case codes.NotFound:
		return KindNotFound
	case codes.InvalidArgument, codes.OutOfRange:
		return KindInvalid
	case codes.FailedPrecondition:
		return KindPrecondition
	case codes.AlreadyExists:
		return KindConflict
	case codes.Aborted:
		return KindAborted
	case codes.Unavailable:
		return KindUnavailable
	case codes.Unauthenticated:
		return KindUnauthenticated
	case codes.PermissionDenied:
		return KindPermissionDenied
	case codes.ResourceExhausted:
		return KindTooMany
	case codes.Canceled:
		return KindCanceled
	case codes.DeadlineExceeded:
		return KindDeadline
	default:
		return KindInternal
	}
}
