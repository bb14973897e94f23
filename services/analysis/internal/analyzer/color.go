package analyzer

import (
	"fmt"
	"math"
)

// Lab converts sRGB components in 0..1 to CIE L*a*b* (D65), the perceptual
// space colour distances are measured in.
func Lab(r, g, b float64) (l, a, bb float64) {
	rl, gl, bl := Linear(r), Linear(g), Linear(b)
	x := (0.4124564*rl + 0.3575761*gl + 0.1804375*bl) / 0.95047
	y := 0.2126729*rl + 0.7151522*gl + 0.0721750*bl
	z := (0.0193339*rl + 0.1191920*gl + 0.9503041*bl) / 1.08883
	fx, fy, fz := labF(x), labF(y), labF(z)
	return 116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)
}

// Linear undoes the sRGB transfer curve.
func Linear(c float64) float64 {
	if c <= 0.04045 {
		return c / 12.92
	}
	return math.Pow((c+0.055)/1.055, 2.4)
}

func labF(t float64) float64 {
	if t > 216.0/24389 {
		return math.Cbrt(t)
	}
	return (24389.0/27*t + 16) / 116
}

// Hex formats 8-bit sRGB as "#rrggbb".
func Hex(r, g, b uint8) string { return fmt.Sprintf("#%02x%02x%02x", r, g, b) }

// ParseHex reads "#rrggbb".
func ParseHex(s string) (r, g, b uint8, err error) {
	if !hexColor.MatchString(s) {
		return 0, 0, 0, fmt.Errorf("colour %q is not #rrggbb", s)
	}
	_, err = fmt.Sscanf(s, "#%02x%02x%02x", &r, &g, &b)
	return r, g, b, err
}

type named struct {
	name    string
	l, a, b float64
}

// colorNames are common colour names a seller would use, with their sRGB.
var colorNames = func() []named {
	table := []struct {
		name    string
		r, g, b uint8
	}{
		{"white", 250, 250, 250}, {"off-white", 240, 236, 224}, {"light grey", 200, 200, 200},
		{"grey", 128, 128, 128}, {"charcoal", 60, 62, 66}, {"black", 15, 15, 15},
		{"red", 200, 30, 35}, {"dark red", 120, 20, 25}, {"pink", 240, 150, 180},
		{"hot pink", 230, 50, 140}, {"orange", 245, 130, 30}, {"peach", 250, 190, 150},
		{"brown", 120, 75, 40}, {"tan", 205, 170, 125}, {"beige", 225, 210, 180},
		{"gold", 212, 175, 55}, {"yellow", 250, 215, 40}, {"cream", 250, 240, 200},
		{"olive", 128, 128, 40}, {"lime", 160, 210, 50}, {"green", 40, 150, 60},
		{"dark green", 20, 80, 40}, {"mint", 170, 230, 200}, {"teal", 0, 128, 128},
		{"turquoise", 60, 200, 200}, {"sky blue", 130, 190, 235}, {"blue", 40, 90, 200},
		{"navy", 20, 35, 90}, {"purple", 120, 50, 160}, {"lavender", 190, 170, 225},
		{"magenta", 200, 40, 180}, {"burgundy", 110, 20, 45}, {"silver", 190, 192, 196},
	}
	out := make([]named, len(table))
	for i, c := range table {
		l, a, b := Lab(float64(c.r)/255, float64(c.g)/255, float64(c.b)/255)
		out[i] = named{c.name, l, a, b}
	}
	return out
}()

// ColorName is the nearest common name of an 8-bit sRGB colour.
func ColorName(r, g, b uint8) string {
	l, a, bb := Lab(float64(r)/255, float64(g)/255, float64(b)/255)
	best, bestD := "", math.Inf(1)
	for _, n := range colorNames {
		d := (l-n.l)*(l-n.l) + (a-n.a)*(a-n.a) + (bb-n.b)*(bb-n.b)
		if d < bestD {
			best, bestD = n.name, d
		}
	}
	return best
}
