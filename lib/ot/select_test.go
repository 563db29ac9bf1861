package ot

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// referenceSelection is the selection written the slow, obvious way: a
// stable sort of the row-major entries by decreasing value (so ties keep
// the smaller index), then the first keep (of the matrix or of each row).
func referenceSelection(plan [][]float64, sel selection) (kept []int, dropped float64, rowsWithout, colsWithout int) {
	n, m := len(plan), len(plan[0])
	var flat []float64
	for _, row := range plan {
		flat = append(flat, row...)
	}
	order := func(ids []int) []int {
		sort.SliceStable(ids, func(x, y int) bool { return flat[ids[x]] > flat[ids[y]] })
		return ids
	}
	if sel.perRow {
		for i := range n {
			ids := make([]int, m)
			for j := range ids {
				ids[j] = i*m + j
			}
			kept = append(kept, order(ids)[:sel.keep]...)
		}
	} else {
		ids := make([]int, n*m)
		for e := range ids {
			ids[e] = e
		}
		kept = order(ids)[:sel.keep]
	}
	total, keptMass := 0.0, 0.0
	for _, v := range flat {
		total += v
	}
	rowHas, colHas := make([]bool, n), make([]bool, m)
	for _, e := range kept {
		keptMass += flat[e]
		rowHas[e/m], colHas[e%m] = true, true
	}
	for _, h := range rowHas {
		if !h {
			rowsWithout++
		}
	}
	for _, h := range colHas {
		if !h {
			colsWithout++
		}
	}
	slices.Sort(kept)
	return kept, 1 - keptMass/total, rowsWithout, colsWithout
}

// tiedPlan is a small plan with many ties and an empty row and column.
func tiedPlan(seed uint64, n, m int) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 3))
	p := make([][]float64, n)
	for i := range p {
		p[i] = make([]float64, m)
		for j := range p[i] {
			if i != 2 && j != 3 {
				p[i][j] = float64(r.IntN(6)) / 16
			}
		}
	}
	return p
}

// keptOf is the sorted flat indices i·m + j of COO row and column indices.
func keptOf(rows, cols []int32, m int) []int {
	kept := make([]int, len(rows))
	for k := range rows {
		kept[k] = int(rows[k])*m + int(cols[k])
	}
	slices.Sort(kept)
	return kept
}

// Both selection rules, on the host (go backend's path, float64 and
// float32) and in the graph (GoMLX TopK, on every backend), keep exactly the
// reference's entries and report its dropped mass and empty rows/columns.
func TestSelectionAgainstReference(t *testing.T) {
	const n, m = 6, 7
	plan := tiedPlan(1, n, m)
	cases := []selection{{keep: 1}, {keep: 5}, {keep: 12}, {keep: n * m}, {perRow: true, keep: 1}, {perRow: true, keep: 3}, {perRow: true, keep: m}}
	check := func(where string, sel selection, kept []int, dropped float64, rowsWithout, colsWithout int) {
		t.Helper()
		wantKept, wantDropped, wantRows, wantCols := referenceSelection(plan, sel)
		if !slices.Equal(kept, wantKept) {
			t.Errorf("%s %+v: kept %v, want %v", where, sel, kept, wantKept)
		}
		if !(math.Abs(dropped-wantDropped) <= 1e-6) || rowsWithout != wantRows || colsWithout != wantCols {
			t.Errorf("%s %+v: dropped %.17g, rows/cols without %d/%d; want %.17g, %d/%d",
				where, sel, dropped, rowsWithout, colsWithout, wantDropped, wantRows, wantCols)
		}
	}
	for _, sel := range cases {
		// The host, float64 and float32.
		for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
			_, mat := hostTensors(dt)
			vals, rows, cols, sp := hostSelection(mat(plan), sel, make([]int32, n*m))
			r, c := tensors.MustCopyFlatData[int32](rows), tensors.MustCopyFlatData[int32](cols)
			check("host "+dt.String(), sel, keptOf(r, c, m), sp.dropped, sp.rowsWithout, sp.colsWithout)
			checkValues(t, "host "+dt.String(), plan, vals, r, c)
		}
		// The graph.
		for _, bk := range testBackends(t) {
			outs, err := graph.CallOnceN(bk, func(p *graph.Node) []*graph.Node {
				mass := graph.ReduceAllSum(p)
				return selectInGraph(p, mass, sel)
			}, plan)
			if err != nil {
				t.Fatalf("%s %+v: %v", bk.Name(), sel, err)
			}
			r, c := tensors.MustCopyFlatData[int32](outs[1]), tensors.MustCopyFlatData[int32](outs[2])
			check("graph "+bk.Name(), sel, keptOf(r, c, m), tensors.ToScalar[float64](outs[3]),
				int(tensors.ToScalar[int32](outs[4])), int(tensors.ToScalar[int32](outs[5])))
			checkValues(t, "graph "+bk.Name(), plan, outs[0], r, c)
		}
	}
}

