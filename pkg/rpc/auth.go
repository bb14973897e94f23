package rpc

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
)

// Metadata keys of the two credentials. gRPC metadata keys are lower case.
const (
	UserAuthHeader    = "authorization"
	ServiceAuthHeader = "x-service-authorization"
)

// access is what a method demands of its caller.
type access int

const (
	// accessInternal: a service credential; a user token is optional. The
	// default, so that a method we cannot classify fails closed.
	accessInternal access = iota
	accessPublic          // a user token
	accessOpen            // nothing, but a token that is sent must be valid
	accessNone            // health and reflection
)

// infraServices need no credentials: kubelet probes and grpcurl call them.
var infraServices = map[string]bool{
	healthpb.Health_ServiceDesc.ServiceName:                    true,
	reflectionv1.ServerReflection_ServiceDesc.ServiceName:      true,
	reflectionv1alpha.ServerReflection_ServiceDesc.ServiceName: true,
}

type authorizer struct {
	users    *authn.Verifier
	services *authn.ServiceVerifier
	files    *protoregistry.Files
	open     map[string]bool
}

func newAuthorizer(opt ServerOptions) *authorizer {
	a := &authorizer{
		users:    opt.Users,
		services: opt.Services,
		files:    opt.Files,
		open:     make(map[string]bool, len(opt.Unauthenticated)),
	}
	if a.files == nil {
		a.files = protoregistry.GlobalFiles
	}
	for _, m := range opt.Unauthenticated {
		a.open[m] = true
	}
	return a
}

// classify reads the method's descriptor: public methods are exactly those
// with a google.api.http option, i.e. those the gateway can route to.
func (a *authorizer) classify(fullMethod string) access {
	svc, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return accessInternal
	}
	if infraServices[svc] {
		return accessNone
	}
	d, err := a.files.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return accessInternal
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return accessInternal
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil || !proto.HasExtension(md.Options(), annotations.E_Http) {
		return accessInternal
	}
	if a.open[fullMethod] {
		return accessOpen
	}
	return accessPublic
}

func (a *authorizer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := a.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (a *authorizer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := a.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &authedStream{ServerStream: ss, ctx: ctx})
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authedStream) Context() context.Context { return s.ctx }

// authorize verifies the credentials the method demands, and any other
// credential that is present (a present credential must be valid, and a
// server without the matching verifier refuses it), and returns a context
// carrying the verified identities.
func (a *authorizer) authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	acc := a.classify(fullMethod)
	if acc == accessNone {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	cred, hasCred, err := bearer(md, ServiceAuthHeader)
	if err != nil {
		return ctx, err
	}
	if !hasCred && acc == accessInternal {
		return ctx, apperr.Unauthenticated("service credential required")
	}
	if hasCred {
		if a.services == nil {
			return ctx, fmt.Errorf("%w: server has no service verifier", apperr.Unauthenticated("service credential not accepted"))
		}
		name, err := a.services.Verify(cred)
		if err != nil {
			return ctx, err
		}
		ctx = authn.WithService(ctx, name)
	}

	token, hasToken, err := bearer(md, UserAuthHeader)
	if err != nil {
		return ctx, err
	}
	if !hasToken {
		if acc == accessPublic {
			return ctx, apperr.Unauthenticated("access token required")
		}
		return ctx, nil
	}
	if a.users == nil {
		return ctx, fmt.Errorf("%w: server has no user verifier", apperr.Unauthenticated("access token not accepted"))
	}
	c, err := a.users.Verify(ctx, token)
	if err != nil {
		return ctx, err
	}
	return authn.WithCaller(ctx, c), nil
}

// bearer extracts the token of a single "Bearer <token>" value of key.
func bearer(md metadata.MD, key string) (token string, ok bool, err error) {
	vals := md.Get(key)
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", false, apperr.Unauthenticated("more than one " + key + " value")
	}
	scheme, token, found := strings.Cut(vals[0], " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false, apperr.Unauthenticated("malformed " + key + " value, want Bearer <token>")
	}
	return token, true, nil
}
