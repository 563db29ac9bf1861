package plot

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// table is the cell's data: named columns, and rows of cell texts as long as
// the header. An empty text is a missing value.
type table struct {
	columns []string
	rows    [][]string
}

func (t *table) index(name string) int {
	for i, c := range t.columns {
		if c == name {
			return i
		}
	}
	return -1
}

// parseTable reads CSV with a header row, or JSON (an array of row objects or
// an object of column arrays), whichever the body starts with.
func parseTable(body string) (*table, error) {
	trimmed := strings.TrimSpace(body)
	if trimmed == "" {
		return nil, errors.New("empty body: paste CSV with a header row, or JSON rows or columns, below the %%plot line")
	}
	var t *table
	var err error
	if trimmed[0] == '[' || trimmed[0] == '{' {
		t, err = parseJSON(trimmed)
	} else {
		t, err = parseCSV(trimmed)
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, name := range t.columns {
		if strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("column %d has no name", i+1)
		}
		if seen[name] {
			return nil, fmt.Errorf("column %q appears twice", name)
		}
		seen[name] = true
	}
	if len(t.rows) == 0 {
		return nil, fmt.Errorf("no data rows, only the columns %s", strings.Join(t.columns, ", "))
	}
	return t, nil
}

func parseCSV(body string) (*table, error) {
	r := csv.NewReader(strings.NewReader(body))
	r.TrimLeadingSpace = true
	r.Comment = '#'
	records, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("body is not valid CSV: %w", err)
	}
	if len(records) == 0 {
		return nil, errors.New("no header row: the CSV holds only comments")
	}
	t := &table{columns: records[0], rows: records[1:]}
	for i := range t.columns {
		t.columns[i] = strings.TrimSpace(t.columns[i])
	}
	return t, nil
}

// parseJSON reads the JSON with a token stream, to keep the columns in the
// order they are written.
func parseJSON(body string) (*table, error) {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	t := &table{}
	open, err := dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if open == json.Delim('[') {
		err = t.readRows(dec)
	} else {
		err = t.readColumns(dec)
	}
	if err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("body is not valid JSON: more data after the end of the top-level value (byte %d)", dec.InputOffset())
	}
	return t, nil
}

// readRows reads `[{"x": 1, "y": 2}, …]` after its '['. A row's new key adds a column.
func (t *table) readRows(dec *json.Decoder) error {
	for n := 1; dec.More(); n++ {
		if tok, err := dec.Token(); err != nil {
			return err
		} else if tok != json.Delim('{') {
			return fmt.Errorf("row %d is not an object", n)
		}
		row := make([]string, len(t.columns))
		for dec.More() {
			key, value, err := member(dec)
			if err != nil {
				return err
			}
			col := t.index(key)
			if col < 0 {
				t.columns = append(t.columns, key)
				for i := range t.rows {
					t.rows[i] = append(t.rows[i], "")
				}
				row = append(row, "")
				col = len(t.columns) - 1
			}
			row[col] = value
		}
		if _, err := dec.Token(); err != nil { // '}'
			return err
		}
		t.rows = append(t.rows, row)
	}
	_, err := dec.Token() // ']'
	return err
}

// readColumns reads `{"x": [1, 2], "y": [3, 4]}` after its '{'.
func (t *table) readColumns(dec *json.Decoder) error {
	var columns [][]string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name := tok.(string) // object keys are strings
		if tok, err := dec.Token(); err != nil {
			return err
		} else if tok != json.Delim('[') {
			return fmt.Errorf("column %q is not an array", name)
		}
		var values []string
		for dec.More() {
			v, err := value(dec)
			if err != nil {
				return err
			}
			values = append(values, v)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return err
		}
		if t.index(name) >= 0 {
			return fmt.Errorf("column %q appears twice", name)
		}
		if len(columns) > 0 && len(values) != len(columns[0]) {
			return fmt.Errorf("column %q has %d values, column %q has %d", name, len(values), t.columns[0], len(columns[0]))
		}
		t.columns = append(t.columns, name)
		columns = append(columns, values)
	}
	if _, err := dec.Token(); err != nil { // '}'
		return err
	}
	if len(columns) == 0 {
		return errors.New("the JSON object has no columns")
	}
	for i := range columns[0] {
		row := make([]string, len(columns))
		for j := range columns {
			row[j] = columns[j][i]
		}
		t.rows = append(t.rows, row)
	}
	return nil
}

// member reads one `"key": value` of an object.
func member(dec *json.Decoder) (string, string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", "", err
	}
	v, err := value(dec)
	return tok.(string), v, err
}

// value reads one JSON value as cell text: numbers as written, strings as
// they are, null as missing; anything else keeps a text that is not a number.
func value(dec *json.Decoder) (string, error) {
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case nil:
		return "", nil
	case json.Number:
		return v.String(), nil
	case string:
		return v, nil
	default:
		text, _ := json.Marshal(v)
		return string(bytes.TrimSpace(text)), nil
	}
}

// jsonError names a syntax error as such; errors about the table's shape pass unchanged.
func jsonError(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("body is not valid JSON: it ends too early")
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Errorf("body is not valid JSON: %v (byte %d)", err, syntax.Offset)
	}
	return err
}
