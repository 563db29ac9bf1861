package runner

import (
	"encoding/base64"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gorepro/gorepro/kernel/plugin"

	"github.com/gorepro/gorepro/lib/notebook"
)

// now is the report's timestamp source (tests fix it).
var now = time.Now

// WriteReport writes report.md and report.html into outDir and returns the Markdown path.
func WriteReport(outDir string, outcomes []Outcome) (string, error) {
	md := MarkdownReport(outDir, outcomes)
	mdPath := filepath.Join(outDir, "report.md")
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(outDir, "report.html"), []byte(HTMLReport(outDir, outcomes)), 0o644); err != nil {
		return "", err
	}
	return mdPath, nil
}

func rel(outDir, path string) string {
	if r, err := filepath.Rel(outDir, path); err == nil {
		return r
	}
	return path
}

func status(o Outcome) string {
	if o.Err != "" {
		return "FAILED"
	}
	return "ok"
}

// reportNote is a titled list at the end of a report (a merge's problems,
// duplicates, conflicts); an empty one is left out.
type reportNote struct {
	title, intro string
	items        []string
}

// MarkdownReport renders the outcomes as Markdown; figure links are relative to outDir.
func MarkdownReport(outDir string, outcomes []Outcome) string {
	return markdownReport(outDir, outcomes, nil)
}

func markdownReport(outDir string, outcomes []Outcome, notes []reportNote) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# gorepro report\n\nGenerated %s.\n\n", now().UTC().Format("2006-01-02 15:04 MST"))
	sweep := isSweep(outcomes)
	if sweep {
		b.WriteString("| notebook | parameters | status | backend | profile | claims | seconds (notebook) | seconds (with kernel start) |\n|---|---|---|---|---|---|---|---|\n")
	} else {
		b.WriteString("| notebook | status | backend | profile | claims | seconds (notebook) | seconds (with kernel start) |\n|---|---|---|---|---|---|---|\n")
	}
	for _, o := range outcomes {
		backend, profile, held, secs := summary(o)
		fmt.Fprintf(&b, "| [%s](%s) |", filepath.Base(o.Notebook), rel(outDir, o.Executed))
		if sweep {
			fmt.Fprintf(&b, " %s |", plugin.MarkdownCell(orDash(o.Run)))
		}
		fmt.Fprintf(&b, " %s | %s | %s | %s | %s | %s |\n", status(o), plugin.MarkdownCell(backend), plugin.MarkdownCell(profile), held, secs, wallSeconds(o))
	}
	for _, g := range acrossRuns(outcomes) {
		fmt.Fprintf(&b, "\n## %s: %d runs\n\n| claim | paper | held | ours (min / mean / max) |\n|---|---|---|---|\n", g.notebook, g.runs)
		for _, c := range g.claims {
			fmt.Fprintf(&b, "| %s | %s | %d/%d | %s |\n", plugin.MarkdownCell(c.name), plugin.MarkdownCell(c.paper), c.held, c.n, plugin.MarkdownCell(c.ours))
		}
	}
	for _, o := range outcomes {
		fmt.Fprintf(&b, "\n## %s\n\n", heading(o))
		if len(o.Params) > 0 {
			fmt.Fprintf(&b, "Parameters: %s\n\n", plugin.MarkdownCell(paramsText(o.Params, "`")))
		}
		if o.Err != "" {
			fmt.Fprintf(&b, "**Failed:** %s\n\n", plugin.MarkdownCell(o.Err))
			if o.LogFile != "" {
				fmt.Fprintf(&b, "Log: `%s`\n\n", rel(outDir, o.LogFile))
			}
		}
		if r := o.Result; r != nil {
			for _, sec := range claimSections(r) {
				writeSectionMD(&b, sec)
			}
		}
		for i, f := range o.Figures {
			fmt.Fprintf(&b, "![%s figure %d](%s)\n\n", filepath.Base(o.Notebook), i+1, f)
		}
	}
	for _, n := range notes {
		if len(n.items) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", n.title, n.intro)
		for _, item := range n.items {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(item, "\n", " "))
		}
	}
	return b.String()
}

// isSweep is whether the report shows a parameters column: some notebook ran
// more than once with different parameters.
func isSweep(outcomes []Outcome) bool {
	for _, o := range outcomes {
		if o.Run != "" {
			return true
		}
	}
	return false
}

