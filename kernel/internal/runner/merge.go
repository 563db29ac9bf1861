package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gorepro/gorepro/lib/ipynb"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gorepro/gorepro/lib/notebook"
)

// Merged is what Collect gathered from executed notebooks and logs: the runs
// and everything about the inputs a reader should know.
type Merged struct {
	Outcomes []Outcome
	// Problems are inputs that could not be read: a missing path, a file that
	// is not a notebook, a malformed RESULT line, a named file without one.
	Problems []string
	// Duplicates are the same run found again (an identical RESULT with the
	// same parameters, e.g. an executed notebook and its log): kept once.
	Duplicates []string
	// Conflicts are runs of the same notebook with the same parameters,
	// backend and profile whose claims or findings differ.
	Conflicts []string
	// Skipped are notebooks in the directories that were never executed.
	Skipped []string
}

// maxResultFile bounds the text files Collect reads whole.
const maxResultFile = 512 << 20

// resultFileExt are the text files Collect reads in directories; a file named
// on the command line is read whatever its name.
var resultFileExt = map[string]bool{".log": true, ".txt": true, ".out": true}

// Collect reads executed notebooks (*.ipynb: the last RESULT line, the first
// error, the figures, papermill's record of the parameters and duration) and
// text files with `RESULT {json}` lines (every one counts, wherever it starts
// on its line; parameters from a <name>.params.json beside the file, which
// `gorepro run` writes) from files and directories (recursively; hidden
// directories such as .ipynb_checkpoints are skipped). A file it cannot use
// is a Problem, never an error: Collect fails only when no input exists.
func Collect(paths []string) (*Merged, error) {
	m := &Merged{}
	c := collector{Merged: m, seen: map[string]string{}}
	found := false
	for _, path := range paths {
		info, err := os.Stat(path)
		if err != nil {
			m.Problems = append(m.Problems, fmt.Sprintf("%s: %v", path, unwrapPathError(err)))
			continue
		}
		found = true
		if !info.IsDir() {
			c.file(path, true)
			continue
		}
		walkErr := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				m.Problems = append(m.Problems, fmt.Sprintf("%s: %v", p, unwrapPathError(err)))
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if p != path && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if filepath.Ext(p) == ".ipynb" || resultFileExt[filepath.Ext(p)] {
				c.file(p, false)
			}
			return nil
		})
		if walkErr != nil {
			m.Problems = append(m.Problems, fmt.Sprintf("%s: %v", path, walkErr))
		}
	}
	if !found {
		return m, fmt.Errorf("none of %s exists", strings.Join(paths, ", "))
	}
	sort.SliceStable(m.Outcomes, func(i, j int) bool {
		a, b := m.Outcomes[i], m.Outcomes[j]
		if na, nb := filepath.Base(a.Notebook), filepath.Base(b.Notebook); na != nb {
			return na < nb
		}
		if pa, pb := paramsKey(a.Params), paramsKey(b.Params); pa != pb {
			return pa < pb
		}
		return a.Executed < b.Executed
	})
	nameSweepRuns(m.Outcomes)
	m.Conflicts = conflicts(m.Outcomes)
	return m, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type collector struct {
	*Merged
	// seen maps a run's identity (RESULT and parameters) to the file it was
	// first found in.
	seen map[string]string
}

// add keeps an outcome unless the same run was found before.
func (c *collector) add(o Outcome, known bool) {
	if o.Result != nil {
		result, _ := json.Marshal(o.Result)
		key := string(result) + "\x00" + paramsKey(o.Params)
		if !known {
			key += "\x00unknown parameters"
		}
		if first, ok := c.seen[key]; ok {
			c.Duplicates = append(c.Duplicates, fmt.Sprintf("%s repeats the run in %s", o.Executed, first))
			return
		}
		c.seen[key] = o.Executed
	}
	c.Outcomes = append(c.Outcomes, o)
}

