//go:build !wip

// Package api translates the generation service's gRPC calls into its domain.
package api

import (
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
)

// Server implements generationv1.GenerationServiceServer. The RPCs' logic arrives with
// issue #7; until then every RPC answers codes.Unimplemented, which
// the embedded type provides, rather than a made-up answer.
type Server struct {
	generationv1.UnimplementedGenerationServiceServer
}
