package runner

import (
	"encoding/base64"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"time"
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

func holds(c Claim) string {
	if c.Holds {
		return "yes"
	}
	return "**no**"
}

func mdCell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }

// MarkdownReport renders the outcomes as Markdown; figure links are relative to outDir.
func MarkdownReport(outDir string, outcomes []Outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# gorepro report\n\nGenerated %s.\n\n", now().UTC().Format("2006-01-02 15:04 MST"))
	b.WriteString("| notebook | status | backend | profile | claims held | seconds (notebook) | seconds (with kernel start) |\n|---|---|---|---|---|---|---|\n")
	for _, o := range outcomes {
		backend, profile, held, secs := summary(o)
		fmt.Fprintf(&b, "| [%s](%s) | %s | %s | %s | %s | %s | %.1f |\n", filepath.Base(o.Notebook), rel(outDir, o.Executed),
			status(o), mdCell(backend), mdCell(profile), held, secs, o.WallSeconds)
	}
	for _, o := range outcomes {
		fmt.Fprintf(&b, "\n## %s\n\n", filepath.Base(o.Notebook))
		if o.Err != "" {
			fmt.Fprintf(&b, "**Failed:** %s\n\nLog: `%s`\n\n", mdCell(o.Err), rel(outDir, o.LogFile))
		}
		if r := o.Result; r != nil {
			writeClaimsMD(&b, "Claims (asserted)", r.Claims)
			writeClaimsMD(&b, "Findings (compared, not asserted)", r.Findings)
		}
		for i, f := range o.Figures {
			fmt.Fprintf(&b, "![%s figure %d](%s)\n\n", filepath.Base(o.Notebook), i+1, f)
		}
	}
	return b.String()
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
		n := 0
		for _, c := range r.Claims {
			if c.Holds {
				n++
			}
		}
		held = fmt.Sprintf("%d/%d", n, len(r.Claims))
	}
	return backend, profile, held, secs
}

func writeClaimsMD(b *strings.Builder, title string, claims []Claim) {
	if len(claims) == 0 {
		return
	}
	fmt.Fprintf(b, "%s:\n\n| claim | paper | ours | tolerance | holds |\n|---|---|---|---|---|\n", title)
	for _, c := range claims {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", mdCell(c.Name), mdCell(FormatValue(c.Paper)),
			mdCell(FormatValue(c.Ours)), mdCell(FormatValue(c.Tolerance)), holds(c))
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
	var b strings.Builder
	b.WriteString(htmlHead)
	fmt.Fprintf(&b, "<h1>gorepro report</h1>\n<p>Generated %s.</p>\n", html.EscapeString(now().UTC().Format("2006-01-02 15:04 MST")))
	b.WriteString("<table><tr><th>notebook</th><th>status</th><th>backend</th><th>profile</th><th>claims held</th><th>seconds (notebook)</th><th>seconds (with kernel start)</th></tr>\n")
	for _, o := range outcomes {
		backend, profile, held, secs := summary(o)
		fmt.Fprintf(&b, "<tr><td><a href=\"%s\">%s</a></td><td class=\"%s\">%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.1f</td></tr>\n",
			html.EscapeString(rel(outDir, o.Executed)), html.EscapeString(filepath.Base(o.Notebook)),
			strings.ToLower(status(o)), status(o), html.EscapeString(backend), html.EscapeString(profile), held, secs, o.WallSeconds)
	}
	b.WriteString("</table>\n")
	for _, o := range outcomes {
		fmt.Fprintf(&b, "<h2>%s</h2>\n", html.EscapeString(filepath.Base(o.Notebook)))
		if o.Err != "" {
			fmt.Fprintf(&b, "<p class=\"failed\">Failed: %s</p><p>Log: <code>%s</code></p>\n", html.EscapeString(o.Err), html.EscapeString(rel(outDir, o.LogFile)))
		}
		if r := o.Result; r != nil {
			writeClaimsHTML(&b, "Claims (asserted)", r.Claims)
			writeClaimsHTML(&b, "Findings (compared, not asserted)", r.Findings)
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
	b.WriteString("</body></html>\n")
	return b.String()
}

func writeClaimsHTML(b *strings.Builder, title string, claims []Claim) {
	if len(claims) == 0 {
		return
	}
	fmt.Fprintf(b, "<h3>%s</h3>\n<table><tr><th>claim</th><th>paper</th><th>ours</th><th>tolerance</th><th>holds</th></tr>\n", html.EscapeString(title))
	for _, c := range claims {
		cls, txt := "ok", "yes"
		if !c.Holds {
			cls, txt = "failed", "no"
		}
		fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"%s\">%s</td></tr>\n",
			html.EscapeString(c.Name), html.EscapeString(FormatValue(c.Paper)), html.EscapeString(FormatValue(c.Ours)),
			html.EscapeString(FormatValue(c.Tolerance)), cls, txt)
	}
	b.WriteString("</table>\n")
}