func heading(o Outcome) string {
	if o.Run != "" {
		return filepath.Base(o.Notebook) + " (" + o.Run + ")"
	}
	return filepath.Base(o.Notebook)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func wallSeconds(o Outcome) string {
	if o.WallSeconds == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", o.WallSeconds)
}

// paramsText is "a=1, b=x", each pair between quote (a Markdown backtick or nothing).
func paramsText(params []Param, quote string) string {
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = quote + p.Name + "=" + p.Value + quote
	}
	return strings.Join(parts, ", ")
}

// claimAcrossRuns is one claim (or finding) of a notebook over its runs.
type claimAcrossRuns struct {
	name, paper, ours string
	held, n           int
}

type notebookAcrossRuns struct {
	notebook string
	runs     int
	claims   []claimAcrossRuns
}

// acrossRuns summarises each notebook that ran more than once with a RESULT:
// per claim, in how many runs it held and the spread of our numbers.
func acrossRuns(outcomes []Outcome) []notebookAcrossRuns {
	var order []string
	byNotebook := map[string][]*notebook.Result{}
	for _, o := range outcomes {
		name := filepath.Base(o.Notebook)
		if o.Result == nil {
			continue
		}
		if _, ok := byNotebook[name]; !ok {
			order = append(order, name)
		}
		byNotebook[name] = append(byNotebook[name], o.Result)
	}
	var out []notebookAcrossRuns
	for _, name := range order {
		results := byNotebook[name]
		if len(results) < 2 {
			continue
		}
		g := notebookAcrossRuns{notebook: name, runs: len(results)}
		for _, kind := range []string{"claim", "finding"} {
			var names []string
			values := map[string][]notebook.Claim{}
			for _, r := range results {
				list := r.Claims
				if kind == "finding" {
					list = r.Findings
				}
				for _, c := range list {
					if _, ok := values[c.Name]; !ok {
						names = append(names, c.Name)
					}
					values[c.Name] = append(values[c.Name], c)
				}
			}
			for _, n := range names {
				cs := values[n]
				c := claimAcrossRuns{name: n, paper: formatValue(cs[0].Paper), n: len(cs), ours: spread(cs)}
				if kind == "finding" {
					c.name += " (finding)"
				}
				for _, x := range cs {
					if x.Holds {
						c.held++
					}
				}
				g.claims = append(g.claims, c)
			}
		}
		out = append(out, g)
	}
	return out
}

// spread is "min / mean / max" of numeric values, else the distinct values.
func spread(claims []notebook.Claim) string {
	var nums []float64
	for _, c := range claims {
		if f, ok := c.Ours.(float64); ok {
			nums = append(nums, f)
		}
	}
	if len(nums) == len(claims) && len(nums) > 0 {
		lo, hi, sum := nums[0], nums[0], 0.0
		for _, f := range nums {
			lo, hi, sum = min(lo, f), max(hi, f), sum+f
		}
		return fmt.Sprintf("%s / %s / %s", formatValue(lo), formatValue(sum/float64(len(nums))), formatValue(hi))
	}
	var distinct []string
	seen := map[string]bool{}
	for _, c := range claims {
		if v := formatValue(c.Ours); !seen[v] {
			seen[v] = true
			distinct = append(distinct, v)
		}
	}
	return strings.Join(distinct, ", ")
}

// summary is an outcome's backend, profile, claims held and notebook seconds
// as the report's first table shows them ("–" where there is no RESULT).
func summary(o Outcome) (backend, profile, held, secs string) {
	backend, profile, held, secs = "–", "–", "–", "–"
	if r := o.Result; r != nil {
		backend, secs = r.Backend, fmt.Sprintf("%.1f", r.Seconds)
		if r.Precision != "" && r.Precision != "float32" {
			backend += " (" + r.Precision + ")"
		}
		if r.FromCache {
			secs += " (some runs read from cache)"
		}
		if r.Profile != "" {
			profile = r.Profile
		}
		held = claimsSummary(r)
	}
	return backend, profile, held, secs
}

