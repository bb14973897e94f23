package claude

import (
	"errors"
	"fmt"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
)

// answer is the tool input Claude is forced to produce.
type answer struct {
	Title      string   `json:"title"`
	Category   string   `json:"category"`
	Materials  []string `json:"materials"`
	Attributes []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"attributes"`
	Palette []struct {
		Hex   string  `json:"hex"`
		Name  string  `json:"name"`
		Share float64 `json:"share"`
	} `json:"palette"`
	Texts []struct {
		Text string `json:"text"`
		Kind string `json:"kind"`
	} `json:"texts"`
	Scenes []string `json:"suggested_scenes"`
}

// Limits on what is stored: a model answer is untrusted input.
const (
	maxTitle = 120
	maxShort = 80
	maxItems = 20
)

func (a *answer) validate() error {
	var errs []error
	a.Title, a.Category = strings.TrimSpace(a.Title), strings.TrimSpace(a.Category)
	if a.Title == "" || len(a.Title) > maxTitle {
		errs = append(errs, fmt.Errorf("title of %d bytes", len(a.Title)))
	}
	if a.Category == "" || len(a.Category) > maxShort {
		errs = append(errs, fmt.Errorf("category of %d bytes", len(a.Category)))
	}
	if len(a.Materials) > maxItems || len(a.Attributes) > maxItems || len(a.Palette) > maxItems || len(a.Texts) > maxItems {
		errs = append(errs, errors.New("too many items"))
	}
	for _, m := range a.Materials {
		if m == "" || len(m) > maxShort {
			errs = append(errs, fmt.Errorf("material %q", m))
		}
	}
	for _, at := range a.Attributes {
		if at.Name == "" || len(at.Name) > maxShort || len(at.Value) > maxShort {
			errs = append(errs, fmt.Errorf("attribute %q", at.Name))
		}
	}
	for i, c := range a.Palette {
		a.Palette[i].Hex = strings.ToLower(c.Hex)
		if _, _, _, err := analyzer.ParseHex(a.Palette[i].Hex); err != nil {
			errs = append(errs, err)
		}
		if c.Share < 0 || c.Share > 1 {
			errs = append(errs, fmt.Errorf("share %v", c.Share))
		}
	}
	for _, t := range a.Texts {
		if t.Text == "" || len(t.Text) > maxTitle || (t.Kind != "label" && t.Kind != "logo") {
			errs = append(errs, fmt.Errorf("text %q of kind %q", t.Text, t.Kind))
		}
	}
	for _, s := range a.Scenes {
		if !analyzer.IsScene(s) {
			errs = append(errs, fmt.Errorf("unknown scene %q", s))
		}
	}
	return errors.Join(errs...)
}

func inputSchema() anthropic.ToolInputSchemaParam {
	str := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	return anthropic.ToolInputSchemaParam{
		Properties: map[string]any{
			"title":     str("Short product title a shop would use, e.g. 'Amber glass dropper bottle'."),
			"category":  str("Product category, e.g. 'skincare serum bottle'."),
			"materials": map[string]any{"type": "array", "items": str("A visible material, e.g. 'glass'."), "maxItems": maxItems},
			"attributes": map[string]any{"type": "array", "maxItems": maxItems, "items": map[string]any{
				"type": "object", "required": []string{"name", "value"},
				"properties": map[string]any{"name": str("e.g. 'capacity'"), "value": str("e.g. '30 ml'")},
			}},
			"palette": map[string]any{"type": "array", "maxItems": 8, "items": map[string]any{
				"type": "object", "required": []string{"hex", "name", "share"},
				"properties": map[string]any{
					"hex":   map[string]any{"type": "string", "pattern": "^#[0-9a-f]{6}$"},
					"name":  str("Common colour name."),
					"share": map[string]any{"type": "number", "minimum": 0, "maximum": 1},
				},
			}},
			"texts": map[string]any{"type": "array", "maxItems": maxItems, "items": map[string]any{
				"type": "object", "required": []string{"text", "kind"},
				"properties": map[string]any{
					"text": str("Exactly as printed."),
					"kind": map[string]any{"type": "string", "enum": []string{"label", "logo"}},
				},
			}},
			"suggested_scenes": map[string]any{"type": "array", "maxItems": 11, "items": map[string]any{"type": "string", "enum": analyzer.SceneIDs()}},
		},
		Required: []string{"title", "category", "materials", "attributes", "palette", "texts", "suggested_scenes"},
	}
}

// merge keeps the local analyser's pixels and measurements and takes what
// Claude read.
func merge(base analyzer.Result, a answer) analyzer.Result {
	r := base
	r.Title, r.Category, r.Materials = a.Title, a.Category, a.Materials
	r.Attributes = nil
	for _, at := range a.Attributes {
		r.Attributes = append(r.Attributes, analyzer.Attribute{Name: at.Name, Value: at.Value})
	}
	if len(a.Palette) > 0 {
		r.Palette = nil
		total := 0.0
		for _, c := range a.Palette {
			total += c.Share
		}
		for _, c := range a.Palette {
			share := c.Share
			if total > 1 {
				share /= total
			}
			r.Palette = append(r.Palette, analyzer.Color{Hex: c.Hex, Name: c.Name, Share: share})
		}
	}
	r.Texts = nil
	for _, t := range a.Texts {
		kind := analyzer.TextLabel
		if t.Kind == "logo" {
			kind = analyzer.TextLogo
		}
		r.Texts = append(r.Texts, analyzer.Text{Text: t.Text, Kind: kind})
	}
	f := analyzer.Facts{Title: r.Title, Category: r.Category, Materials: r.Materials, Palette: r.Palette, Texts: r.Texts}
	for _, at := range base.Attributes {
		if at.Name == "proportions" {
			r.Attributes = append(r.Attributes, at)
		}
	}
	if b := base.Box; !b.Empty() {
		f.Aspect = float64(b.Dy()) / float64(b.Dx())
	}
	r.Scenes = analyzer.SuggestScenes(f, a.Scenes...)
	return r
}
