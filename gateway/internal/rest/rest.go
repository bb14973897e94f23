// Package rest is the REST half of the gateway: a grpc-gateway mux with the
// handlers of every public RPC (those with a google.api.http annotation;
// internal RPCs have none, so they are unreachable from here by
// construction).
package rest

import (
	"context"
	"fmt"
	"net/textproto"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
)

// Upstreams are the connections to the five services.
type Upstreams struct {
	Account, Billing, Media, Analysis, Generation *grpc.ClientConn
}

// NewMux registers every public service's REST handlers. JSON is protojson
// with lowerCamelCase names (the OpenAPI document agrees); zero values are
// written out so clients see `"held": 0` rather than a missing field; unknown
// request fields are an error (400), not silently dropped. Errors are
// google.rpc.Status JSON with the HTTP code mapped from the gRPC code.
func NewMux(ctx context.Context, up Upstreams) (*runtime.ServeMux, error) {
	mux := runtime.NewServeMux(
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
	)
	regs := []struct {
		name string
		err  error
	}{
		{"account", accountv1.RegisterAccountServiceHandlerClient(ctx, mux, accountv1.NewAccountServiceClient(up.Account))},
		{"billing", billingv1.RegisterBillingServiceHandlerClient(ctx, mux, billingv1.NewBillingServiceClient(up.Billing))},
		{"media", mediav1.RegisterMediaServiceHandlerClient(ctx, mux, mediav1.NewMediaServiceClient(up.Media))},
		{"analysis", analysisv1.RegisterAnalysisServiceHandlerClient(ctx, mux, analysisv1.NewAnalysisServiceClient(up.Analysis))},
		{"generation", generationv1.RegisterGenerationServiceHandlerClient(ctx, mux, generationv1.NewGenerationServiceClient(up.Generation))},
	}
	for _, r := range regs {
		if r.err != nil {
			return nil, fmt.Errorf("register %s handlers: %w", r.name, r.err)
		}
	}
	return mux, nil
}

// incomingHeader forwards only the headers the services act on (grpc-gateway
// forwards Authorization itself). In particular its default would forward any
// `Grpc-Metadata-*` header as metadata, letting a caller inject
// x-service-authorization.
func incomingHeader(key string) (string, bool) {
	switch textproto.CanonicalMIMEHeaderKey(key) {
	case "User-Agent":
		return "x-forwarded-user-agent", true
	}
	return "", false
}
