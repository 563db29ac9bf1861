package beir

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/colbert"
)

// writeRaw writes files (path relative to dir → content) as a BEIR download
// lays them out, bypassing Write.
func writeRaw(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// arguAna is shaped like BEIR's ArguAna: every query is an argument that is
// also in the corpus under the same id, and its one relevant document is
// the best counter-argument.
var arguAna = map[string]string{
	"corpus.jsonl": `{"_id": "test-animals-pro01a", "title": "Animals have rights", "text": "Animals feel pain, so they have rights.", "metadata": {}}
{"_id": "test-animals-pro01b", "title": "Animals have rights", "text": "Rights follow from interests."}
{"_id": "test-animals-con01a", "title": "Animals have rights", "text": "Rights need duties, which animals cannot bear."}
{"_id": "test-animals-con01b", "title": "Animals have rights", "text": "Pain alone does not make a right."}
{"_id": "test-tax-pro01a", "title": "Tax sugar", "text": "A sugar tax cuts obesity."}
{"_id": "test-tax-con01a", "title": "Tax sugar", "text": "Sugar taxes hit the poor hardest."}
`,
	"queries.jsonl": `{"_id": "test-animals-pro01a", "text": "Animals feel pain, so they have rights.", "metadata": {}}
{"_id": "test-tax-pro01a", "text": "A sugar tax cuts obesity."}
`,
	"qrels/test.tsv": "query-id\tcorpus-id\tscore\ntest-animals-pro01a\ttest-animals-con01a\t1\ntest-tax-pro01a\ttest-tax-con01a\t1\n",
}

// nfCorpus is shaped like BEIR's NFCorpus: grades 1 and 2, judged
// documents missing from the corpus, judged queries missing from
// queries.jsonl and a query without judgements in the split.
var nfCorpus = map[string]string{
	"corpus.jsonl": `{"_id": "MED-1", "title": "Statins", "text": "Statin use and cancer."}
{"_id": "MED-2", "title": "Fibre", "text": "Dietary fibre and colon health."}
{"_id": "MED-3", "title": "", "text": "Green tea catechins."}
{"_id": "MED-4", "title": "Salt", "text": "Sodium and blood pressure."}
`,
	"queries.jsonl": `{"_id": "PLAIN-1", "text": "Do statins prevent cancer?"}
{"_id": "PLAIN-2", "text": "Is coffee healthy?"}
{"_id": "PLAIN-3", "text": "unjudged in this split"}
`,
	// MED-9 and MED-8 are not in the corpus; PLAIN-4 and PLAIN-5 are not in
	// queries.jsonl.
	"qrels/test.tsv": "query-id\tcorpus-id\tscore\r\n" +
		"PLAIN-1\tMED-1\t2\r\nPLAIN-1\tMED-9\t2\r\nPLAIN-1\tMED-2\t1\r\n" +
		"PLAIN-2\tMED-8\t1\r\n" +
		"PLAIN-4\tMED-1\t2\r\nPLAIN-4\tMED-2\t1\r\nPLAIN-5\tMED-9\t1\r\n",
}

// meanNDCG10 ranks every query of ds by its scores (one per corpus
// document, in corpus order) as the ColBERT evaluation does — the query's
// own id dropped, BEIR's ignore_identical_ids — and averages NDCG@10.
func meanNDCG10(t *testing.T, ds *Dataset, scores map[string][]float32, dropSelf bool) float64 {
	t.Helper()
	ids := make([]string, len(ds.Corpus))
	for i, d := range ds.Corpus {
		ids[i] = d.ID
	}
	sum := 0.0
	for _, q := range ds.Queries {
		self := ""
		if dropSelf {
			self = q.ID
		}
		ranked, err := colbert.Rank(10, ids, scores[q.ID], self)
		if err != nil {
			t.Fatal(err)
		}
		sum += colbert.NDCGAt(10, ranked, ds.Qrels[q.ID])
	}
	return sum / float64(len(ds.Queries))
}

var (
	// ArguAna: the query's own document scores highest, as it would for any
	// encoder; dropped, the counter-argument is second for the first query
	// and first for the second.
	arguAnaScores = map[string][]float32{
		"test-animals-pro01a": {1.0, 0.3, 0.5, 0.8, 0.1, 0.2},
		"test-tax-pro01a":     {0.1, 0.2, 0.3, 0.4, 1.0, 0.9},
	}
	arguAnaNDCG = (1/math.Log2(3) + 1) / 2
	// NFCorpus: PLAIN-1 ranks MED-2 (grade 1), MED-3, MED-1 (grade 2), MED-4;
	// the ideal holds the absent MED-9 (grade 2): 2, 2, 1. PLAIN-2's only
	// relevant document is absent: 0.
	nfCorpusScores = map[string][]float32{
		"PLAIN-1": {0.5, 0.9, 0.7, 0.1},
		"PLAIN-2": {0.4, 0.3, 0.2, 0.1},
	}
	nfCorpusNDCG = ((1/math.Log2(2)+2/math.Log2(4))/(2/math.Log2(2)+2/math.Log2(3)+1/math.Log2(4)) + 0) / 2
)

func TestArguAnaShape(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "arguana")
	writeRaw(t, dir, arguAna)
	ds, err := Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Report{QueriesAlsoDocuments: 2}); ds.Report != want {
		t.Errorf("report %+v, want %+v", ds.Report, want)
	}
	if len(ds.Corpus) != 6 || len(ds.Queries) != 2 || ds.Queries[0].ID != "test-animals-pro01a" {
		t.Errorf("%d documents, queries %+v", len(ds.Corpus), ds.Queries)
	}
	if got := meanNDCG10(t, ds, arguAnaScores, true); !(math.Abs(got-arguAnaNDCG) <= 1e-15) {
		t.Errorf("NDCG@10 = %v, want %v by hand", got, arguAnaNDCG)
	}
	// Without ignore_identical_ids the query's own document takes rank 1 and
	// pushes the counter-arguments down: 1/log2(4) and 1/log2(3).
	if got, want := meanNDCG10(t, ds, arguAnaScores, false), (1/math.Log2(4)+1/math.Log2(3))/2; !(math.Abs(got-want) <= 1e-15) {
		t.Errorf("NDCG@10 keeping identical ids = %v, want %v by hand", got, want)
	}
	if w := ds.Report.Warnings(); len(w) != 1 || !strings.Contains(w[0], "2 queries are also a corpus document") {
		t.Errorf("warnings %q", w)
	}
}

