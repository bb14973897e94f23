package local

import (
	"math"
	"slices"
)

// Tuning of the segmentation. Distances are CIE76 ΔE in Lab.
const (
	// shadowMinGain is the darkest a cast shadow is taken to make the
	// backdrop (the ratio of linear luminances). Anything darker is
	// product: even a contact shadow under a softbox keeps about a quarter
	// of the light.
	shadowMinGain = 0.22
	// shadowPenalty turns luminance below shadowMinGain into ΔE units.
	shadowPenalty = 250
	// minThreshold and minRamp keep the alpha ramp above JPEG and sensor
	// noise on the cleanest backdrops.
	minThreshold = 5
	minRamp      = 7
	// maxGap is the longest vertical run of backdrop-coloured pixels,
	// as a share of the component's height, that is closed when product
	// lies above and below it: a white label on a white sweep.
	maxGap = 0.7
	// keepShare keeps every component at least this share of the largest
	// one (several products in one photo) and drops the speckles.
	keepShare = 0.2
)

// seg is one segmentation at the working resolution.
type seg struct {
	w, h int
	// L, A, B are the photo in Lab; bgL, bgA, bgB the backdrop model.
	L, A, B, bgL, bgA, bgB []float32
	// score is each pixel's distance from the backdrop, allowing for a
	// cast shadow; plain the distance without that allowance.
	score, plain []float32
	alpha        []float32
	t0, t1       float32
	model        surface
	// residual is the backdrop's 90th percentile ΔE from its model: how
	// textured it is.
	residual float64
	border   []int
}

func (s *seg) nx(x int) float64 { return 2*(float64(x)+0.5)/float64(s.w) - 1 }
func (s *seg) ny(y int) float64 { return 2*(float64(y)+0.5)/float64(s.h) - 1 }

// segment finds the product in the working image: a backdrop model learnt
// from the border (then refined on the whole visible backdrop), a
// shadow-tolerant colour distance, a soft alpha ramp sharpened to coverage
// at high-contrast edges, the largest components, vertical closing and
// filled holes.
func segment(wk *work) *seg {
	n := wk.w * wk.h
	s := &seg{w: wk.w, h: wk.h}
	for _, p := range []*[]float32{&s.L, &s.A, &s.B, &s.bgL, &s.bgA, &s.bgB, &s.score, &s.plain, &s.alpha} {
		*p = make([]float32, n)
	}
	for i := range n {
		l, a, b := fastLab(wk.r[i], wk.g[i], wk.b[i])
		s.L[i], s.A[i], s.B[i] = float32(l), float32(a), float32(b)
	}
	tmp := make([]float32, n)
	for _, p := range [][]float32{s.L, s.A, s.B} {
		blur121(p, tmp, s.w, s.h)
	}

	bw := max(2, min(s.w, s.h)/25)
	for y := range s.h {
		for x := range s.w {
			if x < bw || y < bw || x >= s.w-bw || y >= s.h-bw {
				s.border = append(s.border, y*s.w+x)
			}
		}
	}
	sf, ok := fitSurface(s, s.border, 6)
	if !ok {
		sf, _ = fitSurface(s, s.border, 1)
	}
	s.apply(sf, s.border)

	// Refine on everything that reads as backdrop away from the product:
	// the border alone cannot see a sweep's curve behind the product.
	far := dilate(s.alpha, s.w, s.h, max(2, min(s.w, s.h)/30))
	var bg []int
	for i := range n {
		if !far[i] && s.plain[i] < s.t0 {
			bg = append(bg, i)
		}
	}
	if len(bg) > n/5 {
		if sf2, ok := fitSurface(s, bg, 10); ok {
			s.apply(sf2, bg)
		}
	}
	s.cleanup()
	return s
}

// apply evaluates a backdrop model, scores every pixel against it and sets
// the alpha ramp from the scores of the sample it was fitted on.
func (s *seg) apply(sf surface, sample []int) {
	s.model = sf
	s.evaluate(sf)
	for i := range s.L {
		s.plain[i], s.score[i] = distance(s.L[i], s.A[i], s.B[i], s.bgL[i], s.bgA[i], s.bgB[i])
	}
	step := len(sample)/8000 + 1
	sc := make([]float64, 0, len(sample)/step+1)
	pl := make([]float64, 0, len(sample)/step+1)
	for k := 0; k < len(sample); k += step {
		i := sample[k]
		sc = append(sc, float64(s.score[i]))
		pl = append(pl, float64(s.plain[i]))
	}
	slices.Sort(sc)
	slices.Sort(pl)
	// Most of the sample is backdrop; its upper scores are noise, texture
	// and the edge of whatever the trim let through.
	p95 := sc[len(sc)*95/100]
	s.residual = pl[len(pl)*90/100]
	s.t0 = float32(max(minThreshold, 1.4*p95))
	s.t1 = s.t0 + float32(max(minRamp, p95))
	for i, v := range s.score {
		s.alpha[i] = smoothstep(s.t0, s.t1, v)
	}
	s.coverage()
}

