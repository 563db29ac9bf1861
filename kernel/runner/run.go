// Package runner executes notebooks headless and reports their results.
//
// Each notebook runs through papermill (with the Go parameter translator of
// python/gorepro_papermill) on the gorepro kernel. Parameters given on the
// command line are checked against the notebook's cell tagged `parameters`
// before anything runs: an undeclared name or a value of the wrong type is one
// clear error. After the run the runner reads the executed notebook: the first
// error cell, the last `RESULT {json}` line (the notebook contract), and the
// figures; it writes build/report.md and build/report.html.
package runner

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorepro/gorepro/kernel/install"
	"github.com/gorepro/gorepro/kernel/plugin"
	"github.com/gorepro/gorepro/kernel/project"
	"github.com/gorepro/gorepro/lib/backends"
	paramsplugin "github.com/gorepro/gorepro/plugins/params"
)

// Options configures a run.
type Options struct {
	// Params are set in every notebook (each must declare them).
	Params []Param
	// Backend, if set, is passed as the notebook's `backend` parameter.
	Backend string
	// OutDir receives the executed notebooks, logs, figures and the report.
	OutDir string
	// CellTimeout is papermill's per-cell timeout in seconds (0: none).
	CellTimeout int
	// Kernel is the kernelspec name (default "gorepro").
	Kernel string
	// Log receives progress lines (cell output as it happens).
	Log io.Writer
}

// Outcome is what one notebook run produced.
type Outcome struct {
	// Notebook is the input path, Executed the executed copy.
	Notebook string `json:"notebook"`
	Executed string `json:"executed"`
	// Result is the notebook's RESULT line, if it printed one.
	Result *Result `json:"result,omitempty"`
	// Err says why the notebook failed (error cell, failed claim, no RESULT line).
	Err string `json:"error,omitempty"`
	// WallSeconds is the time papermill took, kernel start included.
	WallSeconds float64 `json:"wall_seconds"`
	// Figures are the SVG files written from the notebook's figures.
	Figures []string `json:"figures,omitempty"`
	// LogFile has papermill's full output.
	LogFile string `json:"log"`
}

// Summary is the outcome of every notebook of a run.
type Summary struct {
	Outcomes []Outcome
	Report   string
}

// Err is non-nil when a notebook failed.
func (s *Summary) Err() error {
	var failed []string
	for _, o := range s.Outcomes {
		if o.Err != "" {
			failed = append(failed, filepath.Base(o.Notebook))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d notebooks failed (%s); report: %s", len(failed), len(s.Outcomes), strings.Join(failed, ", "), s.Report)
	}
	return nil
}

// Run executes the notebooks in order and writes the report. It returns an
// error only for problems that stop the whole run (bad arguments, missing
// setup); a notebook's own failure is in its Outcome.
func Run(p *project.Project, notebooks []string, opts Options) (*Summary, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
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
	// Check every notebook and its parameters before running any.
	type job struct {
		path   string
		params map[string]any
	}
	var jobs []job
	for _, path := range notebooks {
		nb, err := ReadNotebook(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("notebook %s not found", path)
			}
			return nil, err
		}
		params := opts.Params
		if opts.Backend != "" {
			params = append(append([]Param{}, params...), Param{Name: "backend", Value: opts.Backend})
		}
		values, err := nb.CheckParams(params)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		jobs = append(jobs, job{path, values})
	}
	for _, dir := range []string{opts.OutDir, filepath.Join(opts.OutDir, "logs"), filepath.Join(opts.OutDir, "figures")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	s := &Summary{}
	for _, j := range jobs {
		o := runOne(p, j.path, j.params, opts)
		status := "ok"
		if o.Err != "" {
			status = "FAILED: " + o.Err
		}
		fmt.Fprintf(opts.Log, "gorepro run: %s: %s (%.1fs)\n", filepath.Base(j.path), status, o.WallSeconds)
		s.Outcomes = append(s.Outcomes, o)
	}
	report, err := WriteReport(opts.OutDir, s.Outcomes)
	if err != nil {
		return s, fmt.Errorf("writing the report: %w", err)
	}
	s.Report = report
	fmt.Fprintf(opts.Log, "gorepro run: report: %s\n", report)
	return s, nil
}

// CheckParams validates params against the notebook's parameters cell and
// converts them to the declared types. The cell is Go `var` declarations, or
// a `%%params` plugin cell, whose allowed values are checked too.
func (nb *Notebook) CheckParams(params []Param) (map[string]any, error) {
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
		return checkPluginParams(cell.Body, params)
	}
	declared, err := ParseParameters(src)
	if err != nil {
		return nil, err
	}
	return Convert(params, declared)
}

