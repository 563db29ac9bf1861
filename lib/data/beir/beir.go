// Package beir reads retrieval benchmarks in the BEIR layout: corpus.jsonl
// ({"_id", "title", "text"} per line), queries.jsonl ({"_id", "text"}) and
// qrels/<split>.tsv (query-id, corpus-id, score; a header line), and
// NanoBEIR-style collections (a directory of such datasets). It also
// writes them, so tests and the synthetic task produce real-format files.
package beir

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Doc is a corpus document.
type Doc struct {
	ID    string `json:"_id"`
	Title string `json:"title,omitempty"`
	Text  string `json:"text"`
}

// Query is a query.
type Query struct {
	ID   string `json:"_id"`
	Text string `json:"text"`
}

// Dataset is one benchmark split.
type Dataset struct {
	Name    string
	Corpus  []Doc
	Queries []Query // only the queries that have judgements in Qrels
	// Qrels maps query id → document id → grade. Every query in it is in
	// Queries; a judged document may be absent from Corpus (BEIR's ArguAna
	// and NFCorpus have such qrels): it can never be retrieved, but its
	// grade still counts in the ideal DCG, as in pytrec_eval.
	Qrels map[string]map[string]int
	// Report counts what Load accepted as BEIR does but a strict reader
	// would not (zero for a dataset built in memory).
	Report Report
}

// Report counts, for one loaded dataset, the departures from a clean
// corpus/queries/qrels triple that Load accepts as BEIR's GenericDataLoader
// and pytrec_eval do. Warnings phrases the non-zero ones for a notebook.
type Report struct {
	// UnjudgedQueries are queries in queries.jsonl without a judgement in
	// the split: dropped from Queries (BEIR drops them too).
	UnjudgedQueries int
	// QueriesNotInFile are query ids judged in the qrels but absent from
	// queries.jsonl; their JudgementsDropped judgements are dropped from
	// Qrels (BEIR has no text to run them, so pytrec_eval never sees them).
	QueriesNotInFile, JudgementsDropped int
	// DocumentsNotInCorpus are the distinct document ids judged for a kept
	// query but absent from corpus.jsonl; JudgementsOfAbsent is how many
	// kept judgements name them, RelevantAbsent how many of those have a
	// grade > 0 (each lowers the query's achievable NDCG below 1), and
	// QueriesUnreachable how many queries have a relevant document but none
	// in the corpus (their NDCG, recall and MRR are 0 whatever the ranking).
	DocumentsNotInCorpus, JudgementsOfAbsent, RelevantAbsent, QueriesUnreachable int
	// QueriesAlsoDocuments are kept queries whose id is also a corpus id
	// (ArguAna: each query is an argument of the corpus). BEIR's evaluation
	// (ignore_identical_ids, its default) removes a document whose id is the
	// query's from that query's results; pass the query id to colbert.Rank
	// to do the same. SelfJudged counts judgements of a query's own id, a
	// document that evaluation so never ranks.
	QueriesAlsoDocuments, SelfJudged int
	// EmptyDocuments are corpus documents whose title and text are both
	// empty after trimming white space: kept (BEIR keeps them), they match
	// nothing. An empty query text is an error instead.
	EmptyDocuments int
}

