package studio

import (
	"math"
	"math/rand/v2"
)

// Scene is a procedural studio set the renderer can build.
type Scene struct {
	// ID is the stable id shared with the analysis service's suggestions.
	ID string
	// Name is the display name.
	Name string
	// Description is a one-line description for the scene picker.
	Description string
	// Glossy floors show the product's reflection.
	Glossy bool
	// Prompt describes the scene to an AI image model.
	Prompt string

	sweep   bool    // seamless backdrop: wall and floor blend with no edge
	horizon float32 // wall/floor edge as a fraction of the height
	base    float32 // product base as a fraction of the height
	light   [3]float32
	gain    float32
	shadow  float32 // cast and contact shadow strength 0..1
	wall    func(l *layout, x, y float32) [3]float32
	floor   func(l *layout, x, y, u, v float32) [3]float32
	grain   func(n noise) [tileSize * tileSize]float32
}

// layout is one render's geometry and seeded choices.
type layout struct {
	w, h        float32
	horizon     float32
	base        float32
	product     [4]float32 // x0, y0, x1, y1 of the placed product
	n           noise
	hue         [3]float32
	leaves      [][4]float32 // x, y, radius, angle
	bokeh       [][4]float32 // x, y, radius, warmth
	podiumWidth float32
}

var pastels = [][3]float32{
	{236, 212, 206}, {212, 226, 236}, {222, 232, 214}, {236, 226, 204}, {226, 214, 236},
}

