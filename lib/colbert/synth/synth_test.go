package synth

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// The task is deterministic by seed; every query has a grade-2 document;
// a query names its concepts mostly with other words than its documents
// use (exact word overlap cannot find them); grades are 1 or 2.
func TestGenerate(t *testing.T) {
	c := Quick(3)
	a, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(c)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two tasks from one seed differ")
	}
	if len(a.Eval.Corpus) != c.Corpus || len(a.Eval.Queries) != c.Queries || len(a.Train) != c.TrainPairs {
		t.Fatalf("sizes %d/%d/%d", len(a.Eval.Corpus), len(a.Eval.Queries), len(a.Train))
	}
	text := map[string]string{}
	for _, d := range a.Eval.Corpus {
		text[d.ID] = d.Text
	}
	shared, concepts := 0, 0
	for _, q := range a.Eval.Queries {
		rel := a.Eval.Qrels[q.ID]
		top := 0
		for _, g := range rel {
			if g != 1 && g != 2 {
				t.Fatalf("%s: grade %d", q.ID, g)
			}
			top = max(top, g)
		}
		if top != 2 {
			t.Fatalf("%s has no grade-2 document", q.ID)
		}
		for _, w := range strings.Fields(q.Text) {
			if strings.HasPrefix(w, "c") {
				concepts++
				for d, g := range rel {
					if g == 2 && strings.Contains(" "+text[d]+" ", " "+w+" ") {
						shared++
						break
					}
				}
			}
		}
	}
	if frac := float64(shared) / float64(concepts); !(frac <= 0.35) {
		t.Errorf("%.2f of query concept words appear verbatim in a grade-2 document, want ≈ %.2f", frac, c.SameSynonym)
	}
	c.QueryConcepts = 9
	if _, err := Generate(c); err == nil || !strings.Contains(err.Error(), "query concepts (9)") {
		t.Errorf("bad config: %v", err)
	}
}

// SameSynonym is a probability: outside [0, 1], or NaN, it is refused.
func TestBadSameSynonym(t *testing.T) {
	for _, p := range []float64{-0.1, 1.5, math.NaN(), math.Inf(1)} {
		c := Quick(1)
		c.SameSynonym = p
		if _, err := Generate(c); err == nil || !strings.Contains(err.Error(), "SameSynonym") {
			t.Errorf("SameSynonym = %g: error %v, want one naming SameSynonym", p, err)
		}
	}
}