// checkPluginParams is CheckParams for a `%%params` parameters cell: the
// declarations come from the plugin's parser, and values are also checked
// against their allowed sets and ranges, as the notebook would check them.
func checkPluginParams(body string, params []Param) (map[string]any, error) {
	decls, err := paramsplugin.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("parameters cell (%%%%params): %w", err)
	}
	declared := make([]Declared, len(decls))
	byName := map[string]paramsplugin.Declaration{}
	for i, d := range decls {
		declared[i] = Declared{Name: d.Name, Type: d.Type, Default: d.Default}
		byName[d.Name] = d
	}
	values, err := Convert(params, declared)
	if err != nil {
		return nil, err
	}
	for _, p := range params {
		if err := byName[p.Name].Check(p.Value); err != nil {
			return nil, err
		}
	}
	return values, nil
}

func runOne(p *project.Project, path string, params map[string]any, opts Options) Outcome {
	base := strings.TrimSuffix(filepath.Base(path), ".ipynb")
	o := Outcome{
		Notebook: path,
		Executed: filepath.Join(opts.OutDir, base+".ipynb"),
		LogFile:  filepath.Join(opts.OutDir, "logs", base+".log"),
	}
	paramFile := filepath.Join(opts.OutDir, "logs", base+".params.json")
	data, err := json.Marshal(params)
	if err != nil {
		o.Err = fmt.Sprintf("writing the parameters for papermill: %v", err)
		return o
	}
	if err := os.WriteFile(paramFile, data, 0o644); err != nil {
		o.Err = fmt.Sprintf("writing the parameters for papermill: %v", err)
		return o
	}
	absIn, _ := filepath.Abs(path)
	args := []string{absIn, o.Executed, "-f", paramFile, "-k", opts.Kernel,
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
		relayCellOutput(pr, logFile, opts.Log, base)
	}()
	start := time.Now()
	runErr := cmd.Run()
	pw.Close()
	wg.Wait()
	o.WallSeconds = time.Since(start).Seconds()

	nb, readErr := ReadNotebook(o.Executed)
	switch {
	case readErr != nil && runErr != nil:
		o.Err = fmt.Sprintf("papermill failed before writing the notebook (%v); see %s", runErr, o.LogFile)
		return o
	case readErr != nil:
		o.Err = fmt.Sprintf("reading the executed notebook: %v", readErr)
		return o
	}
	o.Figures = writeFigures(opts.OutDir, base, nb.Figures())
	o.Result, err = ParseResult(nb.Text())
	if failed := o.Result.FailedClaims(); len(failed) > 0 {
		o.Err = "claims do not hold: " + strings.Join(failed, "; ")
		return o
	}
	if cellErr := nb.FirstError(); cellErr != nil {
		o.Err = cellErr.Error()
		return o
	}
	if runErr != nil {
		o.Err = fmt.Sprintf("papermill: %v; see %s", runErr, o.LogFile)
		return o
	}
	if err != nil {
		o.Err = err.Error()
	}
	return o
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
	fmt.Fprintf(show, "  [%s] %s\n", name, StripANSI(line))
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

func writeFigures(outDir, base string, figs []string) []string {
	var paths []string
	for i, svg := range figs {
		rel := filepath.Join("figures", fmt.Sprintf("%s-%d.svg", base, i+1))
		if err := os.WriteFile(filepath.Join(outDir, rel), []byte(svg), 0o644); err == nil {
			paths = append(paths, rel)
		}
	}
	return paths
}