// Warnings says, one sentence each, what the non-zero counts of r mean;
// nil when there are none.
func (r Report) Warnings() []string {
	var out []string
	add := func(n int, format string, args ...any) {
		if n > 0 {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	add(r.UnjudgedQueries, "%d quer%s in queries.jsonl without judgements dropped", r.UnjudgedQueries, plural(r.UnjudgedQueries, "y", "ies"))
	add(r.QueriesNotInFile, "%d judged quer%s not in queries.jsonl: %d judgement%s dropped", r.QueriesNotInFile, plural(r.QueriesNotInFile, "y", "ies"),
		r.JudgementsDropped, plural(r.JudgementsDropped, "", "s"))
	add(r.DocumentsNotInCorpus, "%d judged document%s not in corpus.jsonl (%d judgement%s, %d relevant): kept in the ideal DCG, never retrievable",
		r.DocumentsNotInCorpus, plural(r.DocumentsNotInCorpus, "", "s"), r.JudgementsOfAbsent, plural(r.JudgementsOfAbsent, "", "s"), r.RelevantAbsent)
	add(r.QueriesUnreachable, "%d quer%s with no relevant document in the corpus (metrics 0 whatever the ranking)", r.QueriesUnreachable, plural(r.QueriesUnreachable, "y", "ies"))
	add(r.QueriesAlsoDocuments, "%d quer%s also a corpus document: rank without the query's own id, as BEIR's ignore_identical_ids does",
		r.QueriesAlsoDocuments, plural(r.QueriesAlsoDocuments, "y is", "ies are"))
	add(r.SelfJudged, "%d judgement%s of the query's own id (never ranked once identical ids are ignored)", r.SelfJudged, plural(r.SelfJudged, "", "s"))
	add(r.EmptyDocuments, "%d document%s with empty title and text", r.EmptyDocuments, plural(r.EmptyDocuments, "", "s"))
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// maxLine bounds one JSONL line (a long document is a few hundred KB).
const maxLine = 16 << 20

// ReadCorpus reads corpus.jsonl; name labels errors (file:line). A
// document with an empty title and text is accepted (Load counts it in
// Report.EmptyDocuments).
func ReadCorpus(r io.Reader, name string) ([]Doc, error) {
	return readRecords(r, name, "document", func(d Doc) string { return d.ID }, nil)
}

// ReadQueries reads queries.jsonl; name labels errors (file:line). A query
// whose text is empty after trimming white space is an error: it could
// only be encoded as nothing, and BEIR's query sets have none.
func ReadQueries(r io.Reader, name string) ([]Query, error) {
	return readRecords(r, name, "query", func(q Query) string { return q.ID }, func(q Query) error {
		if strings.TrimSpace(q.Text) == "" {
			return fmt.Errorf("query %q has no text", q.ID)
		}
		return nil
	})
}

// readRecords reads one JSON object of type T per line, each with a unique
// non-empty "_id" (kind names a record in the error for a repeated one)
// and, if check is not nil, passing check.
func readRecords[T any](r io.Reader, name, kind string, id func(T) string, check func(T) error) ([]T, error) {
	var records []T
	seen := map[string]int{}
	err := jsonLines(r, name, func(line int, data []byte) error {
		var rec T
		if err := strictUnmarshal(data, &rec); err != nil {
			return err
		}
		key := id(rec)
		if key == "" {
			return errors.New(`no "_id"`)
		}
		if first, dup := seen[key]; dup {
			return fmt.Errorf("%s %q again (first on line %d)", kind, key, first)
		}
		if check != nil {
			if err := check(rec); err != nil {
				return err
			}
		}
		seen[key] = line
		records = append(records, rec)
		return nil
	})
	return records, err
}

// strictUnmarshal decodes one JSON object, allowing fields we do not use
// (BEIR files carry "metadata") but not trailing data or a non-object.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	if dec.More() {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

func jsonLines(r io.Reader, name string, each func(line int, data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		data := sc.Bytes()
		if strings.TrimSpace(string(data)) == "" {
			continue
		}
		if err := each(line, data); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return nil
}

// ReadQrels reads a qrels TSV: query-id, corpus-id, score (an integer
// grade), tab-separated, after an optional header line starting with
// "query-id". A pair judged twice is an error.
func ReadQrels(r io.Reader, name string) (map[string]map[string]int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	out := map[string]map[string]int{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || (line == 1 && strings.HasPrefix(text, "query-id")) {
			continue
		}
		f := strings.Split(text, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: %d tab-separated fields, want 3 (query-id, corpus-id, score)", name, line, len(f))
		}
		if f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("%s:%d: empty query or corpus id", name, line)
		}
		g, err := strconv.Atoi(strings.TrimSpace(f[2]))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: score %q is not an integer grade", name, line, f[2])
		}
		if out[f[0]] == nil {
			out[f[0]] = map[string]int{}
		}
		if _, dup := out[f[0]][f[1]]; dup {
			return nil, fmt.Errorf("%s:%d: query %q, document %q judged twice", name, line, f[0], f[1])
		}
		out[f[0]][f[1]] = g
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return out, nil
}

// Load reads the BEIR dataset in dir with qrels/<split>.tsv and accepts
// what BEIR's GenericDataLoader and pytrec_eval accept, counting it in
// Dataset.Report:
//   - queries without judgements are dropped (BEIR evaluates the judged ones);
//   - judgements of a query absent from queries.jsonl are dropped (BEIR has
//     no text to run it, so pytrec_eval never evaluates it);
//   - judgements of a document absent from corpus.jsonl are kept: it is
//     never retrieved, and its grade still counts in the ideal DCG;
//   - a query whose id is a corpus id (ArguAna) is kept with that document;
//     evaluation drops it from the query's ranking (colbert.Rank's queryID).
//
// Malformed files — bad JSON, a missing or repeated "_id", an empty query
// text, a qrels line without three fields or with a non-integer grade, a
// pair judged twice — are an error naming the file and line.
func Load(dir, split string) (*Dataset, error) {
	open := func(rel string) (*os.File, string, error) {
		p := filepath.Join(dir, rel)
		f, err := os.Open(p)
		if err != nil {
			return nil, p, fmt.Errorf("beir: %w (want BEIR's corpus.jsonl, queries.jsonl and qrels/%s.tsv in %s)", err, split, dir)
		}
		return f, p, nil
	}
	ds := &Dataset{Name: filepath.Base(dir)}
	f, p, err := open("corpus.jsonl")
	if err != nil {
		return nil, err
	}
	ds.Corpus, err = ReadCorpus(f, p)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("beir: %w", err)
	}
	f, p, err = open("queries.jsonl")
	if err != nil {
		return nil, err
	}
	queries, err := ReadQueries(f, p)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("beir: %w", err)
	}
	f, p, err = open(filepath.Join("qrels", split+".tsv"))
	if err != nil {
		return nil, err
	}
	ds.Qrels, err = ReadQrels(f, p)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("beir: %w", err)
	}
	ds.Report = reconcile(ds, queries)
	return ds, nil
}