// claimsSummary is the report's claims column: "replicated k of n
// pre-registered" for a notebook with a claim record, else how many of its
// (legacy, not pre-registered) asserted claims held.
func claimsSummary(r *notebook.Result) string {
	if k, n := r.Replicated(); n > 0 {
		s := fmt.Sprintf("replicated %d of %d pre-registered", k, n)
		differ, checks := 0, 0
		for _, c := range r.Claims {
			if c.Preregistered() && c.Status != c.Expected {
				differ++
			}
		}
		for _, c := range r.Checks {
			if !c.Holds {
				checks++
			}
		}
		if differ > 0 {
			s += fmt.Sprintf("; %d differ from the record", differ)
		}
		if checks > 0 {
			s += fmt.Sprintf("; %d sanity checks fail", checks)
		}
		return s
	}
	n := 0
	for _, c := range r.Claims {
		if c.Holds {
			n++
		}
	}
	return fmt.Sprintf("%d/%d held (not pre-registered)", n, len(r.Claims))
}

// section is one table of a notebook's claims in the report; bad marks the
// rows that make the run fail.
type section struct {
	title  string
	header []string
	rows   [][]string
	bad    []bool
}

// claimSections are the tables of a result: the pre-registered claims
// (measured status beside the recorded one, interval, p, n), legacy
// asserted claims, sanity checks and findings.
func claimSections(r *notebook.Result) []section {
	pre := section{header: []string{"claim", "quantity", "paper", "replicated when", "ours", "CI", "p", "n", "status", "recorded"}}
	legacy := section{title: "Claims (asserted, not pre-registered)", header: []string{"claim", "paper", "ours", "tolerance", "holds"}}
	for _, c := range r.Claims {
		if c.Preregistered() {
			recorded := c.Expected
			if c.Reason != "" {
				recorded += ": " + c.Reason
			}
			test := c.Test
			if test == "" {
				test = formatValue(c.Tolerance)
			}
			pre.rows = append(pre.rows, []string{c.ID, c.Name, formatValue(c.Paper), test, formatValue(c.Ours),
				orDash(notebook.FormatCI(c.CI)), orDash(notebook.FormatP(c.P)), fmt.Sprint(c.N), c.Status, recorded})
			pre.bad = append(pre.bad, c.Status != c.Expected)
			continue
		}
		legacy.rows = append(legacy.rows, []string{c.Name, formatValue(c.Paper), formatValue(c.Ours), formatValue(c.Tolerance), yesNo(c.Holds)})
		legacy.bad = append(legacy.bad, !c.Holds)
	}
	if k, n := r.Replicated(); n > 0 {
		pre.title = fmt.Sprintf("Pre-registered claims: replicated %d of %d", k, n)
	}
	checks := section{title: "Sanity checks (must hold)", header: []string{"check", "ours", "holds"}}
	for _, c := range r.Checks {
		checks.rows = append(checks.rows, []string{c.Name, formatValue(c.Ours), yesNo(c.Holds)})
		checks.bad = append(checks.bad, !c.Holds)
	}
	findings := section{title: "Findings (compared, not asserted)", header: []string{"finding", "paper", "ours", "tolerance", "holds"}}
	for _, c := range r.Findings {
		findings.rows = append(findings.rows, []string{c.Name, formatValue(c.Paper), formatValue(c.Ours), formatValue(c.Tolerance), yesNo(c.Holds)})
		findings.bad = append(findings.bad, false)
	}
	var out []section
	for _, s := range []section{pre, legacy, checks, findings} {
		if len(s.rows) > 0 {
			out = append(out, s)
		}
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func writeSectionMD(b *strings.Builder, s section) {
	fmt.Fprintf(b, "%s:\n\n|", s.title)
	for _, h := range s.header {
		fmt.Fprintf(b, " %s |", plugin.MarkdownCell(h))
	}
	b.WriteString("\n|" + strings.Repeat("---|", len(s.header)) + "\n")
	for i, row := range s.rows {
		b.WriteString("|")
		for j, cell := range row {
			if j == len(row)-1 && s.bad[i] {
				cell = "**" + cell + "**"
			}
			fmt.Fprintf(b, " %s |", plugin.MarkdownCell(cell))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

const htmlHead = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>gorepro report</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}.ok{color:#17702a;font-weight:600}.failed{color:#b00020;font-weight:600}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
</style></head><body>
`

// HTMLReport renders the outcomes as one self-contained HTML page (figures inlined).
func HTMLReport(outDir string, outcomes []Outcome) string {
	return htmlReport(outDir, outcomes, nil)
}

func htmlReport(outDir string, outcomes []Outcome, notes []reportNote) string {
	var b strings.Builder
	b.WriteString(htmlHead)
	fmt.Fprintf(&b, "<h1>gorepro report</h1>\n<p>Generated %s.</p>\n", html.EscapeString(now().UTC().Format("2006-01-02 15:04 MST")))
	sweep := isSweep(outcomes)
	b.WriteString("<table><tr><th>notebook</th>")
	if sweep {
		b.WriteString("<th>parameters</th>")
	}
	b.WriteString("<th>status</th><th>backend</th><th>profile</th><th>claims</th><th>seconds (notebook)</th><th>seconds (with kernel start)</th></tr>\n")
	for _, o := range outcomes {
		backend, profile, held, secs := summary(o)
		fmt.Fprintf(&b, "<tr><td><a href=\"%s\">%s</a></td>", html.EscapeString(rel(outDir, o.Executed)), html.EscapeString(filepath.Base(o.Notebook)))
		if sweep {
			fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(orDash(o.Run)))
		}
		fmt.Fprintf(&b, "<td class=\"%s\">%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			strings.ToLower(status(o)), status(o), html.EscapeString(backend), html.EscapeString(profile), held, html.EscapeString(secs), wallSeconds(o))
	}
	b.WriteString("</table>\n")
	for _, g := range acrossRuns(outcomes) {
		fmt.Fprintf(&b, "<h2>%s: %d runs</h2>\n<table><tr><th>claim</th><th>paper</th><th>held</th><th>ours (min / mean / max)</th></tr>\n", html.EscapeString(g.notebook), g.runs)
		for _, c := range g.claims {
			fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%d/%d</td><td>%s</td></tr>\n", html.EscapeString(c.name), html.EscapeString(c.paper), c.held, c.n, html.EscapeString(c.ours))
		}
		b.WriteString("</table>\n")
	}
	for _, o := range outcomes {
		fmt.Fprintf(&b, "<h2>%s</h2>\n", html.EscapeString(heading(o)))
		if len(o.Params) > 0 {
			fmt.Fprintf(&b, "<p>Parameters: <code>%s</code></p>\n", html.EscapeString(paramsText(o.Params, "")))
		}
		if o.Err != "" {
			fmt.Fprintf(&b, "<p class=\"failed\">Failed: %s</p>", html.EscapeString(o.Err))
			if o.LogFile != "" {
				fmt.Fprintf(&b, "<p>Log: <code>%s</code></p>", html.EscapeString(rel(outDir, o.LogFile)))
			}
			b.WriteString("\n")
		}
		if r := o.Result; r != nil {
			for _, sec := range claimSections(r) {
				writeSectionHTML(&b, sec)
			}
		}
		for i, f := range o.Figures {
			svg, err := os.ReadFile(filepath.Join(outDir, f))
			if err != nil {
				continue
			}
			fmt.Fprintf(&b, "<figure><img alt=\"%s figure %d\" src=\"data:image/svg+xml;base64,%s\"></figure>\n",
				html.EscapeString(filepath.Base(o.Notebook)), i+1, base64.StdEncoding.EncodeToString(svg))
		}
	}
	for _, n := range notes {
		if len(n.items) == 0 {
			continue
		}
		fmt.Fprintf(&b, "<h2>%s</h2>\n<p>%s</p>\n<ul>\n", html.EscapeString(n.title), html.EscapeString(n.intro))
		for _, item := range n.items {
			fmt.Fprintf(&b, "<li>%s</li>\n", html.EscapeString(item))
		}
		b.WriteString("</ul>\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

func writeSectionHTML(b *strings.Builder, s section) {
	fmt.Fprintf(b, "<h3>%s</h3>\n<table><tr>", html.EscapeString(s.title))
	for _, h := range s.header {
		fmt.Fprintf(b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr>\n")
	for i, row := range s.rows {
		b.WriteString("<tr>")
		for j, cell := range row {
			cls := ""
			if j == len(row)-1 {
				cls = " class=\"ok\""
				if s.bad[i] {
					cls = " class=\"failed\""
				}
			}
			fmt.Fprintf(b, "<td%s>%s</td>", cls, html.EscapeString(cell))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
}

// formatValue prints a claim value for the report; "–" for none.
func formatValue(v any) string {
	if s := notebook.FormatValue(v); s != "" {
		return s
	}
	return "–"
}
