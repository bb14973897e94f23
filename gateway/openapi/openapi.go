// Package openapi embeds the OpenAPI document generated from the protos
// (`make proto` writes photoshoot.swagger.json beside this file), which the
// gateway serves at /openapi.json as the API reference.
package openapi

import _ "embed"

// Document is the merged OpenAPI v2 document of every public RPC.
//
//go:embed photoshoot.swagger.json
var Document []byte
