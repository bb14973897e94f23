package job

import (
	"errors"
	"strings"
	"testing"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

func validLook() Look {
	return Look{ID: "look-1", Name: "Spring catalogue", SceneID: "marble", Variants: 2, Aspect: "4:5", Size: "2K", Marketplace: "etsy", Seed: 42}
}

// violationFields returns the fields err names, or nil when err is not
// Invalid.
func violationFields(err error) []string {
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Kind() != apperr.KindInvalid {
		return nil
	}
	var out []string
	for _, v := range ae.Violations() {
		out = append(out, v.Field)
	}
	return out
}

func TestLookValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate func(*Look)
		field  string
	}{
		"valid":            {func(*Look) {}, ""},
		"prompt_only":      {func(l *Look) { l.SceneID, l.Prompt = "", "on a beach" }, ""},
		"no_name":          {func(l *Look) { l.Name = "  " }, "name"},
		"long_name":        {func(l *Look) { l.Name = strings.Repeat("é", MaxLookNameLen+1) }, "name"},
		"control_in_name":  {func(l *Look) { l.Name = "a\x07b" }, "name"},
		"no_scene":         {func(l *Look) { l.SceneID = "" }, "scene_id"},
		"unknown_scene":    {func(l *Look) { l.SceneID = "moon" }, "scene_id"},
		"five_variants":    {func(l *Look) { l.Variants = 5 }, "variants"},
		"bad_aspect":       {func(l *Look) { l.Aspect = "5:4" }, "aspect_ratio"},
		"bad_size":         {func(l *Look) { l.Size = "8K" }, "size"},
		"bad_marketplace":  {func(l *Look) { l.Marketplace = "myspace" }, "marketplace"},
		"prompt_too_long":  {func(l *Look) { l.Prompt = strings.Repeat("x", MaxPromptLen+1) }, "prompt"},
		"negative_seed_ok": {func(l *Look) { l.Seed = -7 }, ""},
	}
	for name, tt := range tests {
		l := validLook()
		tt.mutate(&l)
		err := l.Validate()
		fields := violationFields(err)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tt.field != "" && len(fields) != 1:
			t.Errorf("%s: error %v (fields %v), want one violation on %s", name, err, fields, tt.field)
		case tt.field != "" && fields[0] != tt.field:
			t.Errorf("%s: violation on %s, want %s", name, fields[0], tt.field)
		}
	}
}

func TestLookApplyRequestFieldsWin(t *testing.T) {
	t.Parallel()
	l := validLook()
	tests := map[string]struct {
		req, want Spec
	}{
		"nothing_set_takes_the_look": {
			req:  Spec{ImageID: "img", ProductLock: true, LookID: "look-1"},
			want: Spec{ImageID: "img", SceneID: "marble", Variants: 2, Aspect: "4:5", Size: "2K", Marketplace: "etsy", Seed: 42, ProductLock: true, LookID: "look-1"},
		},
		"explicit_fields_win": {
			req:  Spec{ImageID: "img", Variants: 4, Aspect: "1:1", Size: "4K", Marketplace: "amazon", LookID: "look-1"},
			want: Spec{ImageID: "img", SceneID: "marble", Variants: 4, Aspect: "1:1", Size: "4K", Marketplace: "amazon", Seed: 42, LookID: "look-1"},
		},
		"a_prompt_replaces_the_scene": {
			req:  Spec{ImageID: "img", Prompt: "on a beach", LookID: "look-1"},
			want: Spec{ImageID: "img", Prompt: "on a beach", Variants: 2, Aspect: "4:5", Size: "2K", Marketplace: "etsy", Seed: 42, LookID: "look-1"},
		},
		"a_scene_replaces_scene_and_prompt": {
			req:  Spec{ImageID: "img", SceneID: "linen", LookID: "look-1"},
			want: Spec{ImageID: "img", SceneID: "linen", Variants: 2, Aspect: "4:5", Size: "2K", Marketplace: "etsy", Seed: 42, LookID: "look-1"},
		},
	}
	for name, tt := range tests {
		if got := l.Apply(tt.req); got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, tt.want)
		}
	}
	withPrompt := validLook()
	withPrompt.Prompt = "soft morning light"
	if got := withPrompt.Apply(Spec{ImageID: "img", SceneID: "concrete"}); got.Prompt != "" || got.SceneID != "concrete" {
		t.Errorf("a request's scene kept the Look's prompt: %+v", got)
	}
}

func TestSpecWithDefaults(t *testing.T) {
	t.Parallel()
	if got := (Spec{ImageID: "i", SceneID: "marble"}).WithDefaults(); got.Variants != 1 || got.Aspect != "1:1" || got.Size != "1K" {
		t.Errorf("defaults %+v", got)
	}
	set := Spec{ImageID: "i", SceneID: "marble", Variants: 3, Aspect: "16:9", Size: "2K"}
	if got := set.WithDefaults(); got != set {
		t.Errorf("defaults overwrote set fields: %+v", got)
	}
}

func TestLookUpdatePaths(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		paths []string
		want  []string // nil: Invalid on update_mask
	}{
		"empty":               {nil, nil},
		"unknown":             {[]string{"name", "owner"}, nil},
		"nested_is_unknown":   {[]string{"look.name"}, nil},
		"some":                {[]string{"name", "seed"}, []string{"name", "seed"}},
		"wildcard":            {[]string{"*"}, lookPaths},
		"output_only_ignored": {[]string{"id", "create_time", "size"}, []string{"size"}},
		"only_output_only":    {[]string{"id", "update_time"}, nil},
	}
	for name, tt := range tests {
		got, err := lookUpdatePaths(tt.paths)
		if tt.want == nil {
			if f := violationFields(err); len(f) != 1 || f[0] != "update_mask" {
				t.Errorf("%s: %v, want Invalid on update_mask", name, err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: %v, %v; want %v", name, got, err, tt.want)
		}
	}
}

func TestValidateBatch(t *testing.T) {
	t.Parallel()
	spec := Spec{SceneID: "marble", Variants: 1, Aspect: "1:1", Size: "1K"}
	many := make([]string, MaxBatch+1)
	for i := range many {
		many[i] = "img-" + strings.Repeat("x", i)
	}
	tests := map[string]struct {
		images []string
		spec   Spec
		field  string
	}{
		"one":          {[]string{"a"}, spec, ""},
		"fifty":        {many[:MaxBatch], spec, ""},
		"none":         {nil, spec, "image_ids"},
		"fifty_one":    {many, spec, "image_ids"},
		"blank":        {[]string{"a", " "}, spec, "image_ids[1]"},
		"duplicate":    {[]string{"a", "b", "a"}, spec, "image_ids[2]"},
		"bad_template": {[]string{"a"}, Spec{SceneID: "moon", Variants: 1, Aspect: "1:1", Size: "1K"}, "template.scene_id"},
	}
	for name, tt := range tests {
		err := validateBatch(tt.images, tt.spec)
		fields := violationFields(err)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tt.field != "" && (len(fields) != 1 || fields[0] != tt.field):
			t.Errorf("%s: %v (fields %v), want one violation on %s", name, err, fields, tt.field)
		}
	}
}
