package colbert

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// A hand-computed case: grades 3, 2, 0 and an unjudged document; one judged
// relevant document is never retrieved, one judged −1.
func TestNDCGByHand(t *testing.T) {
	rel := map[string]int{"a": 3, "b": 2, "c": 0, "d": 1, "e": -1}
	ranked := []string{"b", "x", "a", "e", "c"}
	dcg := 2/math.Log2(2) + 3/math.Log2(4)
	idcg := 3/math.Log2(2) + 2/math.Log2(3) + 1/math.Log2(4)
	if got := NDCGAt(10, ranked, rel); !(math.Abs(got-dcg/idcg) <= 1e-15) {
		t.Errorf("NDCG@10 = %v, want %v", got, dcg/idcg)
	}
	// Cut at 2: only "b" counts; the ideal is cut at 2 too.
	if got, want := NDCGAt(2, ranked, rel), (2/math.Log2(2))/(3/math.Log2(2)+2/math.Log2(3)); !(math.Abs(got-want) <= 1e-15) {
		t.Errorf("NDCG@2 = %v, want %v", got, want)
	}
	if got := NDCGAt(10, ranked, map[string]int{"z": 0}); got != 0 {
		t.Errorf("no relevant document: %v, want 0", got)
	}
	if got := RecallAt(2, ranked, rel); !(math.Abs(got-1.0/3) <= 1e-15) {
		t.Errorf("Recall@2 = %v, want 1/3", got)
	}
	if got := MRRAt(10, []string{"x", "c", "d"}, rel); !(math.Abs(got-1.0/3) <= 1e-15) {
		t.Errorf("MRR@10 = %v, want 1/3", got)
	}
	for _, bad := range []struct {
		k      int
		ranked []string
		want   string
	}{{0, ranked, "k = 0"}, {10, []string{"a", "b", "a"}, `"a" is ranked twice (ranks 1 and 3)`}} {
		if !math.IsNaN(NDCGAt(bad.k, bad.ranked, rel)) || !math.IsNaN(RecallAt(bad.k, bad.ranked, rel)) || !math.IsNaN(MRRAt(bad.k, bad.ranked, rel)) {
			t.Errorf("k=%d %v: not NaN", bad.k, bad.ranked)
		}
		if err := CheckRanking(bad.k, bad.ranked); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("CheckRanking(%d, %v) = %v, want %q", bad.k, bad.ranked, err, bad.want)
		}
	}
}

// Rank orders by score descending, then id descending (trec_eval's order),
// drops the query's own id and puts NaN last.
func TestRankTies(t *testing.T) {
	ids := []string{"d1", "d3", "d2", "q1", "d4", "d5"}
	scores := []float32{0.5, 0.9, 0.5, 1.0, float32(math.NaN()), 0.5}
	got, err := Rank(10, ids, scores, "q1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "d3 d5 d2 d1 d4"; strings.Join(got, " ") != want {
		t.Errorf("Rank = %v, want %s", got, want)
	}
	if got, _ := Rank(2, ids, scores, ""); strings.Join(got, " ") != "q1 d3" {
		t.Errorf("Rank k=2 = %v", got)
	}
	if _, err := Rank(1, ids, scores[:2], ""); err == nil {
		t.Error("mismatched ids and scores accepted")
	}
}

// NDCG@10, Recall@100 and MRR@10 (recip_rank) against pytrec_eval (trec_eval's
// C code, pytrec-eval-terrier) on random graded qrels and random runs with
// many tied scores; our rankings come from Rank, trec_eval re-sorts the
// run itself. make test requires it ($GOREPRO_REQUIRE_PYTREC).
func TestMetricsAgainstTrecEval(t *testing.T) {
	py := venvPython(t)
	r := rand.New(rand.NewPCG(7, 8))
	qrels := map[string]map[string]int{}
	run := map[string]map[string]float64{}
	ours := map[string][3]float64{}
	for q := range 40 {
		qid := fmt.Sprintf("q%d", q)
		qrels[qid], run[qid] = map[string]int{}, map[string]float64{}
		var ids []string
		var scores []float32
		for d := range 60 {
			did := fmt.Sprintf("doc%02d", d)
			if r.IntN(3) == 0 {
				qrels[qid][did] = r.IntN(4) - (r.IntN(5) / 4) // grades −1…3, many 0
			}
			if r.IntN(4) > 0 {
				s := float32(r.IntN(8)) / 4 // few distinct values: many ties
				ids, scores = append(ids, did), append(scores, s)
				run[qid][did] = float64(s)
			}
		}
		rel := qrels[qid]
		ranked, err := Rank(len(ids), ids, scores, "")
		if err != nil {
			t.Fatal(err)
		}
		ours[qid] = [3]float64{NDCGAt(10, ranked, rel), RecallAt(100, ranked, rel), MRRAt(len(ranked), ranked, rel)}
	}
	script := `
import json, sys, pytrec_eval
d = json.load(sys.stdin)
ev = pytrec_eval.RelevanceEvaluator(d["qrels"], {"ndcg_cut.10", "recall.100", "recip_rank"})
print(json.dumps(ev.evaluate(d["run"])))
`
	in, _ := json.Marshal(map[string]any{"qrels": qrels, "run": run})
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pytrec_eval: %v\n%s", err, out)
	}
	var ref map[string]map[string]float64
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatalf("pytrec_eval output: %v\n%s", err, out)
	}
	for qid, m := range ours {
		rm, ok := ref[qid]
		if !ok {
			if m[0] != 0 {
				t.Errorf("%s: trec_eval skipped it (no judged relevant document?), ours NDCG %v", qid, m[0])
			}
			continue
		}
		for i, name := range []string{"ndcg_cut_10", "recall_100", "recip_rank"} {
			if !(math.Abs(m[i]-rm[name]) <= 1e-12) { // trec_eval computes in double precision
				t.Errorf("%s %s: ours %.6f, trec_eval %.6f", qid, name, m[i], rm[name])
			}
		}
	}
}

func venvPython(t *testing.T) string {
	return backendstest.Python(t, "GOREPRO_REQUIRE_PYTREC", "pytrec_eval")
}