// coverage sharpens high-contrast edges. Against a backdrop far from the
// product's colour even a pixel a fifth covered clears the ramp, which
// would fatten the mask by a pixel all round; there the distance relative
// to the nearby product's (the local maximum) estimates the coverage, whose
// ½ crossing is the true edge.
func (s *seg) coverage() {
	bgside := make([]float32, len(s.alpha))
	for i, a := range s.alpha {
		if a < 0.5 {
			bgside[i] = 1
		}
	}
	near := dilate(bgside, s.w, s.h, 2)
	m := maxFilter(s.score, s.w, s.h, 2)
	for i, a := range s.alpha {
		if near[i] && m[i] > s.t1 {
			s.alpha[i] = min(a, clamp01((s.score[i]-s.t0/2)/(m[i]-s.t0/2)))
		}
	}
}

// maxFilter is the maximum over a (2r+1)² window.
func maxFilter(p []float32, w, h, r int) []float32 {
	tmp := make([]float32, len(p))
	for y := range h {
		for x := range w {
			m := p[y*w+x]
			for k := max(x-r, 0); k <= min(x+r, w-1); k++ {
				m = max(m, p[y*w+k])
			}
			tmp[y*w+x] = m
		}
	}
	out := make([]float32, len(p))
	for y := range h {
		for x := range w {
			m := tmp[y*w+x]
			for k := max(y-r, 0); k <= min(y+r, h-1); k++ {
				m = max(m, tmp[k*w+x])
			}
			out[y*w+x] = m
		}
	}
	return out
}

// distance returns the plain ΔE of a pixel from the backdrop and the
// shadow-tolerant one: a cast shadow scales the backdrop's light, which in
// Lab scales L+16, a and b by the same factor, so a darker pixel is
// compared with the backdrop darkened to its lightness. Darkening beyond
// shadowMinGain is not a shadow and pays a penalty.
func distance(l, a, b, bl, ba, bb float32) (plain, score float32) {
	dl, da, db := l-bl, a-ba, b-bb
	plain = float32(math.Sqrt(float64(dl*dl + da*da + db*db)))
	if l >= bl {
		return plain, plain
	}
	c := (l + 16) / (bl + 16)
	sa, sb := a-c*ba, b-c*bb
	sh := float32(math.Sqrt(float64(sa*sa + sb*sb)))
	if g := c * c * c; g < shadowMinGain {
		sh += (shadowMinGain - g) * shadowPenalty
	}
	return plain, min(plain, sh)
}

// cleanup keeps the product's components, closes vertical gaps between
// them and fills their holes. Products stand upright: a region that matches
// the backdrop with product above and below it (a white label on a white
// sweep, whose sides are invisible) is product.
func (s *seg) cleanup() {
	n := s.w * s.h
	solid := make([]bool, n)
	for i := range n {
		solid[i] = s.alpha[i] >= 0.5
	}
	lab, sizes := components(solid, s.w, s.h, true)
	largest := 0
	for _, sz := range sizes[1:] {
		largest = max(largest, sz)
	}
	// Parts worth closing over are at least a twentieth of the largest.
	minPart := max(int(keepShare/4*float64(largest)), n/1000, 4)
	for i := range n {
		solid[i] = lab[i] > 0 && sizes[lab[i]] >= minPart
	}
	s.closeColumns(solid, lab)
	lab, sizes = components(solid, s.w, s.h, true)
	largest = 0
	for _, sz := range sizes[1:] {
		largest = max(largest, sz)
	}
	minArea := max(int(keepShare*float64(largest)), n/1000, 4)
	keep := make([]bool, n)
	for i := range n {
		keep[i] = lab[i] > 0 && sizes[lab[i]] >= minArea
	}
	// Holes: connected regions of the rest that do not reach the border.
	// All are filled: a missed label or highlight costs far more than a
	// patch of old backdrop inside a handle.
	rest := make([]bool, n)
	for i := range n {
		rest[i] = !keep[i]
	}
	hl, hs := components(rest, s.w, s.h, false)
	touches := make([]bool, len(hs))
	for _, i := range s.border {
		if hl[i] > 0 && (i%s.w == 0 || i/s.w == 0 || i%s.w == s.w-1 || i/s.w == s.h-1) {
			touches[hl[i]] = true
		}
	}
	near := dilate(boolToAlpha(keep), s.w, s.h, 1)
	for i := range n {
		switch {
		case keep[i] && s.alpha[i] < 0.5, hl[i] > 0 && !touches[hl[i]]:
			s.alpha[i] = 1
		case keep[i]:
		case near[i]:
			s.alpha[i] = min(s.alpha[i], 0.49) // feather, never a new island
		default:
			s.alpha[i] = 0
		}
	}
}