var scenes = []Scene{
	{
		ID: "studio-white", Name: "Studio white", Description: "Seamless white sweep with soft top light.",
		Prompt: "on a seamless white studio backdrop, soft diffused top light, gentle shadow",
		sweep:  true, horizon: 0.66, base: 0.82, light: [3]float32{255, 255, 255}, gain: 1, shadow: 0.55,
		wall: func(l *layout, x, y float32) [3]float32 {
			return radial(l, x, y, [3]float32{250, 250, 250}, [3]float32{228, 228, 230})
		},
		floor: func(l *layout, x, y, u, v float32) [3]float32 {
			return radial(l, x, y, [3]float32{252, 252, 252}, [3]float32{236, 236, 238})
		},
		grain: grainTile(1.2),
	},
	{
		ID: "soft-gradient", Name: "Soft gradient", Description: "Pastel gradient backdrop with a glow behind the product.",
		Prompt: "on a soft pastel gradient backdrop, glowing light behind the product, minimal",
		sweep:  true, horizon: 0.64, base: 0.82, light: [3]float32{255, 248, 244}, gain: 1, shadow: 0.5,
		wall: func(l *layout, x, y float32) [3]float32 {
			top := scale(l.hue, 0.86)
			c := mix(top, add(l.hue, [3]float32{12, 12, 12}), y/l.h)
			return glow(l, x, y, c, 0.22)
		},
		floor: func(l *layout, x, y, u, v float32) [3]float32 {
			return glow(l, x, y, mix(l.hue, add(l.hue, [3]float32{14, 14, 14}), y/l.h), 0.2)
		},
		grain: grainTile(1.5),
	},
	{
		ID: "marble", Name: "Marble", Description: "White marble surface with grey veining and a plaster wall.",
		Prompt: "standing on a polished white marble surface with grey veins, light plaster wall, soft daylight",
		Glossy: true, horizon: 0.6, base: 0.8, light: [3]float32{255, 250, 244}, gain: 1, shadow: 0.55,
		wall: func(l *layout, x, y float32) [3]float32 {
			m := l.n.fbm(x/l.h*6, y/l.h*6, 3)
			return glow(l, x, y, add([3]float32{222, 216, 208}, scale([3]float32{1, 1, 1}, (m-0.5)*14)), 0.08)
		},
		floor: func(l *layout, x, y, u, v float32) [3]float32 {
			t := l.n.fbm(u*2.2, v*2.2, 4)
			vein := 1 - smoothstep(0, 0.04, abs32(float32(math.Sin(float64((u*1.7+v*0.6+t*5)*math.Pi)))))
			fine := 1 - smoothstep(0, 0.03, abs32(float32(math.Sin(float64((u*4.1-v*1.3+t*9)*math.Pi)))))
			c := add([3]float32{242, 240, 237}, scale([3]float32{1, 1, 1}, (t-0.5)*10))
			c = mix(c, [3]float32{160, 160, 166}, vein*0.45+fine*0.15)
			return shade(c, y, l)
		},
		grain: grainTile(1),
	},
	{
		ID: "light-wood", Name: "Light wood", Description: "Light oak table top against a warm off-white wall.",
		Prompt:  "on a light oak wooden table, warm off-white wall, natural window light",
		horizon: 0.6, base: 0.82, light: [3]float32{255, 246, 232}, gain: 1, shadow: 0.6,
		wall: func(l *layout, x, y float32) [3]float32 {
			return glow(l, x, y, add([3]float32{236, 231, 222}, scale([3]float32{1, 1, 1}, (l.n.fbm(x/l.h*4, y/l.h*4, 2)-0.5)*8)), 0.1)
		},
		floor: func(l *layout, x, y, u, v float32) [3]float32 {
			pu := u*2.4 + 0.5 // a plank, not a seam, runs under the product
			plank := float32(math.Floor(float64(pu)))
			tone := l.n.hash(int32(plank), 7)*0.14 - 0.07
			g := l.n.fbm(u*3+plank*11, v*0.4, 3)
			ring := float32(math.Sin(float64(v*26+g*14+plank*3))) * 0.5
			base := [3]float32{214, 178, 134}
			c := scale(base, 1+tone+ring*0.05+(g-0.5)*0.1)
			seam := abs32(pu - plank - 0.5)
			c = scale(c, 1-smoothstep(0.47, 0.5, seam)*0.25)
			return shade(c, y, l)
		},
		grain: grainTile(2),
	},
	{
		ID: "pastel-podium", Name: "Pastel podium", Description: "Cylindrical podium in a pastel set.",
		Prompt:  "on a pastel cylindrical podium in a pastel studio set, soft shadows, minimal product display",
		horizon: 0.68, base: 0.74, light: [3]float32{255, 250, 248}, gain: 1, shadow: 0.5,
		wall: func(l *layout, x, y float32) [3]float32 {
			return podium(l, x, y, glow(l, x, y, l.hue, 0.12))
		},
		floor: func(l *layout, x, y, u, v float32) [3]float32 {
			return podium(l, x, y, shade(scale(l.hue, 0.95), y, l))
		},
		grain: grainTile(1.2),
	},
	{
		ID: "dark-luxury", Name: "Dark luxury", Description: "Black gloss floor, charcoal wall and a warm spotlight.",
		Prompt: "on a glossy black surface, dark charcoal background, dramatic warm spotlight, luxury",
		Glossy: true, horizon: 0.62, base: 0.8, light: [3]float32{255, 236, 210}, gain: 0.97, shadow: 0.7,
		wall: func(l *layout, x, y float32) [3]float32 {
			cx, cy := (l.product[0]+l.product[2])/2, (l.product[1]+l.product[3])/2
			d := float32(math.Hypot(float64(x-cx), float64((y-cy)*1.3))) / l.h
			spot := 1 - smoothstep(0, 0.55, d)
			return add([3]float32{22, 21, 24}, scale([3]float32{96, 74, 52}, spot*spot))
		},
		floor: func(l *layout, x, y, u, v float32) [3]float32 {
			cx := (l.product[0] + l.product[2]) / 2
			d := abs32(x-cx) / l.w
			return add([3]float32{14, 13, 15}, scale([3]float32{40, 32, 24}, (1-smoothstep(0, 0.5, d))*(1-(y-l.horizon)/(l.h-l.horizon))))
		},
		grain: grainTile(1.5),
	},
	{
		ID: "concrete", Name: "Concrete", Description: "Raw grey concrete wall and floor.",
		Prompt:  "on raw grey concrete, industrial minimal set, soft side light",
		horizon: 0.62, base: 0.82, light: [3]float32{246, 248, 252}, gain: 1, shadow: 0.65,
		wall: func(l *layout, x, y float32) [3]float32 {
			return concrete(l, x/l.h*5, y/l.h*5, [3]float32{166, 166, 164}, x, y)
		},
		floor: func(l *layout, x, y, u, v float32) [3]float32 {
			return shade(concrete(l, u*3, v*3, [3]float32{146, 145, 142}, x, y), y, l)
		},
		grain: grainTile(4),
	},
	{
		ID: "linen", Name: "Linen", Description: "Natural linen cloth draped as a seamless backdrop.",
		Prompt: "on natural beige linen fabric with soft folds, warm daylight",
		sweep:  true, horizon: 0.64, base: 0.82, light: [3]float32{255, 246, 232}, gain: 1, shadow: 0.55,
		wall: func(l *layout, x, y float32) [3]float32 {
			fold := l.n.fbm(x/l.h*2.5, y/l.h*1.2, 3)
			return glow(l, x, y, scale([3]float32{226, 214, 194}, 0.9+fold*0.16), 0.08)
		},
		floor: func(l *layout, x, y, u, v float32) [3]float32 {
			fold := l.n.fbm(x/l.h*2.5, y/l.h*1.2, 3)
			return scale([3]float32{230, 219, 200}, 0.92+fold*0.14)
		},
		grain: weaveTile,
	},
	{
		ID: "botanical-shadows", Name: "Botanical shadows", Description: "Warm wall with dappled leaf shadows.",
		Prompt:  "warm beige wall with dappled palm leaf shadows, sunlight, natural aesthetic",
		horizon: 0.64, base: 0.82, light: [3]float32{255, 240, 218}, gain: 1, shadow: 0.6,
		wall: func(l *layout, x, y float32) [3]float32 {
			return scale([3]float32{238, 224, 204}, 1-0.28*leafShadow(l, x, y))
		},
		floor: func(l *layout, x, y, u, v float32) [3]float32 {
			return shade(scale([3]float32{232, 218, 198}, 1-0.2*leafShadow(l, x, y*0.8)), y, l)
		},
		grain: grainTile(1.5),
	},
	{
		ID: "kitchen-counter", Name: "Kitchen counter", Description: "Stone counter against white subway tiles.",
		Prompt: "on a light stone kitchen counter, white subway tiles behind, bright morning light",
		Glossy: true, horizon: 0.58, base: 0.82, light: [3]float32{255, 250, 240}, gain: 1, shadow: 0.55,
		wall: func(l *layout, x, y float32) [3]float32 {
			th := l.h / 11
			row := float32(math.Floor(float64(y / th)))
			off := float32(0)
			if int(row)%2 == 1 {
				off = th
			}
			tx := float32(math.Mod(float64(x+off), float64(th*2)))
			ty := y - row*th
			grout := max(1-smoothstep(0, th*0.04, tx), 1-smoothstep(0, th*0.04, ty))
			c := scale([3]float32{240, 240, 236}, 1-0.03*(l.n.hash(int32((x+off)/(th*2)), int32(row))))
			return glow(l, x, y, mix(c, [3]float32{206, 204, 198}, grout), 0.06)
		},
		floor: func(l *layout, x, y, u, v float32) [3]float32 {
			s := l.n.fbm(u*8, v*8, 3)
			c := add([3]float32{222, 216, 206}, scale([3]float32{1, 1, 1}, (s-0.5)*18))
			return shade(c, y, l)
		},
		grain: grainTile(3),
	},
	{
		ID: "holiday", Name: "Holiday", Description: "Deep green backdrop with warm bokeh lights on a wooden table.",
		Prompt:  "on a wooden table, deep green background with warm golden bokeh lights, festive holiday",
		horizon: 0.62, base: 0.82, light: [3]float32{255, 236, 206}, gain: 0.98, shadow: 0.65,
		wall: func(l *layout, x, y float32) [3]float32 {
			c := mix([3]float32{18, 46, 34}, [3]float32{30, 72, 52}, y/l.h)
			for _, b := range l.bokeh {
				d := float32(math.Hypot(float64(x-b[0]), float64(y-b[1])))
				if d < b[2] {
					a := (1 - smoothstep(b[2]*0.8, b[2], d)) * 0.55
					c = mix(c, [3]float32{255, 200 - b[3]*40, 120 - b[3]*60}, a)
				}
			}
			return c
		},
		floor: func(l *layout, x, y, u, v float32) [3]float32 {
			g := l.n.fbm(u*2, v*0.5, 3)
			ring := float32(math.Sin(float64(v*18+g*12))) * 0.5
			return shade(scale([3]float32{132, 88, 56}, 1+ring*0.06+(g-0.5)*0.15), y, l)
		},
		grain: grainTile(2),
	},
}

