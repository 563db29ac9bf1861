// Package runner executes notebooks headless and reports their results.
//
// Each notebook runs through papermill (with the Go parameter translator of
// python/gorepro_papermill) on the gorepro kernel. Parameters given on the
// command line are checked against the notebook's cell tagged `parameters`
// before anything runs: an undeclared name or a value of the wrong type is one
// clear error. After the run the runner reads the executed notebook: the first
// error cell, the last `RESULT {json}` line (the notebook contract), and the
// figures; it writes build/report.md and build/report.html.
//
// A parameter given several values (`-p seed=1,2,3`) makes a sweep: one run
// per combination of values, each with its own kernel and its own executed
// notebook under build/runs/<notebook>/, at most Options.Jobs at a time, all
// in one report. Collect and WriteMergedReport do the same for runs gathered
// from elsewhere (`gorepro report`): executed notebooks and RESULT lines.
package runner

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gorepro/gorepro/lib/ipynb"
	"github.com/gorepro/gorepro/lib/notebook"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorepro/gorepro/kernel/internal/install"
	"github.com/gorepro/gorepro/kernel/internal/project"
	"github.com/gorepro/gorepro/kernel/plugin"
	"github.com/gorepro/gorepro/lib/backends"
	grammar "github.com/gorepro/gorepro/lib/params"
)

// Options configures a run.
type Options struct {
	// Params are set in every notebook (each must declare them); a parameter
	// with several values makes a sweep: one run per combination (see Grid).
	Params []ParamValues
	// Backend, if set, is passed as the notebook's `backend` parameter.
	Backend string
	// OutDir receives the executed notebooks, logs, figures and the report.
	OutDir string
	// CellTimeout is papermill's per-cell timeout in seconds (0: none).
	CellTimeout int
	// Kernel is the kernelspec name (default "gorepro").
	Kernel string
	// Jobs is how many notebooks run at once, each in its own kernel
	// (0 or 1: one after the other).
	Jobs int
	// Log receives progress lines (cell output as it happens).
	Log io.Writer
}

// Outcome is what one notebook run produced.
type Outcome struct {
	// Notebook is the input path, Executed the executed copy.
	Notebook string `json:"notebook"`
	Executed string `json:"executed"`
	// Run names the run among a sweep's runs of the same notebook by the
	// swept parameters' values ("seed=1"); empty outside a sweep.
	Run string `json:"run,omitempty"`
	// Params are the parameters the run was given (values as text).
	Params []Param `json:"params,omitempty"`
	// Result is the notebook's RESULT line, if it printed one.
	Result *notebook.Result `json:"result,omitempty"`
	// Err says why the notebook failed (error cell, failed claim, no RESULT line).
	Err string `json:"error,omitempty"`
	// WallSeconds is the time papermill took, kernel start included (0: unknown).
	WallSeconds float64 `json:"wall_seconds"`
	// Figures are the SVG files written from the notebook's figures.
	Figures []string `json:"figures,omitempty"`
	// LogFile has papermill's full output.
	LogFile string `json:"log"`
}

// label names the outcome in messages: "00_tour.ipynb", or
// "00_tour.ipynb [seed=1]" in a sweep.
func (o Outcome) label() string {
	if o.Run != "" {
		return filepath.Base(o.Notebook) + " [" + o.Run + "]"
	}
	return filepath.Base(o.Notebook)
}

// Summary is the outcome of every notebook of a run.
type Summary struct {
	Outcomes []Outcome
	Report   string
}

