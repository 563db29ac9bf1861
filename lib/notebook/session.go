package notebook

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// Each GoNB cell is a new process, so values computed in one cell reach the
// next through Set and Get: JSON files in a directory that belongs to the
// running kernel (keyed by its process id), gone with the machine's temp files.
// This is session state, not a cache: a new kernel starts empty.

var validKey = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// SessionDir is the directory that holds this kernel session's values.
func SessionDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("gorepro-session-%d", os.Getppid()))
}

// Set stores v (JSON-encodable) under key for later cells of this kernel session.
func Set(key string, v any) error {
	if !validKey.MatchString(key) {
		return fmt.Errorf("notebook.Set: invalid key %q (letters, digits, . _ - only)", key)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("notebook.Set(%q): %w", key, err)
	}
	if err := os.MkdirAll(SessionDir(), 0o700); err != nil {
		return fmt.Errorf("notebook.Set(%q): %w", key, err)
	}
	tmp := filepath.Join(SessionDir(), key+".json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("notebook.Set(%q): %w", key, err)
	}
	return os.Rename(tmp, filepath.Join(SessionDir(), key+".json"))
}

// ErrNotSet is returned by Get for a key no earlier cell has set.
var ErrNotSet = errors.New("not set by an earlier cell in this kernel session: run the notebook's cells in order")

// Get loads the value stored under key into v.
func Get(key string, v any) error {
	if !validKey.MatchString(key) {
		return fmt.Errorf("notebook.Get: invalid key %q", key)
	}
	data, err := os.ReadFile(filepath.Join(SessionDir(), key+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("notebook.Get(%q): %w", key, ErrNotSet)
	}
	if err != nil {
		return fmt.Errorf("notebook.Get(%q): %w", key, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("notebook.Get(%q): %w", key, err)
	}
	return nil
}