// Scenes lists every scene the renderer can build, in display order.
func Scenes() []Scene { return append([]Scene(nil), scenes...) }

// Lookup returns the scene with id.
func Lookup(id string) (Scene, bool) {
	for _, s := range scenes {
		if s.ID == id {
			return s, true
		}
	}
	return Scene{}, false
}

func newLayout(s Scene, w, h int, product [4]float32, seed int64) *layout {
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	l := &layout{
		w: float32(w), h: float32(h), horizon: s.horizon * float32(h), base: s.base * float32(h),
		product: product, n: noise{seed: uint32(seed) ^ uint32(seed>>32)},
		hue: pastels[r.IntN(len(pastels))],
	}
	l.podiumWidth = max((product[2]-product[0])*1.5, l.w*0.3)
	for range 26 {
		l.leaves = append(l.leaves, [4]float32{
			r.Float32() * l.w, r.Float32() * l.horizon * 0.9, (0.05 + r.Float32()*0.06) * l.h, r.Float32() * math.Pi,
		})
	}
	for range 18 {
		l.bokeh = append(l.bokeh, [4]float32{
			r.Float32() * l.w, r.Float32() * l.horizon, (0.025 + r.Float32()*0.05) * l.h, r.Float32(),
		})
	}
	return l
}

// radial brightens toward the product and darkens toward the frame's corners.
func radial(l *layout, x, y float32, centre, edge [3]float32) [3]float32 {
	cx, cy := (l.product[0]+l.product[2])/2, (l.product[1]+l.product[3])/2
	d := float32(math.Hypot(float64((x-cx)/l.w), float64((y-cy)/l.h)))
	return mix(centre, edge, smoothstep(0.15, 0.85, d))
}