func TestNFCorpusShape(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nfcorpus")
	writeRaw(t, dir, nfCorpus)
	ds, err := Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	want := Report{UnjudgedQueries: 1, QueriesNotInFile: 2, JudgementsDropped: 3,
		DocumentsNotInCorpus: 2, JudgementsOfAbsent: 2, RelevantAbsent: 2, QueriesUnreachable: 1}
	if ds.Report != want {
		t.Errorf("report %+v, want %+v", ds.Report, want)
	}
	wantQrels := map[string]map[string]int{"PLAIN-1": {"MED-1": 2, "MED-9": 2, "MED-2": 1}, "PLAIN-2": {"MED-8": 1}}
	if !reflect.DeepEqual(ds.Qrels, wantQrels) {
		t.Errorf("qrels %v, want %v", ds.Qrels, wantQrels)
	}
	if len(ds.Queries) != 2 || ds.Queries[0].ID != "PLAIN-1" || ds.Queries[1].ID != "PLAIN-2" {
		t.Errorf("queries %+v", ds.Queries)
	}
	if got := meanNDCG10(t, ds, nfCorpusScores, true); !(math.Abs(got-nfCorpusNDCG) <= 1e-15) {
		t.Errorf("NDCG@10 = %v, want %v by hand (ideal DCG with the absent MED-9)", got, nfCorpusNDCG)
	}
	w := strings.Join(ds.Report.Warnings(), "\n")
	for _, s := range []string{
		"1 query in queries.jsonl without judgements dropped",
		"2 judged queries not in queries.jsonl: 3 judgements dropped",
		"2 judged documents not in corpus.jsonl (2 judgements, 2 relevant)",
		"1 query with no relevant document in the corpus",
	} {
		if !strings.Contains(w, s) {
			t.Errorf("warnings %q lack %q", w, s)
		}
	}
	// Write then Load keeps the absent documents' judgements.
	again := filepath.Join(t.TempDir(), "nfcorpus")
	if err := Write(again, "test", ds); err != nil {
		t.Fatal(err)
	}
	back, err := Load(again, "test")
	if err != nil || !reflect.DeepEqual(back.Qrels, wantQrels) {
		t.Errorf("rewritten: %v, %v", back, err)
	}
}

