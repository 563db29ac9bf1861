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
	Queries []Query                   // only the queries that have judgements in Qrels
	Qrels   map[string]map[string]int // query id → document id → grade
}

// maxLine bounds one JSONL line (a long document is a few hundred KB).
const maxLine = 16 << 20

// ReadCorpus reads corpus.jsonl; name labels errors (file:line).
func ReadCorpus(r io.Reader, name string) ([]Doc, error) {
	return readRecords(r, name, "document", func(d Doc) string { return d.ID })
}

// ReadQueries reads queries.jsonl; name labels errors (file:line).
func ReadQueries(r io.Reader, name string) ([]Query, error) {
	return readRecords(r, name, "query", func(q Query) string { return q.ID })
}

// readRecords reads one JSON object of type T per line, each with a unique
// non-empty "_id" (kind names a record in the error for a repeated one).
func readRecords[T any](r io.Reader, name, kind string, id func(T) string) ([]T, error) {
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

// Load reads the BEIR dataset in dir with qrels/<split>.tsv. Queries without
// judgements are dropped (BEIR evaluates the judged ones); qrels naming a
// query or document absent from the files are an error.
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
	docs := map[string]bool{}
	for _, d := range ds.Corpus {
		docs[d.ID] = true
	}
	known := map[string]bool{}
	for _, q := range queries {
		known[q.ID] = true
		if ds.Qrels[q.ID] != nil {
			ds.Queries = append(ds.Queries, q)
		}
	}
	for _, qid := range sortedKeys(ds.Qrels) {
		if !known[qid] {
			return nil, fmt.Errorf("beir: %s: query %q is judged but not in queries.jsonl", p, qid)
		}
		for _, did := range sortedKeys(ds.Qrels[qid]) {
			if !docs[did] {
				return nil, fmt.Errorf("beir: %s: document %q (query %q) is judged but not in corpus.jsonl", p, did, qid)
			}
		}
	}
	return ds, nil
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
