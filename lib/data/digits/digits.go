// Package digits reads the 8×8 handwritten digits (1 797 images, UCI) that
// scikit-learn's wheel ships as sklearn/datasets/data/digits.csv.gz — a
// real image set that works offline once `make setup` has installed the
// pinned scikit-learn into the project's venv — and varies the images'
// contrast and brightness, the regime TrAct targets.
package digits

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gorepro/gorepro/lib/checkout"
)

// Side is the image side; Pixels per image is Side².
const Side = 8

// Set is a set of labelled 8×8 images with pixel values in [0, 16].
type Set struct {
	Pixels [][]float32 // Side·Side values per image, row-major
	Labels []int32     // 0–9
}

// Parse reads the CSV (gzipped or not): one image per line, 64 pixel values
// 0–16 then the label 0–9.
func Parse(r io.Reader) (*Set, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("digits: gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	s := &Set{}
	sc := bufio.NewScanner(br)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != Side*Side+1 {
			return nil, fmt.Errorf("digits: line %d has %d fields, want %d", line, len(fields), Side*Side+1)
		}
		px := make([]float32, Side*Side)
		for i, f := range fields[:Side*Side] {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || v < 0 || v > 16 || math.IsNaN(v) {
				return nil, fmt.Errorf("digits: line %d, pixel %d = %q: want a number in [0, 16]", line, i, f)
			}
			px[i] = float32(v)
		}
		label, err := strconv.Atoi(strings.TrimSpace(fields[Side*Side]))
		if err != nil || label < 0 || label > 9 {
			return nil, fmt.Errorf("digits: line %d: label %q is not a digit", line, fields[Side*Side])
		}
		s.Pixels, s.Labels = append(s.Pixels, px), append(s.Labels, int32(label))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("digits: %w", err)
	}
	if len(s.Labels) == 0 {
		return nil, fmt.Errorf("digits: no images")
	}
	return s, nil
}

// Path finds digits.csv.gz in the project's Python environments.
func Path() (string, error) {
	venvs := checkout.Default().Venvs()
	for _, v := range venvs {
		matches, _ := filepath.Glob(filepath.Join(v, "lib", "python3*", "site-packages", "sklearn", "datasets", "data", "digits.csv.gz"))
		if len(matches) > 0 {
			return matches[0], nil
		}
	}
	return "", fmt.Errorf("digits: scikit-learn's digits.csv.gz not found in %q (make setup installs the pinned scikit-learn)", venvs)
}

// Load reads the digits from the installed scikit-learn.
func Load() (*Set, error) {
	p, err := Path()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("digits: %w", err)
	}
	defer f.Close()
	s, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

// Split shuffles s by seed and splits it: the first round(trainFraction·n)
// images train, the rest test.
func (s *Set) Split(trainFraction float64, seed uint64) (train, test *Set, err error) {
	n := len(s.Labels)
	k := int(math.Round(trainFraction * float64(n)))
	if k < 1 || k >= n {
		return nil, nil, fmt.Errorf("digits: train fraction %g of %d images leaves an empty split", trainFraction, n)
	}
	order := rand.New(rand.NewPCG(seed, 0x646967)).Perm(n)
	train, test = &Set{}, &Set{}
	for i, j := range order {
		dst := test
		if i < k {
			dst = train
		}
		dst.Pixels, dst.Labels = append(dst.Pixels, s.Pixels[j]), append(dst.Labels, s.Labels[j])
	}
	return train, test, nil
}

// VaryContrast returns a copy with pixels scaled to [0, 1] and then, per
// image, x ↦ c·x + β with the contrast c log-uniform in [1/spread, spread]
// and the brightness β uniform in [−brightness, brightness], by seed.
// spread = 1 and brightness = 0 only rescale.
func (s *Set) VaryContrast(spread, brightness float64, seed uint64) (*Set, error) {
	if !(spread >= 1) || !(brightness >= 0) {
		return nil, fmt.Errorf("digits: VaryContrast(spread = %g, brightness = %g): want spread ≥ 1, brightness ≥ 0", spread, brightness)
	}
	r := rand.New(rand.NewPCG(seed, 0x636f6e))
	out := &Set{Labels: append([]int32(nil), s.Labels...)}
	for _, px := range s.Pixels {
		c := math.Exp((2*r.Float64() - 1) * math.Log(spread))
		b := (2*r.Float64() - 1) * brightness
		q := make([]float32, len(px))
		for i, v := range px {
			q[i] = float32(c*float64(v)/16 + b)
		}
		out.Pixels = append(out.Pixels, q)
	}
	return out, nil
}
