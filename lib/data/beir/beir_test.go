package beir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func fixture() *Dataset {
	return &Dataset{
		Name: "tiny",
		Corpus: []Doc{{ID: "d1", Title: "Go", Text: "a language"}, {ID: "d2", Text: "tabs\tand \"quotes\" and ünïcode"},
			{ID: "d3", Text: ""}},
		Queries: []Query{{ID: "q1", Text: "what is go"}, {ID: "q2", Text: "quotes"}},
		Qrels:   map[string]map[string]int{"q1": {"d1": 2, "d3": 0}, "q2": {"d2": 1}},
	}
}

// Write then Load gives the dataset back; an unjudged query is dropped;
// LoadCollection reads a NanoBEIR-style directory of datasets.
func TestRoundTrip(t *testing.T) {
	root := t.TempDir()
	ds := fixture()
	withExtra := *ds
	withExtra.Queries = append(append([]Query(nil), ds.Queries...), Query{ID: "q3", Text: "unjudged"})
	if err := Write(filepath.Join(root, "NanoA"), "test", &withExtra); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(root, "NanoB"), "test", ds); err != nil {
		t.Fatal(err)
	}
	got, err := Load(filepath.Join(root, "NanoA"), "test")
	if err != nil {
		t.Fatal(err)
	}
	got.Name = ds.Name
	want := *ds
	want.Report = Report{UnjudgedQueries: 1, EmptyDocuments: 1} // q3; d3 has neither title nor text
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, &want)
	}
	all, err := LoadCollection(root, "test")
	if err != nil || len(all) != 2 || all[0].Name != "NanoA" || all[1].Name != "NanoB" {
		t.Fatalf("LoadCollection: %v, %d datasets", err, len(all))
	}
	one, err := LoadCollection(filepath.Join(root, "NanoB"), "test")
	if err != nil || len(one) != 1 {
		t.Fatalf("LoadCollection of one dataset: %v", err)
	}
	if _, err := LoadCollection(t.TempDir(), "test"); err == nil || !strings.Contains(err.Error(), "no BEIR dataset") {
		t.Errorf("empty collection: %v", err)
	}
}

