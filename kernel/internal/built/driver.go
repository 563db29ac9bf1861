package built

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gorepro/gorepro/kernel/internal/runner"
	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/ipynb"
	"github.com/gorepro/gorepro/lib/notebook"
)

const usage = `usage: %[1]s [flags]

Runs the notebook %[2]s, compiled by gorepro build: each code cell is a
program in %[1]s.cells/, run in order in one session. No Go is needed.

flags:
  -p name=value        set a notebook parameter (repeatable); the notebook must declare it
  --backend B          run on backend B (go, xla:cpu, xla:cuda, options after commas)
  --profile P          shorthand for -p profile=P
  --out DIR            where the executed notebook, log, figures and report go (default build)
  --timeout SECONDS    stop a cell that runs longer (default none)
  --xla-plugin K=PATH  the PJRT plugin file for K (cpu, cuda or tpu); otherwise it is
                       found as gorepro finds it ($GOREPRO_XLA_CPU_PLUGIN,
                       $GOREPRO_XLA_CUDA_PLUGIN, $PJRT_PLUGIN_LIBRARY_PATH, pip's site-packages, ...)

Exit status: 0 when every cell ran and every claim's status is its record's,
1 when a cell failed or a claim differs, 2 for a wrong command line.
`

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// run is one execution of a built notebook.
type run struct {
	exe, cellsDir string
	manifest      Manifest
	nbPath        string
	params        []runner.Param
	values        map[string]any
	backend       string
	outDir        string
	timeout       time.Duration
	env           []string
	stdout        io.Writer
	stderr        io.Writer
	log           *os.File
}

// Main runs the built notebook whose driver is the executable at exe (its
// cells beside it in exe.cells/) with the command-line arguments args, and
// returns the process's exit status.
func Main(exe string, args []string, stdout, stderr io.Writer) int {
	r, err := parseArgs(exe, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", filepath.Base(exe), err)
		return 2
	}
	failure, err := r.execute()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", filepath.Base(exe), err)
		return 1
	}
	if failure != "" {
		fmt.Fprintf(stderr, "%s: FAILED: %s\n", filepath.Base(exe), failure)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok; report: %s\n", filepath.Base(exe), filepath.Join(r.outDir, "report.md"))
	return 0
}

func parseArgs(exe string, args []string, stdout, stderr io.Writer) (*run, error) {
	r := &run{exe: exe, cellsDir: exe + ".cells", stdout: stdout, stderr: stderr}
	data, err := os.ReadFile(filepath.Join(r.cellsDir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("reading the build's manifest (the .cells directory must stay beside the executable): %w", err)
	}
	if err := json.Unmarshal(data, &r.manifest); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(r.cellsDir, ManifestFile), err)
	}
	fs := flag.NewFlagSet(filepath.Base(exe), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var params, plugins multiFlag
	fs.Var(&params, "p", "")
	fs.Var(&plugins, "xla-plugin", "")
	backendFlag := fs.String("backend", "", "")
	profile := fs.String("profile", "", "")
	fs.StringVar(&r.outDir, "out", "build", "")
	timeout := fs.Int("timeout", 0, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, usage, filepath.Base(exe), r.manifest.Notebook)
			return nil, err
		}
		fmt.Fprintf(stderr, usage, filepath.Base(exe), r.manifest.Notebook)
		return nil, err
	}
	if *timeout < 0 {
		return nil, fmt.Errorf("--timeout %d: want 0 (none) or more seconds", *timeout)
	}
	r.timeout = time.Duration(*timeout) * time.Second
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (a built notebook runs itself: give only flags)", fs.Arg(0))
	}
	r.nbPath = filepath.Join(r.cellsDir, NotebookFile)
	nb, err := ipynb.Read(r.nbPath)
	if err != nil {
		return nil, err
	}
	if r.params, err = paramFlags(params, *backendFlag, *profile); err != nil {
		return nil, err
	}
	if r.env, err = pluginEnv(os.Environ(), plugins); err != nil {
		return nil, err
	}
	for _, p := range r.params {
		if p.Name == "backend" && strings.TrimSpace(p.Value) != "" {
			if _, err := backends.Resolve(p.Value); err != nil {
				return nil, fmt.Errorf("parameter backend: %w", err)
			}
			r.backend = p.Value
		}
	}
	if r.values, err = runner.CheckParams(nb, r.params); err != nil {
		return nil, err
	}
	return r, nil
}

// paramFlags are the run's parameters from -p, --backend and --profile,
// values still text, each given once.
func paramFlags(params []string, backend, profile string) ([]runner.Param, error) {
	var out []runner.Param
	for _, kv := range params {
		pv, err := runner.ParseParamFlag(kv)
		if err != nil {
			return nil, err
		}
		if len(pv.Values) != 1 {
			return nil, fmt.Errorf("-p %s: a built notebook runs once: give one value (a sweep is one run per value: run it once per value)", kv)
		}
		if backend != "" && pv.Name == "backend" || profile != "" && pv.Name == "profile" {
			return nil, fmt.Errorf("-p %s and --%s both set %s: give one", kv, pv.Name, pv.Name)
		}
		out = append(out, runner.Param{Name: pv.Name, Value: pv.Values[0]})
	}
	if profile != "" {
		out = append(out, runner.Param{Name: "profile", Value: profile})
	}
	if backend != "" {
		out = append(out, runner.Param{Name: "backend", Value: backend})
	}
	return out, nil
}