// reconcile keeps in ds.Queries the queries judged in ds.Qrels, drops from
// ds.Qrels the queries absent from queries and counts what it met.
func reconcile(ds *Dataset, queries []Query) Report {
	var r Report
	docs := make(map[string]bool, len(ds.Corpus))
	for _, d := range ds.Corpus {
		docs[d.ID] = true
		if strings.TrimSpace(d.Title) == "" && strings.TrimSpace(d.Text) == "" {
			r.EmptyDocuments++
		}
	}
	known := make(map[string]bool, len(queries))
	for _, q := range queries {
		known[q.ID] = true
		if ds.Qrels[q.ID] != nil {
			ds.Queries = append(ds.Queries, q)
		} else {
			r.UnjudgedQueries++
		}
	}
	absent := map[string]bool{}
	for qid, judged := range ds.Qrels {
		if !known[qid] {
			r.QueriesNotInFile++
			r.JudgementsDropped += len(judged)
			delete(ds.Qrels, qid)
			continue
		}
		if docs[qid] {
			r.QueriesAlsoDocuments++
		}
		relevant, reachable := 0, 0
		for did, g := range judged {
			if did == qid {
				r.SelfJudged++
			}
			if g > 0 {
				relevant++
			}
			if docs[did] {
				if g > 0 {
					reachable++
				}
				continue
			}
			absent[did] = true
			r.JudgementsOfAbsent++
			if g > 0 {
				r.RelevantAbsent++
			}
		}
		if relevant > 0 && reachable == 0 {
			r.QueriesUnreachable++
		}
	}
	r.DocumentsNotInCorpus = len(absent)
	return r
}

// MacroAverage is the unweighted mean of one score per dataset, as
// NanoBEIR and BEIR tables average a metric over datasets; NaN for none.
// It sums in name order, so the result does not depend on map order.
func MacroAverage(perDataset map[string]float64) float64 {
	if len(perDataset) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, name := range sortedKeys(perDataset) {
		sum += perDataset[name]
	}
	return sum / float64(len(perDataset))
}

// LoadCollection reads every BEIR dataset directly under root (NanoBEIR
// style: root/NanoSciFact, root/NanoFiQA2018, …), in name order; root itself
// may be one dataset.
func LoadCollection(root, split string) ([]*Dataset, error) {
	if _, err := os.Stat(filepath.Join(root, "corpus.jsonl")); err == nil {
		ds, err := Load(root, split)
		if err != nil {
			return nil, err
		}
		return []*Dataset{ds}, nil
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("beir: %w", err)
	}
	var out []*Dataset
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, e.Name(), "corpus.jsonl")); err != nil {
			continue
		}
		ds, err := Load(filepath.Join(root, e.Name()), split)
		if err != nil {
			return nil, err
		}
		out = append(out, ds)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("beir: no BEIR dataset (a directory with corpus.jsonl) in %s", root)
	}
	return out, nil
}

// Write writes ds in the BEIR layout under dir (qrels/<split>.tsv).
func Write(dir, split string, ds *Dataset) error {
	if err := os.MkdirAll(filepath.Join(dir, "qrels"), 0o755); err != nil {
		return fmt.Errorf("beir: %w", err)
	}
	writeLines := func(name string, n int, item func(i int) any) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("beir: %w", err)
		}
		w := bufio.NewWriter(f)
		enc := json.NewEncoder(w)
		for i := range n {
			if err := enc.Encode(item(i)); err != nil {
				f.Close()
				return fmt.Errorf("beir: %s: %w", name, err)
			}
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return fmt.Errorf("beir: %s: %w", name, err)
		}
		return f.Close()
	}
	if err := writeLines("corpus.jsonl", len(ds.Corpus), func(i int) any { return ds.Corpus[i] }); err != nil {
		return err
	}
	if err := writeLines("queries.jsonl", len(ds.Queries), func(i int) any { return ds.Queries[i] }); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("query-id\tcorpus-id\tscore\n")
	for _, q := range sortedKeys(ds.Qrels) {
		for _, d := range sortedKeys(ds.Qrels[q]) {
			fmt.Fprintf(&b, "%s\t%s\t%d\n", q, d, ds.Qrels[q][d])
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "qrels", split+".tsv"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("beir: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
