// Package ipynb reads executed Jupyter notebooks (nbformat 4): the cells,
// their outputs, the first error a run stopped at, the text a notebook
// printed and the SVG figures it displayed. It reads only what a runner or a
// test of a run needs; it does not write notebooks.
package ipynb

import (
	"encoding/json"
	"fmt"
	"html"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Notebook is the part of an nbformat 4 notebook this package reads.
type Notebook struct {
	Cells    []Cell         `json:"cells"`
	Metadata map[string]any `json:"metadata"`
}

// Cell is one notebook cell.
type Cell struct {
	CellType string       `json:"cell_type"`
	Source   MultiString  `json:"source"`
	Metadata CellMetadata `json:"metadata"`
	Outputs  []Output     `json:"outputs"`
}

// CellMetadata holds the tags (papermill's "parameters", "injected-parameters").
type CellMetadata struct {
	Tags []string `json:"tags"`
}

// HasTag reports whether the cell carries tag.
func (c Cell) HasTag(tag string) bool { return slices.Contains(c.Metadata.Tags, tag) }

// Output is one cell output.
type Output struct {
	OutputType string                 `json:"output_type"`
	Name       string                 `json:"name"`
	Text       MultiString            `json:"text"`
	Data       map[string]MultiString `json:"data"`
	Ename      string                 `json:"ename"`
	Evalue     string                 `json:"evalue"`
	Traceback  []string               `json:"traceback"`
}

// MultiString is nbformat's string-or-list-of-strings.
type MultiString string

// UnmarshalJSON accepts a string, a list of strings, or (for JSON outputs) any value, kept as JSON text.
func (m *MultiString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = MultiString(s)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		*m = MultiString(strings.Join(list, ""))
		return nil
	}
	*m = MultiString(b)
	return nil
}

// Read reads and parses an .ipynb file. It fails when the file is not JSON
// or has no cells.
func Read(path string) (*Notebook, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var nb Notebook
	if err := json.Unmarshal(data, &nb); err != nil {
		return nil, fmt.Errorf("%s is not a notebook (JSON): %w", path, err)
	}
	if nb.Cells == nil {
		return nil, fmt.Errorf("%s is not a notebook: no cells", path)
	}
	return &nb, nil
}

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// StripANSI removes terminal colour codes.
func StripANSI(s string) string { return ansiEscape.ReplaceAllString(s, "") }

// CellError is the first error output of an executed notebook.
type CellError struct {
	// Cell is the 1-based index among code cells, as a user counts them.
	Cell    int
	Name    string
	Message string
}

func (e *CellError) Error() string {
	msg := strings.TrimSpace(firstLines(StripANSI(e.Message), 3))
	return fmt.Sprintf("code cell %d failed: %s: %s", e.Cell, e.Name, msg)
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, " | ")
}

// FirstError returns the first error output in the notebook, or nil.
func (nb *Notebook) FirstError() *CellError {
	code := 0
	for _, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		if !c.HasTag("injected-parameters") {
			code++
		}
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				msg := o.Evalue
				if strings.TrimSpace(msg) == "" && len(o.Traceback) > 0 {
					msg = strings.Join(o.Traceback, "\n")
				}
				if details := errorDetails(c); details != "" {
					msg = details + " (" + strings.TrimSpace(StripANSI(msg)) + ")"
				}
				return &CellError{Cell: code, Name: o.Ename, Message: msg}
			}
		}
	}
	return nil
}

var (
	htmlStyle     = regexp.MustCompile(`(?s)<style>.*?</style>`)
	htmlTag       = regexp.MustCompile(`<[^>]+>`)
	compilerError = regexp.MustCompile(`Cell\[\d+\]: Line \d+ .*`)
)

// errorDetails finds what a failed cell said about its failure: GoNB's
// compile errors (shown as HTML, "Cell[2]: Line 5 ./main.go:14:2: undefined: x"),
// else the last lines the cell wrote to stderr (a panic, notebook.Must's message).
func errorDetails(c Cell) string {
	var compile []string
	var stderr string
	for _, o := range c.Outputs {
		if h, ok := o.Data["text/html"]; ok && strings.Contains(string(h), "gonb-err") {
			text := html.UnescapeString(htmlTag.ReplaceAllString(htmlStyle.ReplaceAllString(string(h), ""), ""))
			compile = append(compile, compilerError.FindAllString(text, -1)...)
		}
		if o.OutputType == "stream" && o.Name == "stderr" {
			stderr += string(o.Text)
		}
	}
	if len(compile) > 0 {
		return "compile error: " + strings.Join(compile, "; ")
	}
	var lines []string
	for _, l := range strings.Split(StripANSI(stderr), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}

// Text returns every stream output of the notebook, in order.
func (nb *Notebook) Text() string {
	var b strings.Builder
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			if o.OutputType == "stream" {
				b.WriteString(string(o.Text))
			}
			if o.OutputType == "execute_result" || o.OutputType == "display_data" {
				if t, ok := o.Data["text/plain"]; ok {
					b.WriteString(string(t))
					b.WriteString("\n")
				}
			}
		}
	}
	return b.String()
}

// Figures returns the SVG figures the notebook displayed, in order: image/svg+xml
// outputs, or an <svg> inside text/html (GoNB's own DisplaySVG).
func (nb *Notebook) Figures() []string {
	var figs []string
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			if o.OutputType != "display_data" && o.OutputType != "execute_result" {
				continue
			}
			if svg, ok := o.Data["image/svg+xml"]; ok {
				figs = append(figs, string(svg))
				continue
			}
			if html, ok := o.Data["text/html"]; ok {
				if i := strings.Index(string(html), "<svg"); i >= 0 {
					if j := strings.LastIndex(string(html), "</svg>"); j > i {
						figs = append(figs, string(html)[i:j+len("</svg>")])
					}
				}
			}
		}
	}
	return figs
}