// A NanoBEIR-style collection of the two shapes, macro-averaged.
func TestCollectionMacroAverage(t *testing.T) {
	root := t.TempDir()
	writeRaw(t, filepath.Join(root, "NanoArguAna"), arguAna)
	writeRaw(t, filepath.Join(root, "NanoNFCorpus"), nfCorpus)
	if err := os.WriteFile(filepath.Join(root, "README.md"), []byte("not a dataset"), 0o644); err != nil {
		t.Fatal(err)
	}
	all, err := LoadCollection(root, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "NanoArguAna" || all[1].Name != "NanoNFCorpus" {
		t.Fatalf("%d datasets", len(all))
	}
	if all[0].Report.QueriesAlsoDocuments != 2 || all[1].Report.RelevantAbsent != 2 {
		t.Errorf("reports %+v, %+v", all[0].Report, all[1].Report)
	}
	per := map[string]float64{
		all[0].Name: meanNDCG10(t, all[0], arguAnaScores, true),
		all[1].Name: meanNDCG10(t, all[1], nfCorpusScores, true),
	}
	if got, want := MacroAverage(per), (arguAnaNDCG+nfCorpusNDCG)/2; !(math.Abs(got-want) <= 1e-15) {
		t.Errorf("macro NDCG@10 = %v, want %v", got, want)
	}
	if !math.IsNaN(MacroAverage(nil)) {
		t.Error("MacroAverage of nothing is not NaN")
	}
}

// The counts that the two shapes leave at zero, and the document-text
// decision: a document with neither title nor text is kept and counted; one
// with a title only is an ordinary document.
func TestReportOtherCounts(t *testing.T) {
	dir := t.TempDir()
	writeRaw(t, dir, map[string]string{
		"corpus.jsonl":   "{\"_id\": \"q1\", \"text\": \"a query that is a document\"}\n{\"_id\": \"d1\", \"title\": \" \", \"text\": \"\\t\"}\n{\"_id\": \"d2\", \"title\": \"Title only\", \"text\": \"\"}\n{\"_id\": \"d3\"}\n",
		"queries.jsonl":  "{\"_id\": \"q1\", \"text\": \"a query that is a document\"}\n{\"_id\": \"q2\", \"text\": \"other\"}\n",
		"qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\tq1\t1\nq1\td2\t0\nq2\td2\t-1\n",
	})
	ds, err := Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	// q2 has judgements but none relevant: not unreachable (nothing to reach).
	if want := (Report{QueriesAlsoDocuments: 1, SelfJudged: 1, EmptyDocuments: 2}); ds.Report != want {
		t.Errorf("report %+v, want %+v", ds.Report, want)
	}
	w := strings.Join(ds.Report.Warnings(), "\n")
	for _, s := range []string{"1 query is also a corpus document", "1 judgement of the query's own id", "2 documents with empty title and text"} {
		if !strings.Contains(w, s) {
			t.Errorf("warnings %q lack %q", w, s)
		}
	}
	if w := (Report{}).Warnings(); w != nil {
		t.Errorf("empty report warns %q", w)
	}
}

// A NanoBEIR download's layout (root/NanoSciFact/{corpus.jsonl,
// queries.jsonl,qrels/test.tsv}, one directory per dataset, other files
// beside them): LoadCollection reads each in name order; a malformed file
// or a missing split in one dataset is one error line naming that file.
func TestNanoBEIRLayout(t *testing.T) {
	sciFact := map[string]string{
		"corpus.jsonl":   "{\"_id\": \"4983\", \"title\": \"Microstructural development of human newborn cerebral white matter\", \"text\": \"Alterations of the architecture of cerebral white matter.\"}\n{\"_id\": \"5836\", \"title\": \"Induction of myelodysplasia\", \"text\": \"Myelodysplastic syndromes are a heterogeneous group.\"}\n",
		"queries.jsonl":  "{\"_id\": \"1\", \"text\": \"0-dimensional biomaterials show inductive properties.\"}\n{\"_id\": \"3\", \"text\": \"1,000 genomes project enables mapping of genetic sequence variation.\"}\n",
		"qrels/test.tsv": "query-id\tcorpus-id\tscore\n1\t4983\t1\n3\t5836\t1\n",
	}
	for _, c := range []struct {
		name    string
		broken  map[string]string // NanoSciFact's files replaced
		want    string            // error substring; "" for none
		wantAt  string            // the file the error names
		dataset []string
	}{
		{"clean", nil, "", "", []string{"NanoArguAna", "NanoNFCorpus", "NanoSciFact"}},
		{"bad grade", map[string]string{"qrels/test.tsv": "query-id\tcorpus-id\tscore\n1\t4983\t1\n3\t5836\t0.5\n"}, `:3: score "0.5" is not an integer grade`, "NanoSciFact/qrels/test.tsv", nil},
		{"duplicate document", map[string]string{"corpus.jsonl": "{\"_id\": \"4983\", \"text\": \"a\"}\n{\"_id\": \"4983\", \"text\": \"b\"}\n"}, `:2: document "4983" again`, "NanoSciFact/corpus.jsonl", nil},
		{"empty query", map[string]string{"queries.jsonl": "{\"_id\": \"1\", \"text\": \"\"}\n"}, `:1: query "1" has no text`, "NanoSciFact/queries.jsonl", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			writeRaw(t, filepath.Join(root, "NanoArguAna"), arguAna)
			writeRaw(t, filepath.Join(root, "NanoNFCorpus"), nfCorpus)
			writeRaw(t, filepath.Join(root, "NanoSciFact"), sciFact)
			writeRaw(t, filepath.Join(root, "NanoSciFact"), c.broken)
			writeRaw(t, root, map[string]string{"README.md": "# NanoBEIR\n", ".cache/x": ""})
			all, err := LoadCollection(root, "test")
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), filepath.Join(root, c.wantAt)+c.want) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one line naming %s and %q", err, c.wantAt, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, ds := range all {
				names = append(names, ds.Name)
			}
			if !reflect.DeepEqual(names, c.dataset) {
				t.Fatalf("datasets %v, want %v", names, c.dataset)
			}
			if sf := all[2]; len(sf.Corpus) != 2 || len(sf.Queries) != 2 || sf.Qrels["3"]["5836"] != 1 || sf.Report != (Report{}) {
				t.Errorf("NanoSciFact: %d documents, %d queries, qrels %v, report %+v", len(sf.Corpus), len(sf.Queries), sf.Qrels, sf.Report)
			}
		})
	}
	// A split that one dataset lacks is an error naming its qrels file.
	root := t.TempDir()
	writeRaw(t, filepath.Join(root, "NanoSciFact"), sciFact)
	writeRaw(t, filepath.Join(root, "NanoArguAna"), arguAna)
	if err := os.Rename(filepath.Join(root, "NanoSciFact", "qrels", "test.tsv"), filepath.Join(root, "NanoSciFact", "qrels", "dev.tsv")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCollection(root, "test"); err == nil || !strings.Contains(err.Error(), filepath.Join(root, "NanoSciFact", "qrels", "test.tsv")) {
		t.Errorf("missing split: %v", err)
	}
}
