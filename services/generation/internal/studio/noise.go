package studio

import "math"

// noise is seeded value noise: a hash of the integer lattice, smoothly
// interpolated. It is deterministic for a seed on every platform because it
// uses only integer hashing and float32 arithmetic.
type noise struct{ seed uint32 }

func (n noise) hash(x, y int32) float32 {
	h := uint32(x)*0x27d4eb2d ^ uint32(y)*0x165667b1 ^ n.seed*0x9e3779b9
	h ^= h >> 15
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return float32(h&0xffffff) / float32(0xffffff)
}

func (n noise) at(x, y float32) float32 {
	fx, fy := float32(math.Floor(float64(x))), float32(math.Floor(float64(y)))
	ix, iy := int32(fx), int32(fy)
	tx, ty := x-fx, y-fy
	tx = tx * tx * (3 - 2*tx)
	ty = ty * ty * (3 - 2*ty)
	a := n.hash(ix, iy)
	b := n.hash(ix+1, iy)
	c := n.hash(ix, iy+1)
	d := n.hash(ix+1, iy+1)
	top := a + (b-a)*tx
	bot := c + (d-c)*tx
	return top + (bot-top)*ty
}

// fbm sums octaves of noise; the result is roughly 0..1.
func (n noise) fbm(x, y float32, octaves int) float32 {
	var sum, amp, norm float32 = 0, 0.5, 0
	for range octaves {
		sum += amp * n.at(x, y)
		norm += amp
		x, y = x*2.03+17.1, y*2.03+3.7
		amp *= 0.5
	}
	return sum / norm
}

func smoothstep(e0, e1, x float32) float32 {
	t := min(max((x-e0)/(e1-e0), 0), 1)
	return t * t * (3 - 2*t)
}

func mix(a, b [3]float32, t float32) [3]float32 {
	return [3]float32{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
}

func scale(a [3]float32, k float32) [3]float32 {
	return [3]float32{a[0] * k, a[1] * k, a[2] * k}
}

func add(a, b [3]float32) [3]float32 {
	return [3]float32{a[0] + b[0], a[1] + b[1], a[2] + b[2]}
}

func abs32(v float32) float32 { return float32(math.Abs(float64(v))) }
