package stats

import "fmt"

// Row is one metric over units (seeds) with its mean interval, a row of
// SeedTable.
type Row struct {
	Name     string
	Values   []float64
	Interval Interval // MeanInterval(Values, level)
}

// SeedRows returns one Row per metric: names[i] with values[i] and its
// MeanInterval at level. A name without values gets an empty row (n = 0);
// values without a name are named "row i" (i from 0).
func SeedRows(level float64, names []string, values [][]float64) []Row {
	rows := make([]Row, max(len(names), len(values)))
	for i := range rows {
		if i < len(names) {
			rows[i].Name = names[i]
		} else {
			rows[i].Name = fmt.Sprintf("row %d", i)
		}
		if i < len(values) {
			rows[i].Values = values[i]
		}
		rows[i].Interval = MeanInterval(rows[i].Values, level)
	}
	return rows
}

// SeedTable returns a text table of metrics over seeds (or other units) for
// notebooks: the header is name, n, mean ± std, "<level·100>% CI",
// unit 0, unit 1, … (as many unit columns as the longest row), and each row
// is the metric's name, its number of values, "mean ± std", the Student t
// interval "[lo, hi]" (see MeanInterval) and its values, every number
// formatted %.4g (NaN and ±Inf print as NaN, +Inf, -Inf; a row shorter
// than the longest has empty trailing cells). Names and values pair as in
// SeedRows.
func SeedTable(level float64, names []string, values [][]float64) (header []string, rows [][]string) {
	rs := SeedRows(level, names, values)
	width := 0
	for _, r := range rs {
		width = max(width, len(r.Values))
	}
	header = []string{"name", "n", "mean ± std", fmt.Sprintf("%.4g%% CI", level*100)}
	for j := range width {
		header = append(header, fmt.Sprintf("unit %d", j))
	}
	for _, r := range rs {
		iv := r.Interval
		row := []string{
			r.Name,
			fmt.Sprint(iv.N),
			fmt.Sprintf("%.4g ± %.4g", iv.Mean, iv.Std),
			fmt.Sprintf("[%.4g, %.4g]", iv.Lo, iv.Hi),
		}
		for j := range width {
			cell := ""
			if j < len(r.Values) {
				cell = fmt.Sprintf("%.4g", r.Values[j])
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}
	return header, rows
}
