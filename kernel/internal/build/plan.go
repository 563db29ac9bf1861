package build

import (
	"errors"
	"fmt"
	"go/scanner"
	"strconv"
	"strings"

	"github.com/gorepro/gorepro/kernel/internal/built"
	"github.com/gorepro/gorepro/kernel/plugin"
	"github.com/gorepro/gorepro/lib/ipynb"
	grammar "github.com/gorepro/gorepro/lib/params"
	"github.com/gorepro/gorepro/plugins/params"
)

// goimportsFunc runs goimports on a cell's program (cell is its index) and
// returns the result: missing imports added, unused ones removed.
type goimportsFunc func(cell int, src string) (string, error)

// paramImport is imported with the parameters: each parameter's initial
// value is notebook.Parameter's, the driver's value or the default. The
// alias keeps clear of the notebook's own names.
const paramImport = "import goreproNotebook \"github.com/gorepro/gorepro/lib/notebook\"\n"

// paramValue is a parameter's initial value in a built cell.
func paramValue(d grammar.Declaration) string {
	return fmt.Sprintf("goreproNotebook.Parameter[%s](%s, %s)", d.Type, strconv.Quote(d.Name), d.Default)
}

// plan turns a notebook's cells into the run's steps and the Go program of
// each code cell, merging declarations as GoNB does. path names the
// notebook in errors.
func plan(path string, nb *ipynb.Notebook, goimports goimportsFunc) (*built.Manifest, []program, error) {
	m := &built.Manifest{}
	var programs []program
	decls := newDeclarations()
	fail := func(i int, format string, args ...any) error {
		return &CellError{Notebook: path, Cell: i + 1, Reason: fmt.Sprintf(format, args...)}
	}
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		src := string(c.Source)
		step := built.Cell{Index: i, Kind: built.KindProgram}
		if cell, ok, err := plugin.ParseCell(src); ok {
			if err != nil {
				return nil, nil, fail(i, "%v", err)
			}
			switch {
			case cell.Name == "params":
				code, table, err := paramsCell(cell.Args, cell.Body)
				if err != nil {
					return nil, nil, fail(i, "%v", err)
				}
				src, step.Markdown = code, table
			case cell.Name == "backend":
				if len(cell.Args) > 1 {
					return nil, nil, fail(i, "%%%%backend takes one backend spec, got %q", strings.Join(cell.Args, " "))
				}
				step.Kind = built.KindBackend
				if len(cell.Args) == 1 && cell.Args[0] != "default" {
					step.Backend = cell.Args[0]
				}
				m.Cells = append(m.Cells, step)
				continue
			case plugin.IsGoNBForm(cell.Name) && cell.Name != "":
				return nil, nil, fail(i, "GoNB's %%%%%s cell has no meaning in a built notebook (it needs the kernel): rewrite it as Go code", cell.Name)
			case cell.Name != "":
				return nil, nil, fail(i, "the plugin cell %%%%%s has no build-time meaning: only %%%%params and %%%%backend cells can be built", cell.Name)
			}
		} else if c.HasTag("parameters") {
			code, err := varParamsCell(src)
			if err != nil {
				return nil, nil, fail(i, "%v", err)
			}
			src = code
		}
		lines, origin, env, err := specialLines(src)
		if err != nil {
			return nil, nil, fail(i, "%v", err)
		}
		step.Env = env
		if isEmpty(lines) {
			// GoNB runs nothing; only the %env settings stay.
			if len(env) > 0 {
				m.Cells = append(m.Cells, step)
			}
			continue
		}
		source, err := cellProgram(decls, lines, origin, func(s string) (string, error) { return goimports(i, s) })
		if err != nil {
			return nil, nil, fail(i, "%v", err)
		}
		step.Program = cellDirName(i)
		programs = append(programs, program{cell: i, source: source})
		m.Cells = append(m.Cells, step)
	}
	return m, programs, nil
}

