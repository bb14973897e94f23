// Package api translates the analysis service's gRPC calls into its domain.
package api

import (
	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
)

// Server implements analysisv1.AnalysisServiceServer. The RPCs' logic arrives with
// issue #6; until then every RPC answers codes.Unimplemented, which
// the embedded type provides, rather than a made-up answer.
type Server struct {
	analysisv1.UnimplementedAnalysisServiceServer
}