// Err is non-nil when a notebook failed.
func (s *Summary) Err() error {
	var failed []string
	what := "notebooks"
	for _, o := range s.Outcomes {
		if o.Run != "" {
			what = "runs"
		}
		if o.Err != "" {
			failed = append(failed, o.label())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d %s failed (%s); report: %s", len(failed), len(s.Outcomes), what, strings.Join(failed, ", "), s.Report)
	}
	return nil
}

// plannedRun is one notebook with one set of parameters, and where its
// files go.
type plannedRun struct {
	notebook string
	// name prefixes its output lines: "00_tour", "00_tour seed=1".
	name string
	// run is Outcome.Run; params the parameters as given, values converted.
	run    string
	params []Param
	values map[string]any
	// executed, logFile and paramFile are paths; figures is the figures'
	// path prefix relative to the output directory.
	executed, logFile, paramFile, figures string
}

// Run executes the notebooks, every combination of the parameters' values
// for each (at most opts.Jobs at a time), and writes one report of all runs.
// It returns an error only for problems that stop the whole run (bad
// arguments, missing setup), found before any notebook starts; a run's own
// failure is in its Outcome and does not stop the others.
func Run(p *project.Project, notebooks []string, opts Options) (*Summary, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	opts.Log = &lockedWriter{w: opts.Log}
	if opts.Kernel == "" {
		opts.Kernel = install.KernelName
	}
	if opts.Backend != "" {
		if _, err := backends.Resolve(opts.Backend); err != nil {
			return nil, err
		}
	}
	if err := p.NeedVenv("papermill"); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(p.JupyterData(), "kernels", opts.Kernel, "kernel.json")); err != nil {
		return nil, fmt.Errorf("kernelspec %q is not installed in %s: run `make setup`", opts.Kernel, p.JupyterData())
	}
	runs, err := planRuns(notebooks, opts)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		for _, path := range []string{r.executed, r.logFile, filepath.Join(opts.OutDir, r.figures)} {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, err
			}
		}
	}
	jobs := max(opts.Jobs, 1)
	if len(runs) > 1 {
		fmt.Fprintf(opts.Log, "gorepro run: %d runs, %d at a time\n", len(runs), min(jobs, len(runs)))
	}
	s := &Summary{Outcomes: execute(runs, jobs, func(r plannedRun) Outcome {
		o := runOne(p, r, opts)
		status := "ok"
		if o.Err != "" {
			status = "FAILED: " + o.Err
		}
		fmt.Fprintf(opts.Log, "gorepro run: %s: %s (%.1fs)\n", o.label(), status, o.WallSeconds)
		return o
	})}
	report, err := WriteReport(opts.OutDir, s.Outcomes)
	if err != nil {
		return s, fmt.Errorf("writing the report: %w", err)
	}
	s.Report = report
	fmt.Fprintf(opts.Log, "gorepro run: report: %s\n", report)
	return s, nil
}

// execute runs every planned run, at most jobs at a time, and returns the
// outcomes in the runs' order whatever order they finish in.
func execute(runs []plannedRun, jobs int, runOne func(plannedRun) Outcome) []Outcome {
	outcomes := make([]Outcome, len(runs))
	slots := make(chan struct{}, max(jobs, 1))
	var wg sync.WaitGroup
	for i, r := range runs {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			outcomes[i] = runOne(r)
		}()
	}
	wg.Wait()
	return outcomes
}

// planRuns checks every notebook and every parameter value before anything
// runs, and decides where each run's files go: build/<notebook>.ipynb (logs/,
// figures/) for a single run of a notebook, build/runs/<notebook>/<values>.ipynb
// (.log, .params.json and figures beside it) for each run of a sweep.
func planRuns(notebooks []string, opts Options) ([]plannedRun, error) {
	params := opts.Params
	if opts.Backend != "" {
		params = append(append([]ParamValues{}, params...), ParamValues{Name: "backend", Values: []string{opts.Backend}})
	}
	if err := checkBackendValues(params); err != nil {
		return nil, err
	}
	grid, swept := Grid(params), Swept(params)
	names := uniqueNames{}
	var runs []plannedRun
	for _, path := range notebooks {
		nb, err := ipynb.Read(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("notebook %s not found", path)
			}
			return nil, err
		}
		if err := checkEachValue(nb, params); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		base := names.take(strings.TrimSuffix(filepath.Base(path), ".ipynb"))
		slugs := uniqueNames{}
		for _, point := range grid {
			values, err := CheckParams(nb, point)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			r := plannedRun{notebook: path, name: base, params: point, values: values,
				executed:  filepath.Join(opts.OutDir, base+".ipynb"),
				logFile:   filepath.Join(opts.OutDir, "logs", base+".log"),
				paramFile: filepath.Join(opts.OutDir, "logs", base+".params.json"),
				figures:   filepath.Join("figures", base)}
			if len(swept) > 0 {
				r.run = describeRun(point, swept)
				r.name = base + " " + r.run
				stem := filepath.Join(opts.OutDir, "runs", base, slugs.take(fileSlug(r.run)))
				r.executed, r.logFile, r.paramFile = stem+".ipynb", stem+".log", stem+".params.json"
				r.figures, _ = filepath.Rel(opts.OutDir, stem)
			}
			runs = append(runs, r)
		}
	}
	return runs, nil
}

// sweepHint follows an error about one of several values of a -p flag.
const sweepHint = " (a comma in -p separates a sweep's values: write \\, for a comma inside a value)"

// checkEachValue checks each value of each parameter on its own, so that an
// error names the value at fault.
func checkEachValue(nb *ipynb.Notebook, params []ParamValues) error {
	for _, p := range params {
		for _, v := range p.Values {
			if _, err := CheckParams(nb, []Param{{Name: p.Name, Value: v}}); err != nil {
				if len(p.Values) > 1 {
					return fmt.Errorf("%w%s", err, sweepHint)
				}
				return err
			}
		}
	}
	return nil
}

