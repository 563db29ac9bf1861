package notebook

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// WriteFileAtomic creates the directory, replaces an existing file, sets
// the permissions and leaves no temporary file behind; a path it cannot
// write is an error naming it, and the old file stays.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "run.json")
	for _, content := range []string{"first", "second"} {
		if err := WriteFileAtomic(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, %v; want 0640", fi.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d entries in the directory, want only run.json", len(entries))
	}
	// A directory where the file should go: the rename fails, and the error names the path.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(blocked, []byte("x"), 0o644); err == nil {
		t.Error("writing over a non-empty directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("a failed write left %d entries, want 2 (a, blocked)", len(entries))
	}
}

// syncDir syncs an existing directory (what WriteFileAtomic does after the
// rename) and reports one it cannot open.
func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := syncDir(dir); err != nil {
		t.Errorf("syncing %s: %v", dir, err)
	}
	if err := syncDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("syncing a missing directory succeeded")
	}
}

// Writers of the same path at the same time (two kernels caching the same
// run) each write through a temporary file of their own: every write
// succeeds, the file is always one writer's whole content, and no temporary
// file is left behind.
func TestWriteFileAtomicConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run.json")
	const writers, writes = 8, 40
	contents := make([][]byte, writers)
	for i := range contents {
		contents[i] = bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*writes) // a write error and a read error per write, at most
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range writes {
				errs <- WriteFileAtomic(path, contents[i], 0o644)
				got, err := os.ReadFile(path)
				if err != nil {
					errs <- err
				} else if !slices.ContainsFunc(contents, func(c []byte) bool { return bytes.Equal(c, got) }) {
					errs <- fmt.Errorf("read back %d bytes that are no writer's whole content", len(got))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name()
		}
		t.Errorf("entries %q, want only run.json: a temporary file was left behind", names)
	}
}

// The directory is synced after the rename (so the rename itself is
// durable), once per write, and not at all when the write fails.
func TestWriteFileAtomicSyncsTheDirectoryAfterTheRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run.json")
	var synced []string
	saved := syncDirAfterRename
	t.Cleanup(func() { syncDirAfterRename = saved })
	syncDirAfterRename = func(d string) error {
		got, err := os.ReadFile(path)
		if err != nil || string(got) != "new" {
			t.Errorf("directory synced before the rename: %s holds %q, %v", path, got, err)
		}
		synced = append(synced, d)
		return saved(d)
	}
	if err := WriteFileAtomic(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(synced, []string{dir}) {
		t.Errorf("synced %q, want [%q]", synced, dir)
	}
	synced = nil
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(blocked, []byte("x"), 0o644); err == nil {
		t.Fatal("writing over a non-empty directory succeeded")
	}
	if len(synced) != 0 {
		t.Errorf("a failed rename still synced %q", synced)
	}
}