// Malformed input: one error naming the file and line (one line of text);
// the file keeps the fixture's other files.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, file, content, want string
	}{
		{"bad JSON", "corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"x\"}\n{\"_id\": \"d2\", \"text\": \n", "corpus.jsonl:2: not a JSON object"},
		{"duplicate document", "corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"x\"}\n\n{\"_id\": \"d1\", \"text\": \"y\"}\n", `corpus.jsonl:3: document "d1" again (first on line 1)`},
		{"no document id", "corpus.jsonl", "{\"text\": \"x\"}\n", `corpus.jsonl:1: no "_id"`},
		{"not an object", "corpus.jsonl", "[1, 2]\n", "corpus.jsonl:1: not a JSON object"},
		{"two objects", "corpus.jsonl", "{\"_id\": \"d1\"} {\"_id\": \"d2\"}\n", "corpus.jsonl:1: more than one JSON value"},
		{"numeric query id", "queries.jsonl", "{\"_id\": 5, \"text\": \"x\"}\n", "queries.jsonl:1: not a JSON object"},
		{"duplicate query", "queries.jsonl", "{\"_id\": \"q1\", \"text\": \"x\"}\n{\"_id\": \"q2\", \"text\": \"y\"}\n{\"_id\": \"q1\", \"text\": \"z\"}\n", `queries.jsonl:3: query "q1" again (first on line 1)`},
		{"empty query text", "queries.jsonl", "{\"_id\": \"q1\", \"text\": \"x\"}\n{\"_id\": \"q2\", \"text\": \" \\t\\n \"}\n", `queries.jsonl:2: query "q2" has no text`},
		{"missing query text", "queries.jsonl", "{\"_id\": \"q1\"}\n", `queries.jsonl:1: query "q1" has no text`},
		{"two fields", "qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\n", "test.tsv:2: 2 tab-separated fields"},
		{"four fields", "qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\t0\td2\t1\n", "test.tsv:3: 4 tab-separated fields"},
		{"space-separated", "qrels/test.tsv", "q1 d1 1\n", "test.tsv:1: 1 tab-separated fields"},
		{"word grade", "qrels/test.tsv", "q1\td1\thigh\n", `test.tsv:1: score "high" is not an integer grade`},
		{"fractional grade", "qrels/test.tsv", "q1\td1\t0.5\n", `test.tsv:1: score "0.5" is not an integer grade`},
		{"fractional grade above 1", "qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t1.5\n", `test.tsv:3: score "1.5" is not an integer grade`},
		{"letter grade", "qrels/test.tsv", "q1\td1\tx\n", `test.tsv:1: score "x" is not an integer grade`},
		{"empty grade", "qrels/test.tsv", "q1\td1\t\n", `test.tsv:1: score "" is not an integer grade`},
		{"judged twice, same grade", "qrels/test.tsv", "q1\td1\t1\nq2\td2\t1\nq1\td1\t1\n", `test.tsv:3: query "q1", document "d1" judged twice`},
		{"empty id", "qrels/test.tsv", "q1\t\t1\n", "test.tsv:1: empty query or corpus id"},
		{"judged twice", "qrels/test.tsv", "q1\td1\t1\nq1\td1\t2\n", `test.tsv:2: query "q1", document "d1" judged twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Write(dir, "test", fixture()); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir, "test")
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, tc.file)) || !strings.Contains(err.Error(), tc.want) ||
				strings.Contains(err.Error(), "\n") {
				t.Errorf("%s %q: %v, want one line naming the file and %q", tc.file, tc.content, err, tc.want)
			}
		})
	}
	if _, err := Load(t.TempDir(), "test"); err == nil || !strings.Contains(err.Error(), "want BEIR's corpus.jsonl") {
		t.Errorf("missing files: %v", err)
	}
}

// Whatever the bytes, ReadCorpus returns documents with ids, or one error
// line naming the file.
func FuzzReadCorpus(f *testing.F) {
	f.Add([]byte("{\"_id\": \"d1\", \"title\": \"t\", \"text\": \"x\"}\n"))
	f.Add([]byte("{\"_id\": \"d1\"}\n{\"_id\": \"d1\"}\n"))
	f.Add([]byte("{\"_id\": \"d1\", \"text\": \"x\", \"metadata\": {\"url\": \"u\"}}\r\n\n{\"_id\": \"d2\", \"title\": \"\", \"text\": \"\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := ReadCorpus(strings.NewReader(string(data)), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line naming the file", err)
			}
			return
		}
		for _, d := range docs {
			if d.ID == "" {
				t.Fatal("a document without an id was accepted")
			}
		}
	})
}

// Whatever the bytes, ReadQrels returns non-empty ids with integer grades
// parsed from three-field lines, or one error line naming the file; a
// header may only be the first line.
func FuzzReadQrels(f *testing.F) {
	f.Add([]byte("query-id\tcorpus-id\tscore\nq1\td1\t1\n"))
	f.Add([]byte("q1\td1\t-1\r\nq2\td2\t3\n"))
	f.Add([]byte("query-id\tcorpus-id\tscore\nPLAIN-1\tMED-10\t2\nPLAIN-1\tMED-9999\t1\n\nPLAIN-2\tMED-10\t 0\n"))
	f.Add([]byte("q1\td1\t1\tx\n"))
	f.Add([]byte("q1\td1\t1\nquery-id\tcorpus-id\tscore\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := ReadQrels(strings.NewReader(string(data)), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line naming the file", err)
			}
			return
		}
		for qid, m := range q {
			for did := range m {
				if qid == "" || did == "" {
					t.Fatal("an empty id was accepted")
				}
				if strings.ContainsAny(qid+did, "\t\n") {
					t.Fatalf("id %q/%q holds a separator", qid, did)
				}
			}
		}
	})
}
