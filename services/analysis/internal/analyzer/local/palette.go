package local

import (
	"cmp"
	"math"
	"slices"

	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
)

// Palette tuning: k clusters, merged when closer than mergeDE, dropped below
// minShare of the product.
const (
	paletteK       = 6
	paletteIters   = 12
	mergeDE        = 12
	minShare       = 0.04
	paletteSamples = 5000
)

type cluster struct {
	l, a, b    float64
	r, g, bl   float64 // mean sRGB 0..1 of the members
	n          int
	sl, sa, sb float64
}

// palette clusters the product's interior pixels (alpha 1, so edges mixed
// with the backdrop stay out) in Lab by k-means with a deterministic
// farthest-point start, merges near-duplicates and names the colours. It
// also returns the product's mean lightness.
func palette(wk *work, s *seg) ([]analyzer.Color, float64) {
	var idx []int
	for i, v := range s.alpha {
		if v >= 0.999 {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil, 50
	}
	if step := len(idx)/paletteSamples + 1; step > 1 {
		sub := idx[:0:0]
		for k := 0; k < len(idx); k += step {
			sub = append(sub, idx[k])
		}
		idx = sub
	}
	var lsum float64
	for _, i := range idx {
		lsum += float64(s.L[i])
	}
	cs := []cluster{{l: lsum / float64(len(idx))}}
	cs[0].a, cs[0].b = meanAB(s, idx)
	dist := func(c cluster, i int) float64 {
		dl, da, db := float64(s.L[i])-c.l, float64(s.A[i])-c.a, float64(s.B[i])-c.b
		return dl*dl + da*da + db*db
	}
	for len(cs) < paletteK {
		far, farD := -1, 0.0
		for _, i := range idx {
			d := math.Inf(1)
			for _, c := range cs {
				d = min(d, dist(c, i))
			}
			if d > farD {
				far, farD = i, d
			}
		}
		if far < 0 || farD < mergeDE*mergeDE/4 {
			break
		}
		cs = append(cs, cluster{l: float64(s.L[far]), a: float64(s.A[far]), b: float64(s.B[far])})
	}
	assign := make([]int, len(idx))
	for range paletteIters {
		for k := range cs {
			cs[k].n, cs[k].sl, cs[k].sa, cs[k].sb = 0, 0, 0, 0
		}
		for j, i := range idx {
			best, bd := 0, math.Inf(1)
			for k, c := range cs {
				if d := dist(c, i); d < bd {
					best, bd = k, d
				}
			}
			assign[j] = best
			c := &cs[best]
			c.n++
			c.sl += float64(s.L[i])
			c.sa += float64(s.A[i])
			c.sb += float64(s.B[i])
		}
		for k := range cs {
			if c := &cs[k]; c.n > 0 {
				c.l, c.a, c.b = c.sl/float64(c.n), c.sa/float64(c.n), c.sb/float64(c.n)
			}
		}
	}
	for k := range cs {
		cs[k].r, cs[k].g, cs[k].bl = 0, 0, 0
	}
	for j, i := range idx {
		c := &cs[assign[j]]
		c.r += float64(wk.r[i])
		c.g += float64(wk.g[i])
		c.bl += float64(wk.b[i])
	}
	// Merge near-duplicates into the larger, then drop the crumbs.
	slices.SortFunc(cs, func(x, y cluster) int { return cmp.Compare(y.n, x.n) })
	var out []cluster
	for _, c := range cs {
		if c.n == 0 {
			continue
		}
		merged := false
		for k := range out {
			o := &out[k]
			if math.Sqrt((o.l-c.l)*(o.l-c.l)+(o.a-c.a)*(o.a-c.a)+(o.b-c.b)*(o.b-c.b)) < mergeDE {
				o.n += c.n
				o.r += c.r
				o.g += c.g
				o.bl += c.bl
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(x, y cluster) int { return cmp.Compare(y.n, x.n) })
	var pal []analyzer.Color
	for _, c := range out {
		share := float64(c.n) / float64(len(idx))
		if share < minShare {
			continue
		}
		r, g, b := to8(c.r/float64(c.n)), to8(c.g/float64(c.n)), to8(c.bl/float64(c.n))
		pal = append(pal, analyzer.Color{Hex: analyzer.Hex(r, g, b), Name: analyzer.ColorName(r, g, b), Share: math.Floor(share*1000) / 1000})
	}
	return pal, lsum / float64(len(idx))
}

func meanAB(s *seg, idx []int) (a, b float64) {
	for _, i := range idx {
		a += float64(s.A[i])
		b += float64(s.B[i])
	}
	return a / float64(len(idx)), b / float64(len(idx))
}

func to8(v float64) uint8 { return uint8(math.Max(0, math.Min(255, v*255+0.5))) }
