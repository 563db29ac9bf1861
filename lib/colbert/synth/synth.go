// Package synth generates a retrieval task where token-level matching
// matters: documents are bags of concepts, each written with one of several
// synonyms (distinct words), among filler words; a query names some of one
// document's concepts with other synonyms than the document uses, so exact
// word overlap does not find it and a model must learn which words mean the
// same. Relevance is graded by how many of the query's concepts a document
// holds. The evaluation part is a beir.Dataset (real BEIR files when
// written), the training part (query, positive document) pairs drawn from a
// separate set of documents.
package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/gorepro/gorepro/lib/data/beir"
)

// Config sizes the task.
type Config struct {
	Concepts      int // distinct meanings
	Synonyms      int // words per concept
	Fillers       int // meaningless words
	DocConcepts   int // concepts per document
	QueryConcepts int // concepts per query (≤ DocConcepts)
	DocFill       int // filler words per document
	QueryFill     int // filler words per query
	Corpus        int // evaluation documents
	Queries       int // evaluation queries
	TrainPairs    int // training (query, positive) pairs, from their own documents
	SameSynonym   float64
	Seed          uint64
}

// Quick is the notebook's quick profile.
func Quick(seed uint64) Config {
	return Config{Concepts: 120, Synonyms: 3, Fillers: 60, DocConcepts: 4, QueryConcepts: 3, DocFill: 8, QueryFill: 2,
		Corpus: 600, Queries: 150, TrainPairs: 3000, SameSynonym: 0.2, Seed: seed}
}

// Pair is a training example.
type Pair struct{ Query, Doc string }

// Task is the generated task.
type Task struct {
	Config Config
	Eval   *beir.Dataset
	Train  []Pair
	Vocab  []string // every word, for a tokenizer: concept words, then fillers
}

func (c Config) check() error {
	switch {
	case c.Concepts < 2 || c.Synonyms < 1 || c.Fillers < 0 || c.DocFill < 0 || c.QueryFill < 0:
		return fmt.Errorf("synth: want ≥ 2 concepts, ≥ 1 synonym, non-negative fillers; got %d, %d, %d", c.Concepts, c.Synonyms, c.Fillers)
	case c.DocConcepts < 1 || c.QueryConcepts < 1 || c.QueryConcepts > c.DocConcepts || c.DocConcepts > c.Concepts:
		return fmt.Errorf("synth: want 1 ≤ query concepts (%d) ≤ document concepts (%d) ≤ concepts (%d)", c.QueryConcepts, c.DocConcepts, c.Concepts)
	case (c.DocFill > 0 || c.QueryFill > 0) && c.Fillers == 0:
		return fmt.Errorf("synth: filler words asked for but Fillers = 0")
	case c.Corpus < 1 || c.Queries < 1 || c.Queries > c.Corpus || c.TrainPairs < 0:
		return fmt.Errorf("synth: want 1 ≤ queries (%d) ≤ corpus (%d), train pairs ≥ 0", c.Queries, c.Corpus)
	case !(c.SameSynonym >= 0 && c.SameSynonym <= 1): // NaN too
		return fmt.Errorf("synth: SameSynonym %g outside [0, 1]", c.SameSynonym)
	}
	return nil
}

func word(concept, synonym int) string { return fmt.Sprintf("c%ds%d", concept, synonym) }

type doc struct {
	concepts []int
	synonym  map[int]int
	text     string
}

// Generate draws the task.
func Generate(c Config) (*Task, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(c.Seed, 0x636f6c62))
	t := &Task{Config: c}
	for i := range c.Concepts {
		for s := range c.Synonyms {
			t.Vocab = append(t.Vocab, word(i, s))
		}
	}
	for f := range c.Fillers {
		t.Vocab = append(t.Vocab, fmt.Sprintf("f%d", f))
	}
	newDoc := func() doc {
		d := doc{concepts: r.Perm(c.Concepts)[:c.DocConcepts], synonym: map[int]int{}}
		var words []string
		for _, k := range d.concepts {
			d.synonym[k] = r.IntN(c.Synonyms)
			words = append(words, word(k, d.synonym[k]))
		}
		for range c.DocFill {
			words = append(words, fmt.Sprintf("f%d", r.IntN(c.Fillers)))
		}
		r.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
		d.text = strings.Join(words, " ")
		return d
	}
	query := func(d doc) (string, []int) {
		picked := append([]int(nil), d.concepts...)
		r.Shuffle(len(picked), func(i, j int) { picked[i], picked[j] = picked[j], picked[i] })
		picked = picked[:c.QueryConcepts]
		var words []string
		for _, k := range picked {
			s := d.synonym[k]
			if c.Synonyms > 1 && r.Float64() >= c.SameSynonym {
				s = (s + 1 + r.IntN(c.Synonyms-1)) % c.Synonyms // another synonym
			}
			words = append(words, word(k, s))
		}
		for range c.QueryFill {
			words = append(words, fmt.Sprintf("f%d", r.IntN(c.Fillers)))
		}
		r.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
		return strings.Join(words, " "), picked
	}
	docs := make([]doc, c.Corpus)
	ds := &beir.Dataset{Name: fmt.Sprintf("synth(seed=%d)", c.Seed), Qrels: map[string]map[string]int{}}
	for i := range docs {
		docs[i] = newDoc()
		ds.Corpus = append(ds.Corpus, beir.Doc{ID: fmt.Sprintf("d%d", i), Text: docs[i].text})
	}
	for qi, di := range r.Perm(c.Corpus)[:c.Queries] {
		text, concepts := query(docs[di])
		qid := fmt.Sprintf("q%d", qi)
		ds.Queries = append(ds.Queries, beir.Query{ID: qid, Text: text})
		rel := map[string]int{}
		for j, d := range docs {
			held := 0
			for _, k := range concepts {
				if _, ok := d.synonym[k]; ok {
					held++
				}
			}
			// Grade: all of the query's concepts 2, all but one 1 (when the
			// query has more than one); the source document always 2.
			switch {
			case held == len(concepts):
				rel[fmt.Sprintf("d%d", j)] = 2
			case held == len(concepts)-1 && held > 0:
				rel[fmt.Sprintf("d%d", j)] = 1
			}
		}
		ds.Qrels[qid] = rel
	}
	t.Eval = ds
	for range c.TrainPairs {
		d := newDoc()
		q, _ := query(d)
		t.Train = append(t.Train, Pair{Query: q, Doc: d.text})
	}
	return t, nil
}
