package analyzer_test

import (
	"image"
	"strings"
	"testing"

	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
)

func valid() analyzer.Result {
	return analyzer.Result{
		Title: "Red bottle", Category: "product",
		Mask:       image.NewGray(image.Rect(0, 0, 64, 48)),
		Box:        image.Rect(10, 10, 30, 40),
		Palette:    []analyzer.Color{{Hex: "#aa0000", Name: "red", Share: 0.6}, {Hex: "#ffffff", Name: "white", Share: 0.4}},
		Background: analyzer.Background{Kind: analyzer.BackgroundWhite, Color: "#fafafa", Uniformity: 0.9},
		Scenes:     analyzer.SuggestScenes(analyzer.Facts{Title: "red bottle", Category: "product"}),
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	bounds := image.Rect(0, 0, 64, 48)
	cases := []struct {
		name   string
		mutate func(r *analyzer.Result)
	}{
		{"no_title", func(r *analyzer.Result) { r.Title = "" }},
		{"mask_of_other_size", func(r *analyzer.Result) { r.Mask = image.NewGray(image.Rect(0, 0, 10, 10)) }},
		{"box_outside", func(r *analyzer.Result) { r.Box = image.Rect(50, 40, 70, 60) }},
		{"bad_hex", func(r *analyzer.Result) { r.Palette[0].Hex = "red" }},
		{"shares_over_one", func(r *analyzer.Result) { r.Palette[0].Share = 0.9 }},
		{"unknown_background", func(r *analyzer.Result) { r.Background.Kind = 0 }},
		{"unknown_scene", func(r *analyzer.Result) { r.Scenes[0].SceneID = "moon" }},
		{"empty_text", func(r *analyzer.Result) { r.Texts = []analyzer.Text{{Kind: analyzer.TextLabel}} }},
	}
	if err := valid().Validate(bounds); err != nil {
		t.Fatalf("valid result: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := valid()
			c.mutate(&r)
			if r.Validate(bounds) == nil {
				t.Error("no error")
			}
		})
	}
}

func TestSuggestScenes(t *testing.T) {
	t.Parallel()
	f := analyzer.Facts{
		Title: "olive oil bottle", Category: "food bottle", Lightness: 60, Fill: 0.3, Aspect: 2.5,
		Palette: []analyzer.Color{{Hex: "#556b2f", Name: "olive"}},
		Texts:   []analyzer.Text{{Text: "OLIVA", Kind: analyzer.TextLabel}, {Text: "Casa", Kind: analyzer.TextLogo}},
	}
	got := analyzer.SuggestScenes(f, "holiday")
	if len(got) != len(analyzer.SceneIDs()) {
		t.Fatalf("%d scenes, want every preset", len(got))
	}
	if got[0].SceneID != "holiday" {
		t.Errorf("first %q, want the preferred scene", got[0].SceneID)
	}
	if got[1].SceneID != "kitchen-counter" {
		t.Errorf("second %q, want kitchen-counter for food", got[1].SceneID)
	}
	joined := strings.Join(got[0].Constraints, "|")
	for _, want := range []string{"keep the label text 'OLIVA' unchanged", "keep the logo 'Casa' unchanged", "#556b2f"} {
		if !strings.Contains(joined, want) {
			t.Errorf("constraints %q lack %q", joined, want)
		}
	}
	if !strings.Contains(got[0].Prompt, "olive oil bottle") || !strings.Contains(got[0].Prompt, "30%") {
		t.Errorf("prompt %q lacks the measured facts", got[0].Prompt)
	}
}

func TestColorName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		r, g, b uint8
		want    string
	}{
		{255, 255, 255, "white"}, {0, 0, 0, "black"}, {20, 35, 95, "navy"}, {200, 30, 40, "red"}, {250, 215, 40, "yellow"},
	}
	for _, c := range cases {
		if got := analyzer.ColorName(c.r, c.g, c.b); got != c.want {
			t.Errorf("ColorName(%d,%d,%d) = %q, want %q", c.r, c.g, c.b, got, c.want)
		}
	}
}
