package rpc_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/rpc"
)

// tracerProvider records nothing but gives real trace IDs, so tests can
// check that the server's context carries the client's trace.
var tracerProvider = sdktrace.NewTracerProvider()

func TestMain(m *testing.M) {
	otel.SetTracerProvider(tracerProvider)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	os.Exit(m.Run())
}

// The test service. Public, Open and Watch carry google.api.http; Internal
// and Flaky do not. Open is listed as callable without a user.
const (
	serviceName = "photoshoot.rpctest.v1.TestService"
	mPublic     = "/" + serviceName + "/Public"
	mOpen       = "/" + serviceName + "/Open"
	mInternal   = "/" + serviceName + "/Internal"
	mFlaky      = "/" + serviceName + "/Flaky"
	mWatch      = "/" + serviceName + "/Watch"
)

// Trailer keys through which handlers report what they saw.
const (
	trUser     = "x-test-user"
	trService  = "x-test-service"
	trDeadline = "x-test-deadline-ms"
)

// testFiles builds the test service's descriptors the way protoc would,
// with the http option set on the public methods.
func testFiles(t testing.TB) *protoregistry.Files {
	t.Helper()
	public := func(path string) *descriptorpb.MethodOptions {
		o := &descriptorpb.MethodOptions{}
		proto.SetExtension(o, annotations.E_Http, &annotations.HttpRule{
			Pattern: &annotations.HttpRule_Post{Post: path},
			Body:    "*",
		})
		return o
	}
	method := func(name string, opts *descriptorpb.MethodOptions, stream bool) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{
			Name:            proto.String(name),
			InputType:       proto.String(".google.protobuf.Empty"),
			OutputType:      proto.String(".google.protobuf.Empty"),
			Options:         opts,
			ServerStreaming: proto.Bool(stream),
		}
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("photoshoot/rpctest/v1/test_service.proto"),
		Package:    proto.String("photoshoot.rpctest.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/api/annotations.proto", "google/protobuf/empty.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("TestService"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Public", public("/v1/public"), false),
				method("Open", public("/v1/open"), false),
				method("Watch", public("/v1/watch"), true),
				method("Internal", nil, false),
				method("Flaky", nil, false),
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	files := new(protoregistry.Files)
	if err := files.RegisterFile(fd); err != nil {
		t.Fatal(err)
	}
	return files
}

// handlerFunc is the behaviour of every method of the test service.
type handlerFunc func(ctx context.Context, method string) error

func ok(context.Context, string) error { return nil }

// report tells the client, through trailers, which identities and deadline
// the handler saw.
func report(ctx context.Context) metadata.MD {
	md := metadata.MD{}
	if c, ok := authn.CallerFrom(ctx); ok {
		md.Set(trUser, c.UserID)
	}
	if s, ok := authn.ServiceFrom(ctx); ok {
		md.Set(trService, s)
	}
	if d, ok := ctx.Deadline(); ok {
		md.Set(trDeadline, strconv.FormatInt(time.Until(d).Milliseconds(), 10))
	}
	return md
}

func serviceDesc(h handlerFunc) *grpc.ServiceDesc {
	unary := func(name string) grpc.MethodDesc {
		full := "/" + serviceName + "/" + name
		return grpc.MethodDesc{
			MethodName: name,
			Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
				in := new(emptypb.Empty)
				if err := dec(in); err != nil {
					return nil, err
				}
				call := func(ctx context.Context, _ any) (any, error) {
					if err := grpc.SetTrailer(ctx, report(ctx)); err != nil {
						return nil, err
					}
					if err := h(ctx, full); err != nil {
						return nil, err
					}
					return &emptypb.Empty{}, nil
				}
				if ic == nil {
					return call(ctx, in)
				}
				return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, call)
			},
		}
	}
	return &grpc.ServiceDesc{
		ServiceName: serviceName,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{unary("Public"), unary("Open"), unary("Internal"), unary("Flaky")},
		Streams: []grpc.StreamDesc{{
			StreamName:    "Watch",
			ServerStreams: true,
			Handler: func(_ any, ss grpc.ServerStream) error {
				in := new(emptypb.Empty)
				if err := ss.RecvMsg(in); err != nil {
					return err
				}
				ss.SetTrailer(report(ss.Context()))
				if err := h(ss.Context(), mWatch); err != nil {
					return err
				}
				return ss.SendMsg(&emptypb.Empty{})
			},
		}},
	}
}

// env is a running test server with the credentials to call it.
type env struct {
	addr     string
	server   *rpc.Server
	logs     *recorder
	signer   *authn.Signer
	services *authn.ServiceTokenSource
}

var serviceSecret = []byte("test-secret-test-secret-test-secret")

// newEnv starts a real server on 127.0.0.1:0. mutate adjusts the options
// before the server is built.
func newEnv(t testing.TB, h handlerFunc, mutate ...func(*rpc.ServerOptions)) *env {
	t.Helper()
	e := &env{logs: &recorder{}}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if e.signer, err = authn.NewSigner("k1", priv, "account", "photoshoot", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	users, err := authn.NewVerifier(func(context.Context) ([]authn.PublicKey, error) {
		return []authn.PublicKey{e.signer.PublicKey()}, nil
	}, authn.VerifierOptions{Issuer: "account", Audience: "photoshoot"})
	if err != nil {
		t.Fatal(err)
	}
	services, err := authn.NewServiceVerifier(serviceSecret)
	if err != nil {
		t.Fatal(err)
	}
	if e.services, err = authn.NewServiceToken(serviceSecret, "generation"); err != nil {
		t.Fatal(err)
	}
	opt := rpc.ServerOptions{
		Logger:          slog.New(e.logs),
		Users:           users,
		Services:        services,
		Unauthenticated: []string{mOpen},
		Files:           testFiles(t),
	}
	for _, m := range mutate {
		m(&opt)
	}
	e.server = rpc.NewServer(opt)
	e.server.GRPC.RegisterService(serviceDesc(h), struct{}{})

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = lis.Addr().String()
	served := make(chan error, 1)
	go func() { served <- e.server.GRPC.Serve(lis) }()
	t.Cleanup(func() {
		e.server.GRPC.Stop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("Serve: %v", err)
		}
	})
	return e
}

// token signs a fresh access token for userID.
func (e *env) token(t testing.TB, userID string) string {
	t.Helper()
	tok, err := e.signer.Sign(authn.Caller{UserID: userID}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dial connects with rpc.Dial and closes the connection when the test ends.
func (e *env) dial(t testing.TB, opt rpc.ClientOptions) *grpc.ClientConn {
	t.Helper()
	conn, err := rpc.Dial(e.addr, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// call invokes a unary method and returns the handler's report.
func call(ctx context.Context, conn *grpc.ClientConn, method string) (metadata.MD, error) {
	var tr metadata.MD
	err := conn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{}, grpc.Trailer(&tr))
	return tr, err
}

// withBearer sets a raw header on the outgoing context.
func withBearer(ctx context.Context, key, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, key, "Bearer "+token)
}

// recorder is a slog.Handler that keeps every record, to check that each
// failed call is logged once at the level apperr chose.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// find returns the records whose attribute key equals value.
func (r *recorder) find(key, value string) []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []slog.Record
	for _, rec := range r.records {
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == key && a.Value.String() == value {
				out = append(out, rec)
				return false
			}
			return true
		})
	}
	return out
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
