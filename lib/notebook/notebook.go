// Package notebook is the notebook contract in code: the helpers every gorepro
// notebook uses to show tables, figures and progress, and to end with its
// claims asserted and the machine-readable `RESULT {json}` line.
//
// Inside GoNB each display goes through GoNB's display pipe and is flushed
// before the function returns (gonbui.Sync): GoNB does not wait for the pipe
// when a cell's program exits, and raw GoNB was seen to lose one display in
// about twenty headless runs. Outside a notebook (a plain Go program, a test)
// the same calls print a text rendering to standard output, so library code
// and examples work anywhere.
//
// Each GoNB cell runs as a new process: Start records the notebook's start
// time in the kernel session's private directory (see Set), so that Finish
// can report the seconds the whole notebook took.
package notebook

import (
	"errors"
	"fmt"
	"html"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// output is where text renderings go outside a notebook: standard output
// (this package's tests replace it; nothing else may).
var output io.Writer = os.Stdout

// InNotebook reports whether the program runs as a GoNB cell.
func InNotebook() bool { return gonbui.IsNotebook }

// display sends one display_data message with the given MIME bundle and waits
// until GoNB has acknowledged it. Outside a notebook it prints the text/plain entry.
func display(bundle map[string]any) {
	if !gonbui.IsNotebook {
		if t, ok := bundle["text/plain"].(string); ok {
			fmt.Fprintln(output, t)
		}
		return
	}
	data := make(map[protocol.MIMEType]any, len(bundle))
	for k, v := range bundle {
		data[protocol.MIMEType(k)] = v
	}
	gonbui.SendData(&protocol.DisplayData{Data: data})
	gonbui.Sync()
}

// Markdown displays Markdown text.
func Markdown(md string) {
	display(map[string]any{"text/markdown": md, "text/plain": md})
}

// HTML displays an HTML fragment, with plain text for viewers that do not render HTML.
func HTML(fragment, plain string) {
	display(map[string]any{"text/html": fragment, "text/plain": plain})
}

// Image displays a figure: SVG (what JupyterLab, nbconvert HTML and the report
// show) with a PNG rendering for untrusted notebooks, where JupyterLab refuses
// SVG, and a text line for terminals.
func Image(title string, svg, png []byte) {
	bundle := map[string]any{"image/svg+xml": string(svg), "text/plain": fmt.Sprintf("[figure: %s]", title)}
	if len(png) > 0 {
		bundle["image/png"] = png
	}
	display(bundle)
}

// Table displays a table with a header row, as Markdown/HTML in a notebook and
// aligned text elsewhere. Rows shorter than the header are padded.
func Table(header []string, rows [][]string) {
	display(map[string]any{
		"text/html":  tableHTML(header, rows),
		"text/plain": tableText(header, rows),
	})
}

func tableHTML(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("<table><thead><tr>")
	for _, h := range header {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr></thead><tbody>")
	for _, r := range rows {
		b.WriteString("<tr>")
		for i := range header {
			cell := ""
			if i < len(r) {
				cell = r[i]
			}
			fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(cell))
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</tbody></table>")
	return b.String()
}

func tableText(header []string, rows [][]string) string {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = len([]rune(h))
	}
	for _, r := range rows {
		for i := range header {
			if i < len(r) && len([]rune(r[i])) > widths[i] {
				widths[i] = len([]rune(r[i]))
			}
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		for i := range header {
			cell := ""
			if i < len(cells) {
				cell = cells[i]
			}
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(cell + strings.Repeat(" ", widths[i]-len([]rune(cell))))
		}
		b.WriteString("\n")
	}
	line(header)
	sep := make([]string, len(header))
	for i, w := range widths {
		sep[i] = strings.Repeat("-", w)
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	return strings.TrimRight(b.String(), "\n")
}

// Must stops the cell with err's message (one line, no stack trace) when err is not nil.
func Must(err error) {
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	gonbui.Sync()
	exit(1)
}

// exit is os.Exit, replaced in tests.
var exit = os.Exit

// startKey is the session value where Start records the notebook's start
// time (in the kernel's private session directory, see SessionDir).
const startKey = "gorepro.notebook-start"

var processStart = time.Now()

// Start marks the beginning of a notebook run; call it in the first code cell.
// Outside a notebook it does nothing (Elapsed counts from the process start).
func Start() {
	if gonbui.IsNotebook {
		Must(Set(startKey, strconv.FormatInt(time.Now().UnixNano(), 10)))
	}
}

// Elapsed returns the time since Start (in this kernel), or since this process
// started if Start was not called.
func Elapsed() time.Duration {
	var data string
	if gonbui.IsNotebook && Get(startKey, &data) == nil {
		if ns, err := strconv.ParseInt(strings.TrimSpace(data), 10, 64); err == nil {
			return time.Since(time.Unix(0, ns))
		}
	}
	return time.Since(processStart)
}

// errClaims heads Finish's failure when its only reason is claims that were
// not pre-registered in this kernel session.
var errClaims = errors.New("claims were not pre-registered")

// OneOf checks a string parameter against its allowed values; the error names
// the parameter, e.g. `parameter profile = "fast": want one of quick, full`.
func OneOf(name, value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return fmt.Errorf("parameter %s = %q: want one of %s", name, value, strings.Join(allowed, ", "))
}
