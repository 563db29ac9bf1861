package built

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

// executed collects a run's outputs per cell, to write the executed
// notebook: the source notebook with each cell's outputs (streams, displays,
// the error of a failed cell) and papermill's record of the run in its
// metadata (input_path, parameters, duration), which `gorepro report` reads.
type executed struct {
	mu      sync.Mutex
	source  string
	values  map[string]any
	outputs map[int][]map[string]any
}

func newExecuted(source string, values map[string]any) *executed {
	return &executed{source: source, values: values, outputs: map[int][]map[string]any{}}
}

// start marks the cell as executed, outputs or not.
func (e *executed) start(cell int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.outputs[cell] == nil {
		e.outputs[cell] = []map[string]any{}
	}
}

// stream appends text to the cell's stream output name (stdout or stderr).
func (e *executed) stream(cell int, name, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	outs := e.outputs[cell]
	if n := len(outs); n > 0 && outs[n-1]["output_type"] == "stream" && outs[n-1]["name"] == name {
		outs[n-1]["text"] = outs[n-1]["text"].(string) + text
		return
	}
	e.outputs[cell] = append(outs, map[string]any{"output_type": "stream", "name": name, "text": text})
}

// display appends a display_data output with the MIME bundle data.
func (e *executed) display(cell int, data map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.outputs[cell] = append(e.outputs[cell], map[string]any{"output_type": "display_data", "data": data, "metadata": map[string]any{}})
}

// fail appends the error output of a failed cell.
func (e *executed) fail(cell int, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.outputs[cell] = append(e.outputs[cell], map[string]any{"output_type": "error", "ename": "ERROR", "evalue": msg, "traceback": []string{msg}})
}

// write writes the executed notebook to path.
func (e *executed) write(path, input string, seconds float64) error {
	data, err := os.ReadFile(e.source)
	if err != nil {
		return fmt.Errorf("reading the notebook: %w", err)
	}
	var nb map[string]any
	if err := json.Unmarshal(data, &nb); err != nil {
		return fmt.Errorf("reading the notebook %s: %w", e.source, err)
	}
	cells, _ := nb["cells"].([]any)
	e.mu.Lock()
	count := 0
	for i, c := range cells {
		cell, ok := c.(map[string]any)
		if !ok || cell["cell_type"] != "code" {
			continue
		}
		outs, ran := e.outputs[i]
		cell["outputs"] = []map[string]any{}
		cell["execution_count"] = nil
		if ran {
			count++
			cell["outputs"] = outs
			cell["execution_count"] = count
		}
	}
	e.mu.Unlock()
	meta, _ := nb["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		nb["metadata"] = meta
	}
	meta["papermill"] = map[string]any{"input_path": input, "parameters": e.values, "duration": seconds,
		"executed_by": "gorepro build"}
	out, err := json.MarshalIndent(nb, "", " ")
	if err != nil {
		return fmt.Errorf("encoding the executed notebook: %w", err)
	}
	if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the executed notebook: %w", err)
	}
	return nil
}
