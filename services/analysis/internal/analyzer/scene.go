package analyzer

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Scene is a scene preset the generation service renders; the ids are shared
// with its presets.
type Scene struct {
	ID string
	// Setting is the template's description of the scene.
	Setting string
	// Suits lists words in a category or material that make the scene a
	// good fit.
	Suits []string
	// Dark marks a dark scene: it flatters light products and swallows
	// dark ones.
	Dark bool
}

// scenes are the presets in their default order; read-only.
var scenes = []Scene{
	{ID: "studio-white", Setting: "on a seamless pure white studio backdrop with soft, even softbox lighting and a gentle contact shadow"},
	{ID: "soft-gradient", Setting: "on a smooth soft-gradient studio backdrop in a colour that complements the product, with diffuse lighting"},
	{ID: "marble", Setting: "on a polished white marble surface with soft window light and subtle reflections", Suits: []string{"cosmetic", "skincare", "jewel", "perfume", "watch", "bottle", "jar", "glass"}},
	{ID: "light-wood", Setting: "on a light natural wood tabletop with warm morning light", Suits: []string{"food", "coffee", "tea", "kitchen", "ceramic", "wood", "jar", "mug", "candle"}},
	{ID: "pastel-podium", Setting: "on a pastel cylindrical podium against a matching pastel wall, soft studio light", Suits: []string{"cosmetic", "skincare", "toy", "shoe", "bottle", "box", "accessor"}},
	{ID: "dark-luxury", Setting: "on a dark slate surface against a deep black backdrop with a dramatic rim light", Dark: true, Suits: []string{"perfume", "watch", "jewel", "spirit", "wine", "leather", "metal", "glass"}},
	{ID: "concrete", Setting: "on a raw grey concrete surface with hard directional light and crisp shadows", Suits: []string{"shoe", "sneaker", "tech", "electronic", "bag", "metal", "tool"}},
	{ID: "linen", Setting: "on natural beige linen fabric with soft daylight", Suits: []string{"textile", "apparel", "candle", "soap", "cosmetic", "cotton", "box"}},
	{ID: "botanical-shadows", Setting: "on a warm neutral surface with dappled palm-leaf shadows from late afternoon sun", Suits: []string{"skincare", "cosmetic", "bottle", "beverage", "jar", "sunscreen", "plant"}},
	{ID: "kitchen-counter", Setting: "on a clean kitchen countertop with blurred kitchen details behind and natural light", Suits: []string{"food", "beverage", "kitchen", "sauce", "oil", "spice", "coffee", "jar", "bottle", "can"}},
	{ID: "holiday", Setting: "in a festive holiday setting with warm bokeh lights, pine sprigs and wrapped gifts around it", Suits: []string{"gift", "box", "candle", "chocolate", "toy", "perfume"}},
}

// SceneIDs lists the scene preset ids in their default order.
func SceneIDs() []string {
	ids := make([]string, len(scenes))
	for i, s := range scenes {
		ids[i] = s.ID
	}
	return ids
}

// IsScene reports whether id names a scene preset.
func IsScene(id string) bool {
	return slices.ContainsFunc(scenes, func(s Scene) bool { return s.ID == id })
}

// Facts are what the prompt templates are filled with.
type Facts struct {
	Title     string
	Category  string
	Materials []string
	Palette   []Color
	Texts     []Text
	// Fill is the product's share of the frame's area, 0..1.
	Fill float64
	// Aspect is the product's height over its width.
	Aspect float64
	// Lightness is the product's mean lightness, 0 (black) .. 100 (white).
	Lightness float64
}

// SuggestScenes ranks every scene preset for the product and writes its
// prompt and constraints from the facts, so a generation worker has a prompt
// whichever scene the user picks. Providers that rank scenes themselves pass
// their order in prefer; unknown ids there are ignored.
func SuggestScenes(f Facts, prefer ...string) []ScenePrompt {
	text := strings.ToLower(f.Category + " " + f.Title + " " + strings.Join(f.Materials, " "))
	type ranked struct {
		scene Scene
		score float64
	}
	rs := make([]ranked, 0, len(scenes))
	for i, s := range scenes {
		score := -float64(i) * 0.01 // stable default order
		for _, w := range s.Suits {
			if strings.Contains(text, w) {
				score++
			}
		}
		// A dark product vanishes on a dark scene; a very light one on white.
		switch {
		case s.Dark && f.Lightness < 35:
			score -= 2
		case s.Dark && f.Lightness > 70:
			score += 0.5
		case s.ID == "studio-white" && f.Lightness > 88:
			score -= 1
		case s.ID == "studio-white":
			score += 1.5 // the marketplace main-image look is always useful
		}
		if j := slices.Index(prefer, s.ID); j >= 0 {
			score += 10 - float64(j)*0.1
		}
		rs = append(rs, ranked{s, score})
	}
	slices.SortStableFunc(rs, func(a, b ranked) int { return cmp.Compare(b.score, a.score) })
	out := make([]ScenePrompt, len(rs))
	for i, r := range rs {
		out[i] = ScenePrompt{SceneID: r.scene.ID, Prompt: prompt(f, r.scene), Constraints: Constraints(f)}
	}
	return out
}

func prompt(f Facts, s Scene) string {
	var b strings.Builder
	subject := f.Title
	if subject == "" {
		subject = f.Category
	}
	fmt.Fprintf(&b, "Professional product photograph of %s", article(subject))
	if len(f.Materials) > 0 {
		fmt.Fprintf(&b, " made of %s", strings.Join(f.Materials, " and "))
	}
	if len(f.Palette) > 0 {
		names := make([]string, 0, 3)
		for _, c := range f.Palette[:min(3, len(f.Palette))] {
			if !slices.Contains(names, c.Name) {
				names = append(names, c.Name)
			}
		}
		fmt.Fprintf(&b, " in %s", strings.Join(names, ", "))
	}
	fmt.Fprintf(&b, ", %s.", s.Setting)
	switch {
	case f.Aspect > 1.6:
		b.WriteString(" The product stands upright, centred, tall in the frame.")
	case f.Aspect > 0 && f.Aspect < 0.65:
		b.WriteString(" The product lies wide and low, centred in the frame.")
	default:
		b.WriteString(" The product is centred in the frame.")
	}
	if f.Fill > 0 {
		fmt.Fprintf(&b, " It fills about %d%% of the image area, as in the source photo.", int(f.Fill*100+0.5))
	}
	b.WriteString(" Photorealistic, sharp focus on the product, natural shadows, high dynamic range, no extra objects covering the product.")
	return b.String()
}

// Constraints are what every output must keep from the source photo.
func Constraints(f Facts) []string {
	c := []string{"keep the product's shape, proportions and orientation unchanged"}
	if len(f.Palette) > 0 {
		hex := make([]string, 0, 3)
		for _, p := range f.Palette[:min(3, len(f.Palette))] {
			hex = append(hex, p.Hex)
		}
		c = append(c, fmt.Sprintf("keep the product's colours (%s) unchanged", strings.Join(hex, ", ")))
	}
	for _, t := range f.Texts {
		switch t.Kind {
		case TextLogo:
			c = append(c, fmt.Sprintf("keep the logo '%s' unchanged", t.Text))
		default:
			c = append(c, fmt.Sprintf("keep the label text '%s' unchanged", t.Text))
		}
	}
	return append(c, "do not add text, logos or watermarks")
}

func article(s string) string {
	if s == "" {
		return "a product"
	}
	if strings.ContainsRune("aeiouAEIOU", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}
