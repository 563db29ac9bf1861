// Command program is the program a %%bench cell runs, as GoNB receives it
// less this package clause: Generate (in the parent package) puts the cell's
// statements where setupStatements and timedStatements are called, and the
// flags' values in place of benchBackends, benchRuns and benchWarmup, which
// cell.go declares so that this file compiles (and gofmt and vet see it).
// The statements are inlined where `backend` is declared by backends.New,
// so that its type needs no import of github.com/gomlx/compute; the
// benchmark's own names start with bench.
package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/notebook"
)

func main() {
	// benchCall runs f; a panic (GoMLX reports errors so) becomes an error.
	benchCall := func(f func()) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		f()
		return nil
	}
	benchFormat := func(d time.Duration) string {
		s := d.Seconds()
		switch {
		case s >= 1:
			return fmt.Sprintf("%.3g s", s)
		case s >= 1e-3:
			return fmt.Sprintf("%.3g ms", s*1e3)
		case s >= 1e-6:
			return fmt.Sprintf("%.3g µs", s*1e6)
		}
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	}
	// benchRun times one backend; a backend that fails to load or to run gets a row saying why.
	benchRun := func(benchName string) (benchRow []string, benchMedian time.Duration, benchOK bool) {
		backend, benchSpec, benchErr := backends.New(benchName)
		if benchErr != nil {
			return []string{benchName, "0", "not run: " + benchErr.Error()}, 0, false
		}
		defer backend.Finalize()
		var benchTimed func()
		if err := benchCall(func() {
			setupStatements(backend)
			benchTimed = func() {
				timedStatements()
			}
		}); err != nil {
			return []string{benchSpec.String(), "0", fmt.Sprintf("failed in setup: %v", err)}, 0, false
		}
		for i := range benchWarmup {
			if err := benchCall(benchTimed); err != nil {
				return []string{benchSpec.String(), "0", fmt.Sprintf("failed in warm-up run %d: %v", i+1, err)}, 0, false
			}
		}
		benchTimes := make([]time.Duration, benchRuns)
		for i := range benchTimes {
			start := time.Now()
			if err := benchCall(benchTimed); err != nil {
				return []string{benchSpec.String(), fmt.Sprint(i), fmt.Sprintf("failed in timed run %d: %v", i+1, err)}, 0, false
			}
			benchTimes[i] = time.Since(start)
		}
		slices.Sort(benchTimes)
		n := len(benchTimes)
		benchMedian = benchTimes[n/2]
		if n%2 == 0 {
			benchMedian = (benchTimes[n/2-1] + benchMedian) / 2
		}
		return []string{benchSpec.String(), fmt.Sprint(n), benchFormat(benchMedian), benchFormat(benchTimes[0])}, benchMedian, true
	}

	var rows [][]string
	var medians []time.Duration
	first := -1 // the first backend that ran: the ratios' reference
	for _, name := range benchBackends {
		row, median, ok := benchRun(name)
		if ok && first < 0 {
			first = len(rows)
		}
		if !ok {
			median = -1
		}
		rows, medians = append(rows, row), append(medians, median)
	}
	ratio := "median ÷ first"
	if first >= 0 {
		ratio = "median ÷ " + rows[first][0]
		for i, m := range medians {
			if m >= 0 {
				rows[i] = append(rows[i], fmt.Sprintf("%.2f×", float64(m)/float64(max(medians[first], 1))))
			}
		}
	}
	notebook.Table([]string{"backend", "runs", "median", "min", ratio}, rows)
}