// pluginEnv returns env with each --xla-plugin K=PATH set as lib/backends
// reads it ($GOREPRO_XLA_<K>_PLUGIN), in this process too: the backend
// check before the run resolves with them.
func pluginEnv(env, plugins []string) ([]string, error) {
	vars := map[string]string{"cpu": backends.EnvCPUPlugin, "cuda": backends.EnvCUDAPlugin, "tpu": backends.EnvTPUPlugin}
	for _, kp := range plugins {
		kind, path, _ := strings.Cut(kp, "=")
		v := vars[kind]
		if v == "" || path == "" {
			return nil, fmt.Errorf("--xla-plugin %q: want cpu=PATH, cuda=PATH or tpu=PATH", kp)
		}
		abs, err := filepath.Abs(path)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err == nil {
			err = os.Setenv(v, abs)
		}
		if err != nil {
			return nil, fmt.Errorf("--xla-plugin %s: %w", kp, err)
		}
		env = setEnv(env, v, abs)
	}
	return env, nil
}

// setEnv returns env with name set to value.
func setEnv(env []string, name, value string) []string {
	prefix := name + "="
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if !strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return append(out, prefix+value)
}

// execute runs the cells in order, stopping at the first that fails, writes
// the output directory, and returns why the run failed ("" if it did not).
func (r *run) execute() (string, error) {
	logPath, paramsJSON, err := r.openOutputs()
	if err != nil {
		return "", err
	}
	defer r.log.Close()
	session, err := os.MkdirTemp("", "gorepro-built-")
	if err != nil {
		return "", fmt.Errorf("creating the session directory: %w", err)
	}
	defer os.RemoveAll(session)
	env, err := r.cellEnv(session, paramsJSON)
	if err != nil {
		return "", err
	}
	record := newExecuted(r.nbPath, r.values)
	start := time.Now()
	cellErr := ""
	for _, c := range r.manifest.Cells {
		record.start(c.Index)
		if c.Markdown != "" {
			record.display(c.Index, map[string]any{"text/markdown": c.Markdown, "text/plain": c.Markdown})
		}
		for k, v := range c.Env {
			env = setEnv(env, k, v)
		}
		switch c.Kind {
		case KindBackend:
			env = r.backendCell(c, env, record)
		case KindProgram:
			if c.Program == "" {
				continue // only %env settings
			}
			if err := r.runProgram(c, env, record, session); err != nil {
				cellErr = fmt.Sprintf("cell %d: %v", c.Index+1, err)
				record.fail(c.Index, err.Error())
			}
		default:
			return "", fmt.Errorf("manifest: cell %d has unknown kind %q (built by another gorepro?)", c.Index+1, c.Kind)
		}
		if cellErr != "" {
			break
		}
	}
	seconds := time.Since(start).Seconds()
	executedPath := filepath.Join(r.outDir, r.manifest.Notebook+".ipynb")
	if err := record.write(executedPath, r.manifest.Source, seconds); err != nil {
		return "", err
	}
	return r.report(executedPath, logPath, seconds, cellErr)
}

// openOutputs creates the output directory, the log (r.log) and the
// parameters file beside it, as gorepro run lays them out; it returns the
// log's path and the parameters as JSON.
func (r *run) openOutputs() (string, []byte, error) {
	name := r.manifest.Notebook
	for _, dir := range []string{filepath.Join(r.outDir, "logs"), filepath.Join(r.outDir, "figures")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("creating the output directory: %w", err)
		}
	}
	paramsJSON, err := json.Marshal(r.values)
	if err != nil {
		return "", nil, fmt.Errorf("encoding the parameters: %w", err)
	}
	if err := os.WriteFile(filepath.Join(r.outDir, "logs", name+".params.json"), paramsJSON, 0o644); err != nil {
		return "", nil, fmt.Errorf("writing the parameters: %w", err)
	}
	logPath := filepath.Join(r.outDir, "logs", name+".log")
	if r.log, err = os.Create(logPath); err != nil {
		return "", nil, fmt.Errorf("creating the log: %w", err)
	}
	return logPath, paramsJSON, nil
}