// closeColumns sets solid on vertical runs of backdrop bounded above and
// below by solid parts when the run is at most maxGap of the span from the
// upper part's top to the lower part's bottom.
func (s *seg) closeColumns(solid []bool, lab []int32) {
	top := map[int32]int{}
	bottom := map[int32]int{}
	for i, l := range lab {
		if !solid[i] {
			continue
		}
		y := i / s.w
		if t, ok := top[l]; !ok || y < t {
			top[l] = y
		}
		bottom[l] = max(bottom[l], y)
	}
	for x := range s.w {
		last, lastY := int32(0), -1
		for y := range s.h {
			i := y*s.w + x
			if !solid[i] || lab[i] == 0 {
				continue
			}
			l := lab[i]
			if last != 0 && y-lastY > 1 {
				span := bottom[l] - top[last] + 1
				if float64(y-lastY-1) <= maxGap*float64(span) {
					for g := lastY + 1; g < y; g++ {
						solid[g*s.w+x] = true
					}
				}
			}
			last, lastY = l, y
		}
	}
}

func smoothstep(a, b, v float32) float32 {
	t := clamp01((v - a) / (b - a))
	return t * t * (3 - 2*t)
}

// blur121 smooths p in place with the separable [1 2 1]/4 kernel.
func blur121(p, tmp []float32, w, h int) {
	for y := range h {
		r := p[y*w : y*w+w]
		t := tmp[y*w : y*w+w]
		for x := range w {
			l, c, rr := r[max(x-1, 0)], r[x], r[min(x+1, w-1)]
			t[x] = (l + 2*c + rr) / 4
		}
	}
	for y := range h {
		u, d := max(y-1, 0), min(y+1, h-1)
		for x := range w {
			p[y*w+x] = (tmp[u*w+x] + 2*tmp[y*w+x] + tmp[d*w+x]) / 4
		}
	}
}

// dilate marks every pixel within a (2r+1)² square of one with alpha ≥ 0.5.
func dilate(alpha []float32, w, h, r int) []bool {
	row := make([]bool, w*h)
	for y := range h {
		d := r + 1
		for x := 0; x < w; x++ {
			d = next(d, alpha[y*w+x] >= 0.5)
			row[y*w+x] = d <= r
		}
		d = r + 1
		for x := w - 1; x >= 0; x-- {
			d = next(d, alpha[y*w+x] >= 0.5)
			row[y*w+x] = row[y*w+x] || d <= r
		}
	}
	out := make([]bool, w*h)
	for x := range w {
		d := r + 1
		for y := 0; y < h; y++ {
			d = next(d, row[y*w+x])
			out[y*w+x] = d <= r
		}
		d = r + 1
		for y := h - 1; y >= 0; y-- {
			d = next(d, row[y*w+x])
			out[y*w+x] = out[y*w+x] || d <= r
		}
	}
	return out
}

// next is the running distance to the last set pixel of a sweep.
func next(d int, set bool) int {
	if set {
		return 0
	}
	return d + 1
}

func boolToAlpha(b []bool) []float32 {
	a := make([]float32, len(b))
	for i, v := range b {
		if v {
			a[i] = 1
		}
	}
	return a
}

// components labels the connected regions of set pixels (8-connected when
// diag, else 4-connected); label 0 is unset, sizes[l] the pixel count.
func components(set []bool, w, h int, diag bool) (labels []int32, sizes []int) {
	labels = make([]int32, w*h)
	sizes = []int{0}
	stack := make([]int, 0, 1024)
	for start := range set {
		if !set[start] || labels[start] != 0 {
			continue
		}
		id := int32(len(sizes))
		sizes = append(sizes, 0)
		labels[start] = id
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			sizes[id]++
			x, y := i%w, i/w
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					if (dx == 0 && dy == 0) || (!diag && dx != 0 && dy != 0) {
						continue
					}
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= w || ny >= h {
						continue
					}
					j := ny*w + nx
					if set[j] && labels[j] == 0 {
						labels[j] = id
						stack = append(stack, j)
					}
				}
			}
		}
	}
	return labels, sizes
}
