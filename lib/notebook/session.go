package notebook

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"

	"github.com/gorepro/gorepro/lib/checkout"
)

// Each GoNB cell is a new process, so values computed in one cell reach the
// next through Set and Get: files in a directory private to the running
// kernel. The gorepro kernel creates that directory (0700, exclusively) and
// removes it when it exits; it passes it to cells as $GOREPRO_SESSION_DIR.
// Under another kernel (raw GoNB) the directory is keyed by the kernel's
// process id in the temp directory, and used only if this user created it
// with mode 0700: a directory someone else planted there is refused.
// This is session state, not a cache: a new kernel starts empty.

// EnvSessionDir names the variable through which the gorepro kernel gives
// cells their session directory.
const EnvSessionDir = "GOREPRO_SESSION_DIR"

var validKey = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// SessionDir is the directory that holds this kernel session's values.
func SessionDir() string {
	if dir := os.Getenv(EnvSessionDir); dir != "" {
		return dir
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("gorepro-session-%d-%d", os.Getuid(), os.Getppid()))
}

// sessionDir returns SessionDir after making sure it exists and is private:
// a directory (not a link) owned by this user, with no access for others.
func sessionDir() (string, error) {
	dir := SessionDir()
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("session directory %s: %w", dir, err)
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("session directory %s: %w", dir, err)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !info.IsDir() || info.Mode().Perm()&0o077 != 0 || (ok && int(st.Uid) != os.Getuid()) {
		return "", fmt.Errorf("session directory %s is not a private directory of this user (mode %v): refusing to use it", dir, info.Mode())
	}
	return dir, nil
}

// Set stores v under key for later cells of this kernel session. Values are
// JSON; a value JSON cannot hold (NaN or ±Inf inside) is stored with gob,
// so that a diverged run's numbers reach the next cell unchanged.
func Set(key string, v any) error {
	if !validKey.MatchString(key) {
		return fmt.Errorf("notebook.Set: invalid key %q (letters, digits, . _ - only)", key)
	}
	dir, err := sessionDir()
	if err != nil {
		return fmt.Errorf("notebook.Set(%q): %w", key, err)
	}
	ext, other := ".json", ".gob"
	data, err := json.Marshal(v)
	var unsupported *json.UnsupportedValueError
	if errors.As(err, &unsupported) {
		var buf bytes.Buffer
		if gobErr := gob.NewEncoder(&buf).Encode(v); gobErr != nil {
			return fmt.Errorf("notebook.Set(%q): %v, and gob cannot encode it either: %w", key, err, gobErr)
		}
		data, err, ext, other = buf.Bytes(), nil, ".gob", ".json"
	}
	if err != nil {
		return fmt.Errorf("notebook.Set(%q): %w", key, err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, key+ext), data, 0o600); err != nil {
		return fmt.Errorf("notebook.Set(%q): %w", key, err)
	}
	if err := os.Remove(filepath.Join(dir, key+other)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("notebook.Set(%q): removing the older value: %w", key, err)
	}
	return nil
}

// ErrNotSet is returned by Get for a key no earlier cell has set.
var ErrNotSet = errors.New("not set by an earlier cell in this kernel session: run the notebook's cells in order")

// Get loads the value stored under key into v (a pointer).
func Get(key string, v any) error {
	if !validKey.MatchString(key) {
		return fmt.Errorf("notebook.Get: invalid key %q", key)
	}
	dir, err := sessionDir()
	if err != nil {
		return fmt.Errorf("notebook.Get(%q): %w", key, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, key+".gob")); err == nil {
		if err := gob.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
			return fmt.Errorf("notebook.Get(%q): %w", key, err)
		}
		return nil
	}
	data, err := os.ReadFile(filepath.Join(dir, key+".json"))
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

// EnvCacheDir names the variable that moves every cache of computed results.
const EnvCacheDir = "GOREPRO_CACHE_DIR"

// CacheDir is where notebooks keep the cached results named name:
// $GOREPRO_CACHE_DIR/name when set (the end-to-end tests point it at a fresh
// directory), else build/cache/name in the checkout ($GOREPRO_ROOT, or the
// parent of the notebooks directory).
func CacheDir(name string) string {
	if dir := os.Getenv(EnvCacheDir); dir != "" {
		return filepath.Join(dir, name)
	}
	root := os.Getenv(checkout.EnvRoot)
	if root == "" {
		root = ".."
	}
	return filepath.Join(root, "build", "cache", name)
}