// glow adds a soft light behind the product of relative strength k.
func glow(l *layout, x, y float32, c [3]float32, k float32) [3]float32 {
	cx, cy := (l.product[0]+l.product[2])/2, (l.product[1]+l.product[3])/2
	d := float32(math.Hypot(float64((x-cx)/l.h), float64((y-cy)/l.h)))
	return scale(c, 1+k*(1-smoothstep(0, 0.7, d))-k*0.5)
}

// shade darkens the floor slightly toward the horizon, as a lit table top falls off.
func shade(c [3]float32, y float32, l *layout) [3]float32 {
	t := (y - l.horizon) / max(l.h-l.horizon, 1)
	return scale(c, 0.9+0.1*smoothstep(0, 0.6, t))
}

func concrete(l *layout, u, v float32, base [3]float32, x, y float32) [3]float32 {
	m := l.n.fbm(u, v, 4)
	pit := smoothstep(0.8, 0.95, l.n.at(u*9, v*9)) * 0.035
	return scale(base, 0.86+m*0.26-pit)
}

func leafShadow(l *layout, x, y float32) float32 {
	var s float32
	for _, lf := range l.leaves {
		dx, dy := x-lf[0], y-lf[1]
		if abs32(dx) > lf[2]*1.2 || abs32(dy) > lf[2]*1.2 {
			continue
		}
		sin, cos := math.Sincos(float64(lf[3]))
		a := float32(float64(dx)*cos + float64(dy)*sin)
		b := float32(-float64(dx)*sin + float64(dy)*cos)
		e := (a*a)/(lf[2]*lf[2]) + (b*b)/(lf[2]*lf[2]*0.12)
		s = max(s, 1-smoothstep(0.25, 1.0, e))
	}
	return s
}

// podium draws a cylinder under the product's base over the set behind it.
func podium(l *layout, x, y float32, behind [3]float32) [3]float32 {
	cx := (l.product[0] + l.product[2]) / 2
	rx := l.podiumWidth / 2
	ry := rx * 0.16
	dx := (x - cx) / rx
	if abs32(dx) > 1 {
		return behind
	}
	top := l.base
	e := dx*dx + ((y-top)/ry)*((y-top)/ry)
	body := scale(add(l.hue, [3]float32{10, 10, 10}), 0.84+0.16*(1-dx*dx))
	switch {
	case e <= 1:
		return add(l.hue, [3]float32{16, 16, 16})
	case y > top && y < top+l.h*0.3:
		return body
	}
	return behind
}

const tileSize = 64

// grainTile returns a seeded noise tile of amplitude amp levels, added per
// pixel at full resolution so a surface does not look airbrushed.
func grainTile(amp float32) func(n noise) [tileSize * tileSize]float32 {
	return func(n noise) [tileSize * tileSize]float32 {
		var t [tileSize * tileSize]float32
		for i := range t {
			t[i] = (n.hash(int32(i%tileSize), int32(i/tileSize)+9000) - 0.5) * 2 * amp
		}
		return t
	}
}

// weaveTile is linen's over-under weave.
func weaveTile(n noise) [tileSize * tileSize]float32 {
	var t [tileSize * tileSize]float32
	for i := range t {
		x, y := float64(i%tileSize), float64(i/tileSize)
		wv := math.Sin(x*math.Pi/2) * math.Sin(y*math.Pi/2)
		t[i] = float32(wv*5) + (n.hash(int32(x), int32(y)+7000)-0.5)*5
	}
	return t
}
