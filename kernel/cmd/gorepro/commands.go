package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gorepro/gorepro/kernel/internal/build"
	"github.com/gorepro/gorepro/kernel/internal/doctor"
	"github.com/gorepro/gorepro/kernel/internal/install"
	"github.com/gorepro/gorepro/kernel/internal/project"
	"github.com/gorepro/gorepro/kernel/internal/proxy"
	"github.com/gorepro/gorepro/kernel/internal/runner"
	"github.com/gorepro/gorepro/lib/backends"
)

const usage = `usage: gorepro <command> [arguments]

commands:
  doctor [--json]          report backends (available or not, and why), plugins, devices and versions
  install                  build GoNB/goimports/gopls into .venv, write the kernelspecs, prime the Go cache
  run [flags] NOTEBOOK...  execute notebooks headless through papermill and write build/report.{md,html}
  build -o DIR NOTEBOOK... compile each notebook into DIR/<notebook>, an executable that runs it
                           with no Go, GoNB or Jupyter (docs/build.md); DIR/<notebook> --help for its flags
  report [-o FILE] PATH... merge executed notebooks and RESULT lines (files or directories) into one report
  lab [jupyter args]       start JupyterLab on notebooks/, bound to 127.0.0.1
  data get [--dir DIR] [--mirror URL] NAME...
                           download, verify and unpack a data set (mnist, cifar10, cifar100, beir-scifact, ...)
                           and print the directory its loader reads; data get --list shows them all (docs/data.md)
  kernel --connection-file F [--log-level L]
                           the gorepro Jupyter kernel (started by Jupyter through the kernelspec);
                           L is debug, info (default), warn or error ($GOREPRO_KERNEL_LOG_LEVEL)

run flags:
  -p name=value            set a notebook parameter (repeatable); the notebook must declare it
  -p name=v1,v2,...        a sweep: one run per value (several such flags: every combination);
                           \, is a comma inside a value; a [..] or {..} JSON value keeps its commas
  --jobs N                 run N notebooks at once, each in its own kernel (default 1)
  --backend B              run on backend B (go, xla:cpu, xla:cuda, options after commas)
  --profile P              shorthand for -p profile=P
  --out DIR                where executed notebooks and the report go (default build/)
  --timeout SECONDS        per-cell timeout (default none)

report flags:
  -o FILE                  the merged Markdown report (default merged-report.md); the HTML goes beside it
`

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// run runs the command line; a --help of a command is not an error.
func run(args []string) error {
	if err := dispatch(args); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil
}

func dispatch(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "doctor":
		return doctorCmd(args[1:])
	case "install":
		p, err := project.Find()
		if err != nil {
			return err
		}
		return install.Install(p, os.Stdout)
	case "run":
		return runCmd(args[1:])
	case "report":
		return reportCmd(args[1:])
	case "build":
		return buildCmd(args[1:])
	case "lab":
		return labCmd(args[1:])
	case "kernel":
		return kernelCmd(args[1:])
	case "data":
		return dataCmd(args[1:])
	case proxy.SuperviseCommand:
		return superviseCmd(args[1:])
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q (commands: doctor, install, run, build, report, lab, kernel, data)", args[0])}
}

func doctorCmd(args []string) error {
	fs := newFlagSet("doctor", "")
	asJSON := fs.Bool("json", false, "print JSON")
	backendsOnly := fs.Bool("backends", false, "only diagnose the backends, as JSON (what %%backend runs in a child process)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *backendsOnly {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(backends.Diagnose())
	}
	r := doctor.Run()
	if *asJSON {
		return r.WriteJSON(os.Stdout)
	}
	return r.WriteText(os.Stdout)
}

// multiFlag collects repeated -p values.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runCmd(args []string) error {
	fs := newFlagSet("run", "NOTEBOOK...")
	var params multiFlag
	fs.Var(&params, "p", "name=value parameter (repeatable)")
	backendFlag := fs.String("backend", "", "backend for every notebook")
	profile := fs.String("profile", "", "profile for every notebook (quick or full)")
	out := fs.String("out", "", "output directory (default build/)")
	timeout := fs.Int("timeout", 0, "per-cell timeout in seconds (0: none)")
	jobs := fs.Int("jobs", 1, "how many notebooks run at once, each in its own kernel")
	notebooks, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(notebooks) == 0 {
		return usageError{"run: no notebook given (e.g. gorepro run notebooks/00_tour.ipynb)"}
	}
	p, err := project.Find()
	if err != nil {
		return err
	}
	opts := runner.Options{Backend: *backendFlag, OutDir: *out, CellTimeout: *timeout, Log: os.Stdout}
	if opts.OutDir == "" {
		opts.OutDir = filepath.Join(p.Root, "build")
	}
	if *jobs < 1 {
		return usageError{fmt.Sprintf("run: --jobs %d: want at least 1", *jobs)}
	}
	opts.Jobs = *jobs
	for _, kv := range params {
		pv, err := runner.ParseParamFlag(kv)
		if err != nil {
			return usageError{"run: " + err.Error()}
		}
		if *backendFlag != "" && pv.Name == "backend" {
			return usageError{fmt.Sprintf("run: -p %s and --backend %s both choose the backend: give one", kv, *backendFlag)}
		}
		if *profile != "" && pv.Name == "profile" {
			return usageError{fmt.Sprintf("run: -p %s and --profile %s both choose the profile: give one", kv, *profile)}
		}
		opts.Params = append(opts.Params, pv)
	}
	if *profile != "" {
		opts.Params = append(opts.Params, runner.ParamValues{Name: "profile", Values: []string{*profile}})
	}
	summary, err := runner.Run(p, notebooks, opts)
	if err != nil {
		return err
	}
	return summary.Err()
}