func (c *collector) file(path string, named bool) {
	if filepath.Ext(path) == ".ipynb" {
		c.notebook(path)
		return
	}
	info, err := os.Stat(path)
	if err == nil && info.Size() > maxResultFile {
		err = fmt.Errorf("%d MiB is more than the %d MiB read for RESULT lines", info.Size()>>20, maxResultFile>>20)
	}
	var data []byte
	if err == nil {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		c.Problems = append(c.Problems, fmt.Sprintf("%s: %v", path, unwrapPathError(err)))
		return
	}
	var results []*notebook.Result
	for i, line := range strings.Split(string(data), "\n") {
		line = ipynb.StripANSI(line)
		at := strings.Index(line, notebook.ResultPrefix+"{")
		if at < 0 {
			continue
		}
		r, err := notebook.ParseResult(line[at:])
		if err != nil {
			c.Problems = append(c.Problems, fmt.Sprintf("%s:%d: %v", path, i+1, err))
			continue
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		if named {
			c.Problems = append(c.Problems, fmt.Sprintf("%s: %v", path, notebook.ErrNoResult))
		}
		return
	}
	params, known := sideParams(path)
	for _, r := range results {
		o := Outcome{Notebook: ensureExt(r.Notebook), Executed: path, LogFile: path, Result: r}
		if len(results) == 1 {
			o.Params = params
		} else {
			known = false
		}
		o.Err = r.Failure()
		c.add(o, known)
	}
}

func (c *collector) notebook(path string) {
	nb, err := ipynb.Read(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("%s: %v", path, pe.Err)
		}
		c.Problems = append(c.Problems, err.Error())
		return
	}
	record, _ := nb.Metadata["papermill"].(map[string]any)
	if record == nil && !hasOutputs(nb) {
		c.Skipped = append(c.Skipped, path+" (never executed)")
		return
	}
	o := Outcome{Notebook: path, Executed: path}
	if input, ok := record["input_path"].(string); ok && input != "" {
		o.Notebook = input
	}
	if d, ok := record["duration"].(float64); ok {
		o.WallSeconds = d
	}
	params, known := record["parameters"].(map[string]any)
	o.Params = paramsFromJSON(params)
	var parseErr error
	o.Result, o.Err, parseErr = verdict(nb)
	if o.Err == "" && parseErr != nil {
		o.Err = parseErr.Error()
	}
	if o.Result != nil && record == nil {
		o.Notebook = ensureExt(o.Result.Notebook)
	}
	o.Figures = nb.Figures() // SVG text until WriteMergedReport writes the files
	c.add(o, known)
}

func hasOutputs(nb *ipynb.Notebook) bool {
	for _, c := range nb.Cells {
		if len(c.Outputs) > 0 {
			return true
		}
	}
	return false
}

func ensureExt(name string) string {
	if strings.HasSuffix(name, ".ipynb") {
		return name
	}
	return name + ".ipynb"
}

// sideParams reads the parameters `gorepro run` wrote beside a log:
// x.log → x.params.json.
func sideParams(path string) ([]Param, bool) {
	data, err := os.ReadFile(strings.TrimSuffix(path, filepath.Ext(path)) + ".params.json")
	if err != nil {
		return nil, false
	}
	var values map[string]any
	if err := json.Unmarshal(data, &values); err != nil {
		return nil, false
	}
	return paramsFromJSON(values), true
}

