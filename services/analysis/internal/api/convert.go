package api

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	"github.com/connectengine/photoshoot/services/analysis/internal/analysis"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
)

func toProto(a analysis.Analysis) *analysisv1.Analysis {
	r := a.Result
	out := &analysisv1.Analysis{
		Id:              a.ID,
		ImageId:         a.ImageID,
		Provider:        a.Provider.Name,
		ProviderVersion: a.Provider.Version,
		State:           stateToProto(a.State),
		Title:           r.Title,
		Category:        r.Category,
		Materials:       r.Materials,
		MaskImageId:     a.MaskImageID,
		CreateTime:      timestamppb.New(a.CreateTime),
		Error:           a.Error,
	}
	if a.State != analysis.StateSucceeded {
		return out
	}
	for _, at := range r.Attributes {
		out.Attributes = append(out.Attributes, &analysisv1.Attribute{Name: at.Name, Value: at.Value})
	}
	for _, c := range r.Palette {
		out.Palette = append(out.Palette, &analysisv1.Color{Hex: c.Hex, Name: c.Name, Share: float32(c.Share)})
	}
	for _, t := range r.Texts {
		kind := analysisv1.TextKind_TEXT_KIND_LABEL
		if t.Kind == analyzer.TextLogo {
			kind = analysisv1.TextKind_TEXT_KIND_LOGO
		}
		out.Texts = append(out.Texts, &analysisv1.DetectedText{Text: t.Text, Kind: kind})
	}
	out.Background = &analysisv1.Background{
		Kind:       analysisv1.BackgroundKind(r.Background.Kind), // same numbering, see analyzer.BackgroundKind
		Color:      r.Background.Color,
		Uniformity: float32(r.Background.Uniformity),
	}
	b := r.Box
	out.BoundingBox = &analysisv1.Box{X: int32(b.Min.X), Y: int32(b.Min.Y), Width: int32(b.Dx()), Height: int32(b.Dy())}
	for _, sc := range r.Scenes {
		out.SuggestedScenes = append(out.SuggestedScenes, &analysisv1.ScenePrompt{SceneId: sc.SceneID, Prompt: sc.Prompt, Constraints: sc.Constraints})
	}
	return out
}

func stateToProto(s analysis.State) analysisv1.AnalysisState {
	switch s {
	case analysis.StateSucceeded:
		return analysisv1.AnalysisState_ANALYSIS_STATE_SUCCEEDED
	case analysis.StateFailed:
		return analysisv1.AnalysisState_ANALYSIS_STATE_FAILED
	}
	return analysisv1.AnalysisState_ANALYSIS_STATE_UNSPECIFIED
}
