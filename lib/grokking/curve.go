package grokking

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// The metric curve of a checkpointed run is saved beside the checkpoint, so a
// resumed run reports the whole curve.

func saveCurve(path string, run *Run) error {
	data, err := json.Marshal(run.Curve)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("grokking: saving the curve: %w", err)
	}
	return os.Rename(tmp, path)
}

func loadCurve(path string, run *Run) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("grokking: loading the curve: %w", err)
	}
	if err := json.Unmarshal(data, &run.Curve); err != nil {
		return fmt.Errorf("grokking: curve %s is unreadable: %w", path, err)
	}
	return nil
}
