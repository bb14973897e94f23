package rpc_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/rpc"
)

func TestDial_forwardsCallerTokenAndServiceCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ok)
	conn := e.dial(t, rpc.ClientOptions{Service: e.services})
	ctx := authn.WithCaller(t.Context(), authn.Caller{UserID: "u5", Token: e.token(t, "u5")})

	for _, method := range []string{mInternal, mPublic} {
		tr, err := call(ctx, conn, method)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if got := first(tr, trUser); got != "u5" {
			t.Errorf("%s: handler saw user %q, want u5", method, got)
		}
		if got := first(tr, trService); got != "generation" {
			t.Errorf("%s: handler saw service %q, want generation", method, got)
		}
	}

	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, mWatch)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if err := stream.RecvMsg(&emptypb.Empty{}); !errors.Is(err, io.EOF) {
		t.Fatalf("stream end: %v", err)
	}
	if got := first(stream.Trailer(), trUser); got != "u5" {
		t.Errorf("stream handler saw user %q, want u5", got)
	}
}

func TestDial_withoutServiceCredentialInternalIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ok)
	conn := e.dial(t, rpc.ClientOptions{})
	ctx := authn.WithCaller(t.Context(), authn.Caller{UserID: "u5", Token: e.token(t, "u5")})
	if _, err := call(ctx, conn, mInternal); status.Code(err) != codes.Unauthenticated {
		t.Errorf("code = %v, want Unauthenticated", status.Code(err))
	}
}

func TestDial_explicitAuthorizationIsKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ok)
	conn := e.dial(t, rpc.ClientOptions{})
	ctx := authn.WithCaller(t.Context(), authn.Caller{UserID: "u5", Token: e.token(t, "u5")})
	ctx = withBearer(ctx, rpc.UserAuthHeader, e.token(t, "u6"))
	tr, err := call(ctx, conn, mPublic)
	if err != nil {
		t.Fatal(err)
	}
	if got := first(tr, trUser); got != "u6" {
		t.Errorf("handler saw user %q, want u6 (the explicit header)", got)
	}
}

func TestDial_defaultDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(ctx context.Context, _ string) error {
		md, _ := metadata.FromIncomingContext(ctx)
		if first(md, caseKey) == "block" {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	conn := e.dial(t, rpc.ClientOptions{DefaultTimeout: 300 * time.Millisecond})

	remaining := func(tr metadata.MD) time.Duration {
		t.Helper()
		ms, err := strconv.ParseInt(first(tr, trDeadline), 10, 64)
		if err != nil {
			t.Fatalf("handler saw no deadline: %v", err)
		}
		return time.Duration(ms) * time.Millisecond
	}

	tr, err := call(t.Context(), conn, mOpen)
	if err != nil {
		t.Fatal(err)
	}
	if d := remaining(tr); d <= 0 || d > 300*time.Millisecond {
		t.Errorf("deadline in %v, want within the 300ms default", d)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	tr, err = call(ctx, conn, mOpen)
	if err != nil {
		t.Fatal(err)
	}
	if d := remaining(tr); d < 59*time.Minute {
		t.Errorf("deadline in %v, want the caller's hour", d)
	}

	_, err = call(metadata.AppendToOutgoingContext(t.Context(), caseKey, "block"), conn, mOpen)
	if got := status.Code(err); got != codes.DeadlineExceeded {
		t.Errorf("blocking call: code = %v, want DeadlineExceeded", got)
	}
}

func TestDial_retriesOnlyListedMethods(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	attempts := map[string]int{}
	e := newEnv(t, func(_ context.Context, method string) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[method]++
		if attempts[method] <= 2 {
			return apperr.Unavailable("warming up", errors.New("cache cold"))
		}
		return nil
	})
	conn := e.dial(t, rpc.ClientOptions{Service: e.services, RetryMethods: []string{mFlaky}})

	if _, err := call(t.Context(), conn, mFlaky); err != nil {
		t.Errorf("listed method: %v, want success after retries", err)
	}
	if _, err := call(t.Context(), conn, mInternal); status.Code(err) != codes.Unavailable {
		t.Errorf("unlisted method: %v, want Unavailable", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := attempts[mFlaky]; got != 3 {
		t.Errorf("listed method attempts = %d, want 3", got)
	}
	if got := attempts[mInternal]; got != 1 {
		t.Errorf("unlisted method attempts = %d, want 1", got)
	}
}

func TestDial_rejectsMalformedRetryMethod(t *testing.T) {
	t.Parallel()
	for _, m := range []string{"", "Flaky", "photoshoot.Svc/Flaky", "/photoshoot.Svc/", "//Flaky", "/a/b/c"} {
		if _, err := rpc.Dial("127.0.0.1:1", rpc.ClientOptions{RetryMethods: []string{m}}); err == nil {
			t.Errorf("Dial accepted retry method %q", m)
		}
	}
}

// BenchmarkCall measures a unary call over loopback through both
// constructors, with a user token verified on every call.
func BenchmarkCall(b *testing.B) {
	e := newEnv(b, ok)
	conn := e.dial(b, rpc.ClientOptions{Service: e.services})
	ctx := authn.WithCaller(b.Context(), authn.Caller{UserID: "u1", Token: e.token(b, "u1")})
	for _, method := range []string{mOpen, mPublic, mInternal} {
		b.Run(method[len(serviceName)+2:], func(b *testing.B) {
			callCtx := ctx
			if method == mOpen {
				callCtx = b.Context()
			}
			for b.Loop() {
				if _, err := call(callCtx, conn, method); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