// checkBackendValues resolves each value given to the `backend` parameter,
// as --backend is: a backend that is unknown or not installed stops the run
// before it starts.
func checkBackendValues(params []ParamValues) error {
	for _, p := range params {
		if p.Name != "backend" {
			continue
		}
		for _, v := range p.Values {
			if strings.TrimSpace(v) == "" {
				continue
			}
			if _, err := backends.Resolve(v); err != nil {
				if len(p.Values) > 1 {
					return fmt.Errorf("parameter backend: %w%s", err, sweepHint)
				}
				return fmt.Errorf("parameter backend: %w", err)
			}
		}
	}
	return nil
}

// Param is a name=value pair from the command line, value still text.
type Param struct {
	Name  string
	Value string
}

// lockedWriter keeps the lines of runs that print at the same time whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// CheckParams validates params against the notebook's parameters cell and
// converts them to the declared types. The cell is Go `var` declarations, or
// a `%%params` plugin cell, whose allowed values are checked too.
func CheckParams(nb *ipynb.Notebook, params []Param) (map[string]any, error) {
	var src string
	found := false
	for _, c := range nb.Cells {
		if c.CellType == "code" && c.HasTag("parameters") {
			src, found = string(c.Source), true
			break
		}
	}
	if !found {
		if len(params) == 0 {
			return map[string]any{}, nil
		}
		return nil, fmt.Errorf("the notebook has no cell tagged `parameters`, so -p %s cannot be set", params[0].Name)
	}
	if cell, ok, err := plugin.ParseCell(src); ok && cell.Name == "params" {
		if err != nil {
			return nil, fmt.Errorf("parameters cell: %w", err)
		}
		declared, err := grammar.Parse(cell.Body)
		if err != nil {
			return nil, fmt.Errorf("parameters cell (%%%%params): %w", err)
		}
		return convertParams(params, declared, true)
	}
	declared, err := grammar.ParseVars(src)
	if err != nil {
		return nil, err
	}
	return convertParams(params, declared, false)
}

// convertParams converts each command-line value to its declared type and,
// with checkAllowed (a %%params cell), checks it against its allowed values
// as the notebook would: every type first, then the allowed values.
func convertParams(params []Param, declared []grammar.Declaration, checkAllowed bool) (map[string]any, error) {
	values := map[string]any{}
	for _, p := range params {
		d, err := grammar.Lookup(declared, p.Name)
		if err != nil {
			return nil, err
		}
		if values[p.Name], err = d.Convert(p.Value); err != nil {
			return nil, err
		}
	}
	if checkAllowed {
		for _, p := range params {
			d, _ := grammar.Lookup(declared, p.Name)
			if err := d.Check(p.Value); err != nil {
				return nil, err
			}
		}
	}
	return values, nil
}

func runOne(p *project.Project, r plannedRun, opts Options) Outcome {
	o := Outcome{Notebook: r.notebook, Executed: r.executed, Run: r.run, Params: r.params, LogFile: r.logFile}
	data, err := json.Marshal(r.values)
	if err != nil {
		o.Err = fmt.Sprintf("writing the parameters for papermill: %v", err)
		return o
	}
	if err := os.WriteFile(r.paramFile, data, 0o644); err != nil {
		o.Err = fmt.Sprintf("writing the parameters for papermill: %v", err)
		return o
	}
	absIn, _ := filepath.Abs(r.notebook)
	args := []string{absIn, o.Executed, "-f", r.paramFile, "-k", opts.Kernel,
		"--cwd", filepath.Dir(absIn), "--log-output", "--no-progress-bar"}
	if opts.CellTimeout > 0 {
		args = append(args, "--execution-timeout", strconv.Itoa(opts.CellTimeout))
	}
	logFile, err := os.Create(o.LogFile)
	if err != nil {
		o.Err = err.Error()
		return o
	}
	defer logFile.Close()
	cmd := exec.Command(p.Bin("papermill"), args...)
	cmd.Env = p.Env()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		relayCellOutput(pr, logFile, opts.Log, r.name)
	}()
	start := time.Now()
	runErr := cmd.Run()
	pw.Close()
	wg.Wait()
	o.WallSeconds = time.Since(start).Seconds()

	nb, readErr := ipynb.Read(o.Executed)
	switch {
	case readErr != nil && runErr != nil:
		o.Err = fmt.Sprintf("papermill failed before writing the notebook (%v); see %s", runErr, o.LogFile)
		return o
	case readErr != nil:
		o.Err = fmt.Sprintf("reading the executed notebook: %v", readErr)
		return o
	}
	o.Figures = writeFigures(opts.OutDir, r.figures, nb.Figures())
	var parseErr error
	o.Result, o.Err, parseErr = verdict(nb)
	switch {
	case runErr != nil && opts.CellTimeout > 0 && logMentions(o.LogFile, "CellTimeoutError"):
		// A timed-out cell gets no error output and papermill marks it
		// completed: say what happened rather than "exit status 1".
		o.Err = fmt.Sprintf("a cell ran longer than --timeout %d s and was stopped (papermill's CellTimeoutError); see %s", opts.CellTimeout, o.LogFile)
	case o.Err != "":
	case runErr != nil:
		o.Err = fmt.Sprintf("papermill: %v; see %s", runErr, o.LogFile)
	case parseErr != nil:
		o.Err = parseErr.Error()
	}
	return o
}

