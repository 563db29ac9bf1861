// Package bench is the %%bench plugin: it times a piece of GoMLX code on
// several backends and shows the medians side by side, so that "XLA is N×
// faster than pure Go here" is measured, not assumed.
//
// The cell's body is Go statements that use a variable `backend` (a
// compute.Backend). The plugin does not run them itself: it generates a whole
// GoNB cell — imports and a main function — that, for each backend, creates
// it with backends.New, runs the statements a few times untimed (warm-up:
// graph compilation, caches) and then n times timed, and shows a table of the
// runs, the median and minimum time, and each median as a multiple of the
// first backend's. GoNB compiles and runs that cell like any other, so the
// statements see the notebook's earlier declarations.
//
// The flags are checked here, before any code is generated: each backend
// must resolve (lib/backends.Resolve), n must be at least 1.
package bench

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gorepro/gorepro/kernel/plugin"
	"github.com/gorepro/gorepro/lib/backends"
)

//go:embed usage.md
var usage string

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "bench",
		Help:    "times Go statements using `backend` on several GoMLX backends: median, min and ratio",
		Usage:   usage,
		Handler: Handle,
	})
}

// Handle runs a %%bench cell: it validates the flags and the body and returns the benchmark program as Code.
func Handle(_ context.Context, req *plugin.Request) (*plugin.Response, error) {
	opts, err := parseFlags(req.Args)
	if errors.Is(err, flag.ErrHelp) {
		return &plugin.Response{Outputs: []plugin.Output{plugin.Markdown(usage)}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%%%%bench: %w", err)
	}
	if opts.backends == nil {
		opts.backends = defaultBackends(req.Backend)
	}
	code, err := Generate(opts.backends, opts.runs, opts.warmup, req.Body)
	if err != nil {
		return nil, fmt.Errorf("%%%%bench: %w", err)
	}
	return &plugin.Response{Code: code}, nil
}

type options struct {
	backends    []string
	runs        int
	warmup      int
	backendList string
}

func parseFlags(args []string) (options, error) {
	var opts options
	fs := flag.NewFlagSet("%%bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&opts.backendList, "backends", "", "comma-separated backends")
	fs.IntVar(&opts.runs, "n", 10, "timed runs per backend")
	fs.IntVar(&opts.warmup, "warmup", 1, "untimed runs per backend before timing")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, err
		}
		return opts, fmt.Errorf("%v (flags: --backends LIST, -n RUNS, --warmup RUNS)", err)
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected argument %q: the code to time goes in the cell's body", fs.Arg(0))
	}
	if opts.runs < 1 {
		return opts, fmt.Errorf("-n %d: want at least 1 timed run", opts.runs)
	}
	if opts.warmup < 0 {
		return opts, fmt.Errorf("--warmup %d: want 0 or more", opts.warmup)
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "backends" {
			opts.backends, err = parseBackends(opts.backendList)
		}
	})
	return opts, err
}