// cellProgram merges the cell's code (lines: Go and GoNB's %% main
// shortcuts; origin[i] is the cell's line number of lines[i], 0 for an
// added line) into decls and returns the program GoNB would compile.
func cellProgram(decls *declarations, lines []string, origin []int, goimports func(string) (string, error)) (string, error) {
	file := "package main\n\n" + strings.Join(lines, "\n") + "\n"
	cellDecls, main, err := parseGo(file)
	if err != nil {
		var list scanner.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			e := list[0]
			if at := e.Pos.Line - 3; at >= 0 && at < len(origin) && origin[at] > 0 {
				return "", fmt.Errorf("does not parse: line %d: %s", origin[at], e.Msg)
			}
			return "", fmt.Errorf("does not parse: %s", e.Msg)
		}
		return "", fmt.Errorf("does not parse: %w", err)
	}
	merged := decls.copy()
	merged.merge(cellDecls)
	formatted, err := goimports(merged.render(main))
	if err != nil {
		return "", err
	}
	used, _, err := parseGo(formatted)
	if err != nil {
		return "", fmt.Errorf("reading goimports' output: %w", err)
	}
	rendered := merged.copy()
	rendered.keepImports(used.imports)
	// GoNB keeps every import in its memory (goimports only decides which
	// ones this program gets) and remembers the declarations once the cell
	// compiles: a cell that does not compile fails the build, so here.
	*decls = *merged
	return rendered.render(main), nil
}

// specialLines turns GoNB's special lines into Go or settings: `%%` and
// `%main` open the cell's main (closed at the end), `%env NAME VALUE` sets a
// variable for this and later cells, `%noautoget`/`%autoget` are dropped
// (built cells never fetch modules). Other % commands and `!` shell lines
// need the kernel: an error naming the line.
func specialLines(src string) (lines []string, origin []int, env map[string]string, err error) {
	env = map[string]string{}
	add := func(line string, from int) {
		lines = append(lines, line)
		origin = append(origin, from)
	}
	closeMain := false
	for n, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimPrefix(line, "//gonb:")
		switch {
		case strings.HasPrefix(trimmed, "!"):
			return nil, nil, nil, fmt.Errorf("line %d: shell line %q needs the kernel: a built notebook runs Go only (do it in Go, or before running the executable)", n+1, trimmed)
		case strings.HasPrefix(trimmed, "%main") || trimmed == "%%" || strings.HasPrefix(trimmed, "%% ") || strings.HasPrefix(trimmed, "%%\t"):
			add("func main() {", n+1)
			add("\tflag.Parse()", 0)
			closeMain = true
		case strings.HasPrefix(trimmed, "%env "):
			fields := strings.Fields(strings.TrimPrefix(trimmed, "%env "))
			if len(fields) != 2 {
				return nil, nil, nil, fmt.Errorf("line %d: %q: want %%env NAME VALUE", n+1, trimmed)
			}
			env[fields[0]] = fields[1]
		case trimmed == "%noautoget" || trimmed == "%autoget":
		case strings.HasPrefix(trimmed, "%"):
			return nil, nil, nil, fmt.Errorf("line %d: GoNB command %q has no meaning in a built notebook", n+1, strings.Fields(trimmed)[0])
		case strings.HasPrefix(line, "package"):
			// GoNB drops package lines: every cell is package main.
		default:
			add(line, n+1)
		}
	}
	if closeMain {
		add("", 0)
		add("}", 0)
	}
	if len(env) == 0 {
		env = nil
	}
	return lines, origin, env, nil
}

func isEmpty(lines []string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			return false
		}
	}
	return true
}

// paramsCell is the Go code of a %%params cell, its defaults replaced by
// the driver's values, and the table the kernel shows for it.
func paramsCell(args []string, body string) (code, table string, err error) {
	if len(args) > 0 {
		return "", "", fmt.Errorf("%%%%params takes no arguments, got %q", strings.Join(args, " "))
	}
	decls, err := grammar.Parse(body)
	if err != nil {
		return "", "", fmt.Errorf("%%%%params: %w", err)
	}
	table = params.Table(decls)
	for i := range decls {
		decls[i].Default = paramValue(decls[i])
	}
	return paramImport + params.Code(decls), table, nil
}

// varParamsCell is a Go `var` parameters cell with each parameter's value
// taken from the driver (papermill's convention: the cell tagged
// `parameters` declares them). Only the cell's variables are kept: a
// parameters cell declares parameters.
func varParamsCell(src string) (string, error) {
	decls, err := grammar.ParseVars(src)
	if err != nil {
		return "", fmt.Errorf("parameters cell: %w", err)
	}
	var b strings.Builder
	b.WriteString(paramImport + "\nvar (\n")
	for _, d := range decls {
		fmt.Fprintf(&b, "\t%s %s = %s\n", d.Name, d.Type, paramValue(d))
	}
	b.WriteString(")\n")
	return b.String(), nil
}