// verdict reads an executed notebook's RESULT line and says why it failed:
// a claim that does not hold, else the first error cell. A missing or
// malformed RESULT line is parseErr, which callers rank after their own
// reasons (papermill's exit status).
func verdict(nb *ipynb.Notebook) (r *notebook.Result, failure string, parseErr error) {
	r, parseErr = notebook.ParseResult(nb.Text())
	if failure := r.Failure(); failure != "" {
		return r, failure, parseErr
	}
	if cellErr := nb.FirstError(); cellErr != nil {
		return r, cellErr.Error(), parseErr
	}
	return r, "", parseErr
}

// maxShownLine is how much of one output line relayCellOutput shows; the log
// file always gets the whole line.
const maxShownLine = 64 << 10

// relayCellOutput copies papermill's output to the log file and shows the
// notebook's own output lines (papermill --log-output) as they come. It reads
// until r ends, whatever the lines' lengths: papermill blocks on a full pipe
// if its output is not drained.
func relayCellOutput(r io.Reader, logFile, show io.Writer, name string) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	truncated := false
	for {
		chunk, err := br.ReadSlice('\n')
		_, _ = logFile.Write(chunk)
		keep := min(max(maxShownLine-len(line), 0), len(chunk))
		line = append(line, chunk[:keep]...)
		truncated = truncated || keep < len(chunk)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) > 0 {
			text := strings.TrimRight(string(line), "\r\n")
			if truncated {
				text += " … (line cut here; the whole line is in the log)"
			}
			showLine(show, name, text)
		}
		line, truncated = line[:0], false
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// Keep draining whatever the reader still gives.
				_, _ = io.Copy(logFile, r)
			}
			return
		}
	}
}

// showLine shows one line of papermill's output unless it is papermill's or
// GoNB's own chatter: papermill logs cell output without a prefix and its own
// lines with one; GoNB logs (klog) and prints a goroutine trace at shutdown.
func showLine(show io.Writer, name, line string) {
	if isKernelNoise(line) || strings.HasPrefix(line, "Input Notebook:") || strings.HasPrefix(line, "Output Notebook:") ||
		strings.HasPrefix(line, "Executing ") || strings.HasPrefix(line, "Ending Cell") ||
		strings.HasPrefix(line, "Black is not installed") || strings.Contains(line, "Passed unknown parameter") ||
		strings.TrimSpace(line) == "" {
		return
	}
	fmt.Fprintf(show, "  [%s] %s\n", name, ipynb.StripANSI(line))
}

var klogLine = regexp.MustCompile(`^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w.]+:\d+\]`)

// isKernelNoise recognises GoNB's own log lines and the goroutine trace it
// prints when it stops gopls at shutdown: kept in the log file, not shown.
func isKernelNoise(line string) bool {
	return klogLine.MatchString(line) || strings.HasPrefix(line, "goroutine ") ||
		strings.HasPrefix(line, "\t/") || strings.HasPrefix(line, "github.com/janpfeifer/gonb/") ||
		strings.HasPrefix(line, "main.runKernel(") || strings.HasPrefix(line, "main.main(") ||
		strings.Contains(line, "gopls failed with: signal: killed")
}

// writeFigures writes the figures as <prefix>-1.svg, … under outDir (prefix
// is relative to it) and returns their paths relative to outDir.
func writeFigures(outDir, prefix string, figs []string) []string {
	var paths []string
	for i, svg := range figs {
		rel := fmt.Sprintf("%s-%d.svg", prefix, i+1)
		if err := os.WriteFile(filepath.Join(outDir, rel), []byte(svg), 0o644); err == nil {
			paths = append(paths, rel)
		}
	}
	return paths
}

// logMentions is whether the log file at path contains s.
func logMentions(path, s string) bool {
	data, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(data), s)
}