// parseBackends splits a list such as "go,xla:cuda,tf32=false" into backend
// specs: an item that does not name a backend (go, xla…) is an option of the
// one before it. Each spec must resolve; duplicates are dropped.
func parseBackends(list string) ([]string, error) {
	var specs []string
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case item == backends.Go || item == "default" || strings.HasPrefix(item, "xla"):
			specs = append(specs, item)
		case len(specs) == 0:
			return nil, fmt.Errorf("--backends %q: %q is not a backend (go, xla:cpu, xla:cuda, xla:/path/plugin.so)", list, item)
		default:
			specs[len(specs)-1] += "," + item
		}
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("--backends %q names no backend", list)
	}
	var out []string
	for _, s := range specs {
		spec, err := backends.Resolve(s)
		if err != nil {
			return nil, fmt.Errorf("--backends: %w", err)
		}
		if name := spec.String(); !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// defaultBackends are go, xla:cpu when it resolves here, and the session's
// backend when it is another one.
func defaultBackends(session string) []string {
	out := []string{backends.Go}
	if _, err := backends.Resolve(backends.XLACPU); err == nil {
		out = append(out, backends.XLACPU)
	}
	if session != "" {
		if spec, err := backends.Resolve(session); err == nil && !slices.Contains(out, spec.String()) {
			out = append(out, spec.String())
		}
	}
	return out
}

// knownImports are the packages a body may use without importing them: GoNB
// runs goimports, but a short name such as graph is ambiguous among the
// modules it can see, so GoMLX's are imported by path.
var knownImports = []struct{ name, path string }{
	{"dtypes", "github.com/gomlx/compute/dtypes"},
	{"graph", "github.com/gomlx/gomlx/core/graph"},
	{"shapes", "github.com/gomlx/compute/shapes"},
	{"tensors", "github.com/gomlx/gomlx/core/tensors"},
}

// TimedMarker is the line that splits a body into setup, run once per
// backend untimed, and the statements timed.
const TimedMarker = "//bench:timed"

// Generate returns the GoNB cell that times body on each backend: warmup
// untimed runs, then runs timed ones. The body must be valid Go statements;
// if it has a TimedMarker line, the statements before it run once per backend
// before any run and only those after it are repeated.
func Generate(backendNames []string, runs, warmup int, body string) (string, error) {
	if strings.TrimSpace(body) == "" {
		return "", errors.New("empty body: write the Go statements to time, using the variable `backend` (a compute.Backend)")
	}
	setup, timed := "", body
	lines := strings.Split(body, "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) == TimedMarker {
			setup, timed = strings.Join(lines[:i], "\n"), strings.Join(lines[i+1:], "\n")
			if err := checkStatements(setup, 0); err != nil {
				return "", err
			}
			if err := checkStatements(timed, i+1); err != nil {
				return "", err
			}
			break
		}
	}
	if setup == "" {
		if err := checkStatements(timed, 0); err != nil {
			return "", err
		}
	}
	if strings.TrimSpace(timed) == "" {
		return "", fmt.Errorf("nothing to time after the %s line", TimedMarker)
	}
	var imports []string
	for _, imp := range knownImports {
		if regexp.MustCompile(`\b` + imp.name + `\.`).MatchString(body) {
			imports = append(imports, imp.path)
		}
	}
	src, err := fill(backendNames, runs, warmup, strings.TrimRight(setup, " \t\r\n"), strings.TrimRight(timed, " \t\r\n"), imports)
	if err != nil {
		return "", fmt.Errorf("generating the benchmark: %w", err)
	}
	code, err := format.Source([]byte(src))
	if err != nil {
		return "", fmt.Errorf("generating the benchmark: %w", err)
	}
	return string(code), nil
}

// checkStatements reports the first syntax error of statements that start
// on line offset+1 of the body, naming that line.
func checkStatements(statements string, offset int) error {
	const prefix = "package p\nfunc _() {\n"
	statements = strings.TrimRight(statements, " \t\r\n")
	_, err := parser.ParseFile(token.NewFileSet(), "body.go", prefix+statements+"\n}\n", parser.SkipObjectResolution)
	var list scanner.ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		return err
	}
	line, last := list[0].Pos.Line-strings.Count(prefix, "\n"), strings.Count(statements, "\n")+1
	if line > last { // found at the wrapper's closing brace: the statements end early
		return fmt.Errorf("body line %d: unfinished statement (%s)", last+offset, list[0].Msg)
	}
	return fmt.Errorf("body line %d: %s", line+offset, list[0].Msg)
}

// program is the benchmark program (program/main.go), which Generate fills in.
//
//go:embed program/main.go
var program string

// fill returns program as a GoNB cell: without its package clause, with the
// body's statements, the flags' values and the extra imports in place.
func fill(backendNames []string, runs, warmup int, setup, timed string, imports []string) (string, error) {
	_, code, ok := strings.Cut(program, "\npackage main\n")
	if !ok {
		return "", errors.New("program/main.go has no package clause")
	}
	quoted := make([]string, len(backendNames))
	for i, name := range backendNames {
		quoted[i] = strconv.Quote(name)
	}
	var extra strings.Builder
	for _, imp := range imports {
		extra.WriteString("\t" + strconv.Quote(imp) + "\n")
	}
	const notebookImport = "\t\"github.com/gorepro/gorepro/lib/notebook\"\n"
	for _, r := range []struct{ old, new string }{
		{notebookImport, notebookImport + extra.String()},
		{"\t\t\tsetupStatements(backend)\n", setup + "\n"},
		{"\t\t\t\ttimedStatements()\n", timed + "\n"},
		{"range benchWarmup {", fmt.Sprintf("range %d {", warmup)},
		{"make([]time.Duration, benchRuns)", fmt.Sprintf("make([]time.Duration, %d)", runs)},
		{"range benchBackends {", "range []string{" + strings.Join(quoted, ", ") + "} {"},
	} {
		if strings.Count(code, r.old) != 1 {
			return "", fmt.Errorf("program/main.go: want %q once", r.old)
		}
		code = strings.Replace(code, r.old, r.new, 1)
	}
	return "// Generated by %%bench: times the cell's statements on each backend.\n" + strings.TrimLeft(code, "\n"), nil
}
