package notebook

import (
	"fmt"
	"strings"
	"time"
)

// Progress prints one line per update interval for a long loop: step, percent,
// metrics, elapsed and estimated time left. Lines go to standard output, which
// GoNB streams live and `gorepro run` relays to the terminal.
type Progress struct {
	label    string
	total    int
	every    time.Duration
	start    time.Time
	last     time.Time
	lastStep int
}

// NewProgress starts a progress report for total steps, printing at most every 2 seconds.
func NewProgress(label string, total int) *Progress {
	now := time.Now()
	return &Progress{label: label, total: total, every: 2 * time.Second, start: now, last: now}
}

// Every changes the minimum interval between lines.
func (p *Progress) Every(d time.Duration) *Progress { p.every = d; return p }

// Metric is a named value shown on a progress line.
type Metric struct {
	Name  string
	Value float64
}

// Update reports that step steps are done; it prints only if the interval has
// passed (or step is the last one).
func (p *Progress) Update(step int, metrics ...Metric) {
	p.lastStep = step
	if time.Since(p.last) < p.every && step < p.total {
		return
	}
	p.last = time.Now()
	fmt.Fprintln(output, p.line(step, metrics))
}

// Done prints the final line.
func (p *Progress) Done(metrics ...Metric) {
	fmt.Fprintln(output, p.line(p.lastStep, metrics)+" done")
}

func (p *Progress) line(step int, metrics []Metric) string {
	elapsed := time.Since(p.start)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d/%d", p.label, step, p.total)
	if p.total > 0 {
		fmt.Fprintf(&b, " (%3.0f%%)", 100*float64(step)/float64(p.total))
	}
	for _, m := range metrics {
		fmt.Fprintf(&b, " %s=%.4g", m.Name, m.Value)
	}
	fmt.Fprintf(&b, " [%s", elapsed.Round(100*time.Millisecond))
	if step > 0 && step < p.total {
		left := time.Duration(float64(elapsed) / float64(step) * float64(p.total-step))
		fmt.Fprintf(&b, ", ~%s left", left.Round(time.Second))
	}
	b.WriteString("]")
	return b.String()
}