// checkValues checks that the COO values are the plan's entries at (rows, cols).
func checkValues(t *testing.T, where string, plan [][]float64, vals *tensors.Tensor, rows, cols []int32) {
	t.Helper()
	var v []float64
	if vals.DType() == dtypes.Float32 {
		for _, x := range tensors.MustCopyFlatData[float32](vals) {
			v = append(v, float64(x))
		}
	} else {
		v = tensors.MustCopyFlatData[float64](vals)
	}
	if len(v) != len(rows) || len(rows) != len(cols) {
		t.Fatalf("%s: %d values, %d rows, %d cols", where, len(v), len(rows), len(cols))
	}
	for k := range v {
		if want := plan[rows[k]][cols[k]]; v[k] != want {
			t.Errorf("%s: value %d = %v, plan[%d][%d] = %v", where, k, v[k], rows[k], cols[k], want)
		}
	}
}

// nthElement against a full sort, on arrays with many ties, NaN, and every k.
func TestNthElement(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for trial := range 200 {
		x := make([]float64, 1+r.IntN(40))
		for i := range x {
			x[i] = float64(r.IntN(1 + trial%7))
			if r.IntN(20) == 0 {
				x[i] = math.NaN()
			}
		}
		want := make([]int32, len(x))
		for i := range want {
			want[i] = int32(i)
		}
		slices.SortFunc(want, func(i, j int32) int {
			if before(x, i, j) {
				return -1
			}
			return 1
		})
		for k := 0; k <= len(x); k++ {
			idx := make([]int32, len(x))
			for i := range idx {
				idx[i] = int32(len(x) - 1 - i)
			}
			nthElement(x, idx, k)
			got := slices.Clone(idx[:k])
			slices.Sort(got)
			top := slices.Clone(want[:k])
			slices.Sort(top)
			if !slices.Equal(got, top) {
				t.Fatalf("x = %v, k = %d: first k %v, want %v", x, k, got, top)
			}
		}
	}
}

func TestSparsity(t *testing.T) {
	plan := tiedPlan(4, 5, 6)
	for _, keep := range []int{0, 1, 7, 30} {
		dropped, rows, cols, err := Sparsity(plan, keep)
		if err != nil {
			t.Fatalf("keep %d: %v", keep, err)
		}
		_, wantDropped, wantRows, wantCols := referenceSelection(plan, selection{keep: keep})
		if !(math.Abs(dropped-wantDropped) <= 1e-15) || rows != wantRows || cols != wantCols {
			t.Errorf("Sparsity(keep %d) = %v, %d, %d; want %v, %d, %d", keep, dropped, rows, cols, wantDropped, wantRows, wantCols)
		}
	}
	for _, tc := range []struct {
		name   string
		plan   [][]float64
		keep   int
		errHas string
	}{
		{"keep < 0", plan, -1, "keep = -1"},
		{"keep > n·m", plan, 31, "keep = 31"},
		{"empty", nil, 0, "plan is empty"},
		{"ragged", [][]float64{{1, 2}, {3}}, 1, "plan row 1 has 1 entries"},
		{"NaN", [][]float64{{1, math.NaN()}}, 1, "plan[0][1] = NaN"},
		{"negative", [][]float64{{-1, 2}}, 1, "plan[0][0] = -1"},
	} {
		_, _, _, err := Sparsity(tc.plan, tc.keep)
		if err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.errHas)
		}
	}
}

// The default selection is the paper's 2·max(n, m) entries, at most n·m;
// KeepPerRow selects the per-row rule only when KeepTotal is 0.
func TestSelectionDefaults(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		n, m int
		want selection
	}{
		{Options{}, 60, 60, selection{keep: 120}},
		{Options{}, 40, 50, selection{keep: 100}},
		{Options{}, 1, 1, selection{keep: 1}},
		{Options{KeepTotal: 7}, 10, 10, selection{keep: 7}},
		{Options{KeepPerRow: 3}, 10, 10, selection{perRow: true, keep: 3}},
		{Options{KeepPerRow: 30}, 10, 10, selection{perRow: true, keep: 10}},
		{Options{KeepTotal: 5, KeepPerRow: 3}, 10, 10, selection{keep: 5}},
	} {
		_, got, err := tc.opts.snsDefaults(tc.n, tc.m)
		if err != nil || got != tc.want {
			t.Errorf("%+v on %d×%d: %+v, %v; want %+v", tc.opts, tc.n, tc.m, got, err, tc.want)
		}
	}
	if _, _, err := (Options{KeepTotal: 101}).snsDefaults(10, 10); err == nil || !strings.Contains(err.Error(), "KeepTotal = 101") {
		t.Errorf("KeepTotal 101 of 100 entries: %v", err)
	}
}
