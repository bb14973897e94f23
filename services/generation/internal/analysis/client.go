// Package analysis is the generation service's client of the analysis
// service: what the worker needs of a product analysis — its mask and the
// ready prompt and constraints for the chosen scene.
package analysis

import (
	"context"
	"strings"

	"github.com/connectengine/photoshoot/pkg/apperr"
	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
)

// Analysis is the part of an analysis a job uses.
type Analysis struct {
	// MaskImageID is the media image of the product's soft alpha.
	MaskImageID string
	// Prompts are the analysis's ready prompts by scene id, constraints
	// ("keep the label text 'X' unchanged") appended.
	Prompts map[string]string
	// Constraints are every scene's constraints, de-duplicated, for a
	// seller's own prompt.
	Constraints []string
}

// Client fetches analyses over gRPC.
type Client struct {
	c analysisv1.AnalysisServiceClient
}

// New returns a client on a connection made with platform.Dial.
func New(c analysisv1.AnalysisServiceClient) *Client { return &Client{c: c} }

// Fetch returns the analysis of the user's image, analysing it first if
// it has not been (FetchAnalysis does that).
func (c *Client) Fetch(ctx context.Context, userID, imageID string) (Analysis, error) {
	resp, err := c.c.FetchAnalysis(ctx, &analysisv1.FetchAnalysisRequest{UserId: userID, ImageId: imageID})
	if err != nil {
		return Analysis{}, apperr.FromStatus(err)
	}
	a := resp.GetAnalysis()
	if a.GetMaskImageId() == "" {
		return Analysis{}, apperr.Precondition("ANALYSIS_WITHOUT_MASK", "the product analysis of "+imageID+" has no mask")
	}
	out := Analysis{MaskImageID: a.GetMaskImageId(), Prompts: map[string]string{}}
	seen := map[string]bool{}
	for _, s := range a.GetSuggestedScenes() {
		out.Prompts[s.GetSceneId()] = WithConstraints(s.GetPrompt(), s.GetConstraints())
		for _, c := range s.GetConstraints() {
			if !seen[c] {
				seen[c] = true
				out.Constraints = append(out.Constraints, c)
			}
		}
	}
	return out, nil
}

// WithConstraints appends constraints to prompt as sentences.
func WithConstraints(prompt string, constraints []string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(prompt))
	for _, c := range constraints {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString(strings.TrimSuffix(c, "."))
		b.WriteString(".")
	}
	return b.String()
}