// paramsFromJSON turns recorded parameter values into Params sorted by name:
// strings as they are, anything else as JSON ("7", "[64,128]").
func paramsFromJSON(values map[string]any) []Param {
	var out []Param
	for name, v := range values {
		text, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			text = string(b)
		}
		out = append(out, Param{Name: name, Value: text})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func paramsKey(params []Param) string {
	sorted := append([]Param{}, params...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b strings.Builder
	for _, p := range sorted {
		fmt.Fprintf(&b, "%q=%q;", p.Name, p.Value)
	}
	return b.String()
}

// nameSweepRuns sets Run where a notebook has several runs: the values of the
// parameters that differ between them.
func nameSweepRuns(outcomes []Outcome) {
	byNotebook := map[string][]int{}
	for i, o := range outcomes {
		byNotebook[filepath.Base(o.Notebook)] = append(byNotebook[filepath.Base(o.Notebook)], i)
	}
	for _, idx := range byNotebook {
		if len(idx) < 2 {
			continue
		}
		valuesOf := map[string]map[string]bool{}
		for _, i := range idx {
			given := map[string]string{}
			for _, p := range outcomes[i].Params {
				given[p.Name] = p.Value
			}
			for _, j := range idx {
				for _, p := range outcomes[j].Params {
					if valuesOf[p.Name] == nil {
						valuesOf[p.Name] = map[string]bool{}
					}
					v, ok := given[p.Name]
					if !ok {
						v = "\x00absent"
					}
					valuesOf[p.Name][v] = true
				}
			}
		}
		var swept []string
		for name, vs := range valuesOf {
			if len(vs) > 1 {
				swept = append(swept, name)
			}
		}
		sort.Strings(swept)
		for _, i := range idx {
			outcomes[i].Run = describeRun(outcomes[i].Params, swept)
		}
	}
}

// conflicts finds runs with the same notebook, known parameters, backend and
// profile whose claims or findings differ (their seconds may).
func conflicts(outcomes []Outcome) []string {
	type firstRun struct {
		source, numbers string
	}
	first := map[string]firstRun{}
	var out []string
	for _, o := range outcomes {
		if o.Result == nil || o.Params == nil {
			continue
		}
		key := fmt.Sprintf("%s\x00%s\x00%s\x00%s", filepath.Base(o.Notebook), paramsKey(o.Params), o.Result.Backend, o.Result.Profile)
		numbers, _ := json.Marshal([]any{o.Result.Claims, o.Result.Findings})
		f, ok := first[key]
		if !ok {
			first[key] = firstRun{o.Executed, string(numbers)}
			continue
		}
		if f.numbers != string(numbers) {
			what := filepath.Base(o.Notebook)
			if p := describeRun(o.Params, paramNames(o.Params)); p != "" {
				what += " [" + p + "]"
			}
			out = append(out, fmt.Sprintf("%s on %s: %s and %s report different claims or findings for the same parameters",
				what, o.Result.Backend, f.source, o.Executed))
		}
	}
	return out
}

func paramNames(params []Param) []string {
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.Name
	}
	return names
}

// WriteMergedReport writes the merged report to mdPath (Markdown) and the
// HTML beside it (x.md → x.html), the figures of executed notebooks into
// <x>-figures/, and returns the HTML path.
func WriteMergedReport(mdPath string, m *Merged) (string, error) {
	outDir := filepath.Dir(mdPath)
	stem := strings.TrimSuffix(filepath.Base(mdPath), filepath.Ext(mdPath))
	figDir := stem + "-figures"
	outcomes := make([]Outcome, len(m.Outcomes))
	names := uniqueNames{}
	for i, o := range m.Outcomes {
		svgs := o.Figures
		o.Figures = nil
		if len(svgs) > 0 {
			if err := os.MkdirAll(filepath.Join(outDir, figDir), 0o755); err != nil {
				return "", err
			}
			name := strings.TrimSuffix(filepath.Base(o.Notebook), ".ipynb")
			if o.Run != "" {
				name += "-" + fileSlug(o.Run)
			}
			o.Figures = writeFigures(outDir, filepath.Join(figDir, names.take(name)), svgs)
		}
		outcomes[i] = o
	}
	notes := mergeNotes(m)
	if err := os.WriteFile(mdPath, []byte(markdownReport(outDir, outcomes, notes)), 0o644); err != nil {
		return "", err
	}
	htmlPath := filepath.Join(outDir, stem+".html")
	if err := os.WriteFile(htmlPath, []byte(htmlReport(outDir, outcomes, notes)), 0o644); err != nil {
		return "", err
	}
	return htmlPath, nil
}

func mergeNotes(m *Merged) []reportNote {
	return []reportNote{
		{"Conflicts", "Runs of the same notebook with the same parameters, backend and profile that disagree:", m.Conflicts},
		{"Problems", "Inputs that could not be read:", m.Problems},
		{"Duplicates", "The same run found more than once (kept once):", m.Duplicates},
		{"Skipped", "Notebooks that were never executed:", m.Skipped},
	}
}

// Err is non-nil when a run failed or an input could not be read.
func (m *Merged) Err(report string) error {
	failed := 0
	for _, o := range m.Outcomes {
		if o.Err != "" {
			failed++
		}
	}
	var parts []string
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d runs failed", failed, len(m.Outcomes)))
	}
	if len(m.Problems) > 0 {
		parts = append(parts, plural(len(m.Problems), "input", "inputs")+" could not be read")
	}
	if len(m.Conflicts) > 0 {
		parts = append(parts, plural(len(m.Conflicts), "conflict", "conflicts"))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%s; report: %s", strings.Join(parts, ", "), report)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
