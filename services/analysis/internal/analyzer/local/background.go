package local

import (
	"math"
	"slices"

	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
)

// surface is a smooth backdrop model: one low-order polynomial in (x, y)
// per Lab channel. A quadratic holds an even backdrop, a sweep, a
// left-to-right light fall-off and lens vignetting (≈ r²); the cubic, fitted
// once the interior backdrop is known, also follows asymmetric sweeps.
type surface struct {
	terms int
	coef  [3][10]float64
}

// basis fills the first n monomials of x, y in [-1, 1].
func basis(x, y float64, n int, out *[10]float64) {
	out[0], out[1], out[2], out[3], out[4], out[5] = 1, x, y, x*x, x*y, y*y
	if n > 6 {
		out[6], out[7], out[8], out[9] = x*x*x, x*x*y, x*y*y, y*y*y
	}
}

// fitSurface fits the polynomial to the pixels at idx by least squares,
// then drops pixels whose colour is far from the fit (the product or its
// shadow touching the sample) and fits again. It returns false when the
// sample is too small to fit.
func fitSurface(s *seg, idx []int, terms int) (surface, bool) {
	sf := surface{terms: terms}
	if step := len(idx)/3000 + 1; step > 1 {
		sub := make([]int, 0, len(idx)/step+1)
		for k := 0; k < len(idx); k += step {
			sub = append(sub, idx[k])
		}
		idx = sub
	}
	if len(idx) < terms*8 {
		return sf, false
	}
	use := make([]bool, len(idx))
	for i := range use {
		use[i] = true
	}
	res := make([]float64, len(idx))
	for iter := range 4 {
		var ata [10][10]float64
		var atb [3][10]float64
		var bs [10]float64
		used := 0
		for k, i := range idx {
			if !use[k] {
				continue
			}
			used++
			x, y := s.nx(i%s.w), s.ny(i/s.w)
			basis(x, y, terms, &bs)
			for r := range terms {
				for c := r; c < terms; c++ {
					ata[r][c] += bs[r] * bs[c]
				}
				atb[0][r] += bs[r] * float64(s.L[i])
				atb[1][r] += bs[r] * float64(s.A[i])
				atb[2][r] += bs[r] * float64(s.B[i])
			}
		}
		if used < terms*8 {
			return sf, iter > 0
		}
		for r := range terms {
			for c := 0; c < r; c++ {
				ata[r][c] = ata[c][r]
			}
			ata[r][r] += 1e-6 * float64(used) // ridge keeps a thin sample stable
		}
		for ch := range 3 {
			sol, ok := solve(ata, atb[ch], terms)
			if !ok {
				return sf, iter > 0
			}
			sf.coef[ch] = sol
		}
		if iter == 3 {
			break
		}
		// Trim: residuals beyond max(4, 2.5 medians) — about four sigmas of
		// the noise — are not backdrop.
		for k, i := range idx {
			l, a, b := sf.at(s.nx(i%s.w), s.ny(i/s.w))
			dl, da, db := float64(s.L[i])-l, float64(s.A[i])-a, float64(s.B[i])-b
			res[k] = math.Sqrt(dl*dl + da*da + db*db)
		}
		sorted := slices.Clone(res)
		slices.Sort(sorted)
		med := sorted[len(sorted)/2]
		cut := max(4, 2.5*med)
		for k := range use {
			use[k] = res[k] <= cut
		}
	}
	return sf, true
}

func (sf *surface) at(x, y float64) (l, a, b float64) {
	var bs [10]float64
	basis(x, y, sf.terms, &bs)
	for t := range sf.terms {
		l += sf.coef[0][t] * bs[t]
		a += sf.coef[1][t] * bs[t]
		b += sf.coef[2][t] * bs[t]
	}
	return l, a, b
}

// solve is Gaussian elimination with partial pivoting on the n×n system.
func solve(m [10][10]float64, v [10]float64, n int) ([10]float64, bool) {
	var x [10]float64
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		if math.Abs(m[p][c]) < 1e-12 {
			return x, false
		}
		m[c], m[p] = m[p], m[c]
		v[c], v[p] = v[p], v[c]
		for r := c + 1; r < n; r++ {
			f := m[r][c] / m[c][c]
			for k := c; k < n; k++ {
				m[r][k] -= f * m[c][k]
			}
			v[r] -= f * v[c]
		}
	}
	for r := n - 1; r >= 0; r-- {
		s := v[r]
		for k := r + 1; k < n; k++ {
			s -= m[r][k] * x[k]
		}
		x[r] = s / m[r][r]
	}
	return x, true
}

// evaluate writes the model's colour at every working pixel.
func (s *seg) evaluate(sf surface) {
	for y := range s.h {
		ny := s.ny(y)
		for x := range s.w {
			l, a, b := sf.at(s.nx(x), ny)
			i := y*s.w + x
			s.bgL[i], s.bgA[i], s.bgB[i] = float32(l), float32(a), float32(b)
		}
	}
}

// linearLUT undoes the sRGB curve at 4096 levels: the working image is a
// mean of 8-bit pixels, finer steps would not change a ΔE.
var linearLUT = func() (t [4097]float32) {
	for i := range t {
		t[i] = float32(analyzer.Linear(float64(i) / 4096))
	}
	return t
}()

// fastLab is analyzer.Lab with the transfer curve from linearLUT.
func fastLab(r, g, b float32) (l, a, bb float32) {
	rl, gl, bl := linearLUT[int(r*4096+0.5)], linearLUT[int(g*4096+0.5)], linearLUT[int(b*4096+0.5)]
	x := (0.4124564*rl + 0.3575761*gl + 0.1804375*bl) / 0.95047
	y := 0.2126729*rl + 0.7151522*gl + 0.0721750*bl
	z := (0.0193339*rl + 0.1191920*gl + 0.9503041*bl) / 1.08883
	fx, fy, fz := labF(x), labF(y), labF(z)
	return 116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)
}

func labF(t float32) float32 {
	if t > 216.0/24389 {
		return float32(math.Cbrt(float64(t)))
	}
	return (24389.0/27*t + 16) / 116
}