// cellEnv is the environment the kernel gives cells, in the private
// directory session: the session directory for notebook.Set/Get, GoNB's
// directories, the parameters, the cache under the output directory (unless
// $GOREPRO_CACHE_DIR says otherwise) and GoMLX's auto-installer off.
func (r *run) cellEnv(session string, paramsJSON []byte) ([]string, error) {
	for _, dir := range []string{"session", "tmp"} {
		if err := os.Mkdir(filepath.Join(session, dir), 0o700); err != nil {
			return nil, fmt.Errorf("creating the session directory: %w", err)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("working directory: %w", err)
	}
	outAbs, err := filepath.Abs(r.outDir)
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	env := setEnv(r.env, notebook.EnvSessionDir, filepath.Join(session, "session"))
	env = setEnv(env, EnvParams, string(paramsJSON))
	env = setEnv(env, "GONB_DIR", wd)
	env = setEnv(env, "GONB_TMP_DIR", filepath.Join(session, "tmp"))
	env = setEnv(env, "GOMLX_NO_AUTO_INSTALL", "1")
	if os.Getenv(notebook.EnvCacheDir) == "" {
		env = setEnv(env, notebook.EnvCacheDir, filepath.Join(outAbs, "cache"))
	}
	return env, nil
}

// backendCell does what %%backend does in the kernel: with a SPEC it sets
// $GOMLX_BACKEND for later cells; without, it shows the backend this run
// resolves to.
func (r *run) backendCell(c Cell, env []string, record *executed) []string {
	if c.Backend != "" {
		env = setEnv(env, backends.EnvBackend, c.Backend)
		record.display(c.Index, map[string]any{"text/plain": "Later cells use backend " + c.Backend})
		return env
	}
	choice := r.backend
	if choice == "" {
		choice = os.Getenv(backends.EnvBackend)
	}
	text := ""
	if spec, err := backends.Resolve(choice); err != nil {
		text = "The backend does not resolve here: " + err.Error()
	} else {
		text = fmt.Sprintf("The current backend is `%s` (chosen by %s).", spec, spec.Source)
		if spec.IsXLA() {
			text += fmt.Sprintf(" PJRT plugin `%s` (%s).", spec.PluginPath, spec.PluginSource)
		}
	}
	fmt.Fprintln(r.stdout, text)
	fmt.Fprintln(r.log, text)
	record.display(c.Index, map[string]any{"text/markdown": text, "text/plain": text})
	return env
}

// runProgram runs one cell program with the display pipes open, its output
// streamed to this process's and to the log.
func (r *run) runProgram(c Cell, env []string, record *executed, session string) error {
	pipes, err := openDisplayPipes(session)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(r.cellsDir, c.Program))
	cmd.Env = append(append([]string{}, env...), pipes.env()...)
	stdout := &streamWriter{name: "stdout", cell: c.Index, record: record, to: io.MultiWriter(r.stdout, r.log)}
	stderr := &streamWriter{name: "stderr", cell: c.Index, record: record, to: io.MultiWriter(r.stderr, r.log)}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	runErr := r.wait(cmd)
	for _, d := range pipes.close() {
		record.display(c.Index, d)
	}
	if runErr != nil {
		return fmt.Errorf("its program %s failed: %w", c.Program, runErr)
	}
	return nil
}

// wait runs cmd, passing on SIGINT and SIGTERM (a Kubernetes Job's stop
// reaches only the driver) and stopping it after r.timeout, so that the
// driver outlives the cell and writes what the run produced.
func (r *run) wait(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var deadline <-chan time.Time
	if r.timeout > 0 {
		timer := time.NewTimer(r.timeout)
		defer timer.Stop()
		deadline = timer.C
	}
	for {
		select {
		case err := <-done:
			return err
		case sig := <-signals:
			_ = cmd.Process.Signal(sig)
		case <-deadline:
			_ = cmd.Process.Kill()
			err := <-done
			return fmt.Errorf("ran longer than --timeout %s and was stopped (%v)", r.timeout, err)
		}
	}
}

// streamWriter records a cell's stream output in the executed notebook as
// well as passing it on.
type streamWriter struct {
	name   string
	cell   int
	record *executed
	to     io.Writer
}

func (w *streamWriter) Write(b []byte) (int, error) {
	w.record.stream(w.cell, w.name, string(b))
	return w.to.Write(b)
}

// report reads the executed notebook back as `gorepro report` does, writes
// the figures and report.md/html, and says why the run failed.
func (r *run) report(executedPath, logPath string, seconds float64, cellErr string) (string, error) {
	nb, err := ipynb.Read(executedPath)
	if err != nil {
		return "", fmt.Errorf("reading back the executed notebook: %w", err)
	}
	o := runner.Outcome{Notebook: r.manifest.Notebook + ".ipynb", Executed: executedPath, Params: r.params,
		LogFile: logPath, WallSeconds: seconds}
	result, parseErr := notebook.ParseResult(nb.Text())
	o.Result = result
	switch {
	case result.Failure() != "":
		o.Err = result.Failure()
	case nb.FirstError() != nil:
		o.Err = nb.FirstError().Error()
	case cellErr != "":
		o.Err = cellErr
	case parseErr != nil:
		o.Err = parseErr.Error()
	}
	for i, svg := range nb.Figures() {
		rel := filepath.Join("figures", fmt.Sprintf("%s-%d.svg", r.manifest.Notebook, i+1))
		if err := os.WriteFile(filepath.Join(r.outDir, rel), []byte(svg), 0o644); err != nil {
			return "", fmt.Errorf("writing a figure: %w", err)
		}
		o.Figures = append(o.Figures, rel)
	}
	if _, err := runner.WriteReport(r.outDir, []runner.Outcome{o}); err != nil {
		return "", fmt.Errorf("writing the report: %w", err)
	}
	return o.Err, nil
}