func labCmd(args []string) error {
	p, err := project.Find()
	if err != nil {
		return err
	}
	if err := p.NeedVenv("jupyter"); err != nil {
		return err
	}
	argv := []string{p.Bin("jupyter"), "lab", "--ip=127.0.0.1", "--no-browser",
		"--ServerApp.root_dir=" + filepath.Join(p.Root, "notebooks")}
	if os.Geteuid() == 0 {
		argv = append(argv, "--allow-root")
	}
	argv = append(argv, args...)
	if _, err := exec.LookPath(argv[0]); err != nil {
		return err
	}
	return syscall.Exec(argv[0], argv, p.Env())
}

// reportCmd merges executed notebooks and RESULT lines, e.g. collected from
// several machines, into one report.
func reportCmd(args []string) error {
	fs := newFlagSet("report", "RUN_DIR_OR_FILE...")
	out := fs.String("o", "merged-report.md", "the merged Markdown report; the HTML goes beside it")
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usageError{"report: no directory or file given (e.g. gorepro report build/ results/*.log)"}
	}
	if filepath.Ext(*out) != ".md" {
		return usageError{fmt.Sprintf("report: -o %s: want a .md file (the HTML report goes beside it)", *out)}
	}
	merged, err := runner.Collect(paths)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	htmlPath, err := runner.WriteMergedReport(*out, merged)
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	for _, problem := range merged.Problems {
		fmt.Printf("gorepro report: problem: %s\n", problem)
	}
	for _, conflict := range merged.Conflicts {
		fmt.Printf("gorepro report: conflict: %s\n", conflict)
	}
	if n := len(merged.Duplicates); n > 0 {
		fmt.Printf("gorepro report: %d runs found more than once (e.g. a notebook and its log), kept once\n", n)
	}
	fmt.Printf("gorepro report: %d runs; report: %s, %s\n", len(merged.Outcomes), *out, htmlPath)
	return merged.Err(*out)
}

// buildCmd compiles notebooks into executables that need no Go (docs/build.md).
func buildCmd(args []string) error {
	fs := newFlagSet("build", "NOTEBOOK...")
	out := fs.String("o", "", "the directory that receives DIR/<notebook> and DIR/<notebook>.cells/")
	notebooks, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return usageError{"build: no output directory given (e.g. gorepro build -o build/bin notebooks/00_tour.ipynb)"}
	}
	if len(notebooks) == 0 {
		return usageError{"build: no notebook given (e.g. gorepro build -o build/bin notebooks/00_tour.ipynb)"}
	}
	p, err := project.Find()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := build.Build(p, notebooks, build.Options{OutDir: *out, Log: os.Stdout}); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	fmt.Printf("gorepro build: %d notebooks in %.1fs\n", len(notebooks), time.Since(start).Seconds())
	return nil
}

// newFlagSet is the flag set of a command whose positional arguments are
// named by positional ("" for none), for its usage line.
func newFlagSet(name, positional string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parseFlags prints the usage
	fs.Usage = func() {
		w := fs.Output()
		line := "usage: gorepro " + name + " [flags]"
		if positional != "" {
			line += " " + positional
		}
		fmt.Fprintln(w, line)
		fmt.Fprintln(w, "\nflags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses a command's flags wherever they stand among its
// positional arguments (flags after a notebook's name are accepted), and
// returns the positional arguments in order. -h and --help print the usage
// on stdout and return flag.ErrHelp, which run turns into exit 0; a wrong
// flag prints it on stderr and is a usage error.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fs.Usage()
			return nil, flag.ErrHelp
		}
		if err != nil {
			fs.SetOutput(os.Stderr)
			fs.Usage()
			return nil, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
