package mnist

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Digit skeletons in a unit box (x to the right, y down), as polylines;
// arcs are sampled ellipses.
func skeleton(d int) [][][2]float64 {
	arc := func(cx, cy, rx, ry, from, to float64) [][2]float64 {
		var p [][2]float64
		for k := 0; k <= 16; k++ {
			t := (from + (to-from)*float64(k)/16) * math.Pi / 180
			p = append(p, [2]float64{cx + rx*math.Cos(t), cy + ry*math.Sin(t)})
		}
		return p
	}
	switch d {
	case 0:
		return [][][2]float64{arc(0.5, 0.5, 0.28, 0.4, 0, 360)}
	case 1:
		return [][][2]float64{{{0.38, 0.25}, {0.55, 0.1}, {0.55, 0.9}}}
	case 2:
		return [][][2]float64{append(arc(0.5, 0.32, 0.25, 0.22, 190, 380), [2]float64{0.25, 0.9}, [2]float64{0.78, 0.9})}
	case 3:
		return [][][2]float64{arc(0.48, 0.3, 0.24, 0.2, 200, 450), arc(0.48, 0.7, 0.26, 0.2, 270, 520)}
	case 4:
		return [][][2]float64{{{0.6, 0.1}, {0.22, 0.62}, {0.8, 0.62}}, {{0.62, 0.35}, {0.62, 0.9}}}
	case 5:
		return [][][2]float64{append([][2]float64{{0.75, 0.1}, {0.32, 0.1}, {0.28, 0.45}}, arc(0.48, 0.65, 0.26, 0.25, 240, 495)...)}
	case 6:
		return [][][2]float64{append([][2]float64{{0.68, 0.1}}, arc(0.48, 0.66, 0.24, 0.24, 215, 575)...)}
	case 7:
		return [][][2]float64{{{0.22, 0.12}, {0.78, 0.12}, {0.42, 0.9}}}
	case 8:
		return [][][2]float64{arc(0.5, 0.3, 0.2, 0.19, 0, 360), arc(0.5, 0.7, 0.25, 0.21, 0, 360)}
	default: // 9
		return [][][2]float64{append(arc(0.5, 0.33, 0.23, 0.22, 0, 360), [2]float64{0.73, 0.33}, [2]float64{0.62, 0.9})}
	}
}

// Synthetic draws n digit-like 28×28 images (labels cycling 0–9) with random
// rotation, scale, shear, shift and stroke width, anti-aliased, deterministic
// by seed. They stand in for MNIST, which cannot be downloaded here; they are
// not MNIST.
func Synthetic(n int, seed uint64) (*Images, []uint8, error) {
	if n <= 0 || n > 1_000_000 {
		return nil, nil, fmt.Errorf("mnist: Synthetic(n = %d): want 1..1000000 images", n)
	}
	r := rand.New(rand.NewPCG(seed, 0x6d6e697374))
	const size = 28
	im := &Images{Rows: size, Cols: size}
	labels := make([]uint8, n)
	for k := range n {
		d := k % 10
		labels[k] = uint8(d)
		rot := (r.Float64() - 0.5) * 0.5 // ±14°
		scale := 18 + 4*r.Float64()      // the digit's box in pixels
		shear := (r.Float64() - 0.5) * 0.4
		dx, dy := (r.Float64()-0.5)*3, (r.Float64()-0.5)*3
		width := 1.4 + 1.2*r.Float64()
		cos, sin := math.Cos(rot), math.Sin(rot)
		toPix := func(p [2]float64) [2]float64 {
			x, y := p[0]-0.5, p[1]-0.5
			x += shear * y
			x, y = cos*x-sin*y, sin*x+cos*y
			return [2]float64{size/2 + scale*x*0.8 + dx, size/2 + scale*y + dy}
		}
		var segs [][2][2]float64
		for _, line := range skeleton(d) {
			for i := 1; i < len(line); i++ {
				segs = append(segs, [2][2]float64{toPix(line[i-1]), toPix(line[i])})
			}
		}
		pix := make([]uint8, size*size)
		for y := range size {
			for x := range size {
				px, py := float64(x)+0.5, float64(y)+0.5
				dist := math.Inf(1)
				for _, s := range segs {
					dist = math.Min(dist, segDist(px, py, s))
				}
				v := math.Max(0, math.Min(1, width/2+0.5-dist))
				pix[y*size+x] = uint8(math.Round(255 * v))
			}
		}
		im.Pixels = append(im.Pixels, pix)
	}
	return im, labels, nil
}

// segDist is the distance from (x, y) to the segment s.
func segDist(x, y float64, s [2][2]float64) float64 {
	ax, ay, bx, by := s[0][0], s[0][1], s[1][0], s[1][1]
	vx, vy := bx-ax, by-ay
	t := 0.0
	if l := vx*vx + vy*vy; l > 0 {
		t = math.Max(0, math.Min(1, ((x-ax)*vx+(y-ay)*vy)/l))
	}
	return math.Hypot(x-(ax+t*vx), y-(ay+t*vy))
}
