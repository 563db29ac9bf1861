// Package fetch downloads the public data sets gorepro's loaders read
// (MNIST, CIFAR-10, CIFAR-100, BEIR data sets), verifies them against the
// checksums their reference loaders publish and unpacks them into the
// layout lib/data/mnist, lib/data/cifar and lib/data/beir read.
//
//	dir, err := fetch.Get(ctx, "cifar10", fetch.Options{Progress: os.Stderr})
//	train, test, err := cifar.Load(dir, 10)
//
// The cache directory (Options.Dir, else $GOREPRO_DATA, else
// os.UserCacheDir()/gorepro/data) holds:
//
//	.partial/<file>.part     a download under way (resumed with an HTTP Range request)
//	downloads/<file>         a verified download (put a file copied by hand here)
//	mnist/                   the unpacked data sets, each with a .gorepro-data marker
//	cifar-10-batches-bin/
//	cifar-100-binary/
//	beir/<name>/             (beir/ is a NanoBEIR-style collection)
//
// A file is renamed to its final name only once its size and digest are
// verified; a data set with a marker recording the pinned digests is not
// downloaded again. A mirror (Options.Mirror, else $GOREPRO_DATA_MIRROR)
// replaces every URL by <mirror>/<file name>, with the same checksums.
package fetch

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// The environment variables Get reads when Options leaves the setting empty.
const (
	// EnvDir names the cache directory.
	EnvDir = "GOREPRO_DATA"
	// EnvMirror names the mirror base URL.
	EnvMirror = "GOREPRO_DATA_MIRROR"
)

// Errors Get's errors wrap, for errors.Is.
var (
	// ErrUnknown: no data set has that name.
	ErrUnknown = errors.New("unknown data set")
	// ErrUnavailable: the data set is in the table but cannot be downloaded
	// (no published checksum, or a format the loaders do not read).
	ErrUnavailable = errors.New("not downloadable")
	// ErrOffline: the server could not be reached; the error says which
	// file to copy by hand and where.
	ErrOffline = errors.New("cannot connect")
	// ErrChecksum: a file's size or digest is not the published one.
	ErrChecksum = errors.New("checksum mismatch")
)

// Digest is a published checksum of a file.
type Digest struct {
	// Algo is "md5" or "sha256".
	Algo string
	// Hex is the digest in lower-case hexadecimal.
	Hex string
}

// String is algo:hex.
func (d Digest) String() string { return d.Algo + ":" + d.Hex }

// newHash returns the hash of d's algorithm, or an error.
func (d Digest) newHash() (hash.Hash, error) {
	switch d.Algo {
	case "md5":
		return md5.New(), nil
	case "sha256":
		return sha256.New(), nil
	}
	return nil, fmt.Errorf("unsupported digest algorithm %q (md5 or sha256)", d.Algo)
}

// File is one published file of a data set.
type File struct {
	// URL is where the reference loader downloads it; its last element is
	// the file's name (in downloads/ and on a mirror).
	URL string
	// Size is its size in bytes, 0 where none is published.
	Size int64
	// Digest is its published checksum.
	Digest Digest
	// Source cites where URL, Size and Digest were published.
	Source string
}

// Name is the file's name: the last element of its URL.
func (f File) Name() string { return path.Base(f.URL) }

// Dataset is a data set Get can download and unpack.
type Dataset struct {
	// Name is what Get and `gorepro data get` take.
	Name string
	// Description says what it is and which loader reads it.
	Description string
	// Files are downloaded and unpacked by their names' extensions:
	// .tar.gz or .tgz (untarred), .zip (unzipped), .gz (gunzipped into a
	// file without the .gz), anything else copied.
	Files []File
	// Root is the directory, inside what the files unpack to, that holds
	// the data set; "" for the unpacked files themselves.
	Root string
	// Dir is where Root ends up, relative to the cache directory (slash
	// separated); Get returns it joined to the cache directory.
	Dir string
	// Want are the files, relative to Dir, a complete data set has.
	Want []string
	// Unavailable, if not empty, says why the data set cannot be
	// downloaded; Get returns it as an error.
	Unavailable string
}

var (
	tableMu   sync.Mutex
	overrides []Dataset
)

// Datasets returns the data sets Get knows, in order (a copy).
func Datasets() []Dataset {
	tableMu.Lock()
	defer tableMu.Unlock()
	out := slices.Clone(table)
	for _, o := range overrides {
		if i := slices.IndexFunc(out, func(d Dataset) bool { return d.Name == o.Name }); i >= 0 {
			out[i] = o
		} else {
			out = append(out, o)
		}
	}
	return out
}

// Names returns the names of the data sets Get knows, sorted.
func Names() []string {
	var names []string
	for _, d := range Datasets() {
		names = append(names, d.Name)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the data set called name, or an error wrapping ErrUnknown
// that lists the known names.
func Lookup(name string) (Dataset, error) {
	for _, d := range Datasets() {
		if d.Name == name {
			return d, nil
		}
	}
	return Dataset{}, fmt.Errorf("fetch: %w %q (known: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}

// Override makes Datasets, Lookup and Get use ds in place of the entries of
// the same names (or in addition) until restore is called. It is a test
// hook: tests of programs that call Get point entries at a loopback server
// with checksums they computed.
func Override(ds ...Dataset) (restore func()) {
	tableMu.Lock()
	saved := overrides
	overrides = append(slices.Clone(overrides), ds...)
	tableMu.Unlock()
	return func() {
		tableMu.Lock()
		overrides = saved
		tableMu.Unlock()
	}
}

// CacheDir is the default cache directory: $GOREPRO_DATA, else
// os.UserCacheDir()/gorepro/data.
func CacheDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("fetch: no cache directory (set $%s): %w", EnvDir, err)
	}
	return filepath.Join(c, "gorepro", "data"), nil
}

// Options are Get's settings; the zero value is the defaults.
type Options struct {
	// Dir is the cache directory; "" is CacheDir().
	Dir string
	// Mirror is a base URL (http, https or file) under which every file is
	// looked up by its name instead of at its URL; "" is
	// $GOREPRO_DATA_MIRROR, unset for none.
	Mirror string
	// Progress receives progress lines (at most one a second per file);
	// nil for none.
	Progress io.Writer
	// Client makes the requests; nil is a client with connection and
	// response-header timeouts that also serves file:// URLs.
	Client *http.Client
	// Attempts is how many requests a file gets when the connection drops
	// (each resumes where the last one stopped); 0 is 4.
	Attempts int

	retryWait time.Duration    // between attempts; tests set it tiny
	clock     func() time.Time // tests set it
}

// markerName is the file, in a data set's directory, that records what was
// verified and unpacked there.
const markerName = ".gorepro-data"

type marker struct {
	Name  string   `json:"name"`
	Files []string `json:"files"` // "name algo:hex" per file
}

func markerOf(ds Dataset) marker {
	m := marker{Name: ds.Name}
	for _, f := range ds.Files {
		m.Files = append(m.Files, f.Name()+" "+f.Digest.String())
	}
	return m
}

// Path is where ds is (or would be) unpacked under the cache directory dir.
func (ds Dataset) Path(dir string) string { return filepath.Join(dir, filepath.FromSlash(ds.Dir)) }

// Cached reports whether ds is unpacked under the cache directory dir with
// a marker recording its pinned digests and all its Want files.
func (ds Dataset) Cached(dir string) bool {
	data, err := os.ReadFile(filepath.Join(ds.Path(dir), markerName))
	if err != nil {
		return false
	}
	var m marker
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	want := markerOf(ds)
	if m.Name != want.Name || !slices.Equal(m.Files, want.Files) {
		return false
	}
	for _, w := range ds.Want {
		if _, err := os.Stat(filepath.Join(ds.Path(dir), filepath.FromSlash(w))); err != nil {
			return false
		}
	}
	return true
}

// Get makes sure the data set called name is downloaded, verified and
// unpacked in the cache directory, and returns the directory its loader
// reads (mnist.Load(dir, "train"), cifar.Load(dir, 10),
// beir.Load(dir, "test")). See GetDataset.
func Get(ctx context.Context, name string, opts Options) (string, error) {
	ds, err := Lookup(name)
	if err != nil {
		return "", err
	}
	return GetDataset(ctx, ds, opts)
}

// GetDataset is Get for a data set that need not be in the table. Already
// unpacked and verified: it returns at once. Otherwise each file is taken
// from downloads/ when there and verified, else downloaded to
// .partial/<file>.part (resuming a previous attempt), verified (size and
// digest) and renamed into downloads/; then all are unpacked into a
// temporary directory, checked for the Want files, marked and renamed into
// place. Every error is one line: a wrong checksum names the URL and both
// digests (the file is removed), a server error its status, no connection
// the file to copy by hand and where (ErrOffline), a directory that cannot
// be written the path.
func GetDataset(ctx context.Context, ds Dataset, opts Options) (string, error) {
	if ds.Unavailable != "" {
		return "", fmt.Errorf("fetch: %s: %w: %s", ds.Name, ErrUnavailable, ds.Unavailable)
	}
	g, err := newGetter(ds, opts)
	if err != nil {
		return "", err
	}
	dest := ds.Path(g.dir)
	if ds.Cached(g.dir) {
		g.logf("%s: already in %s", ds.Name, dest)
		return dest, nil
	}
	var archives []string
	for i, f := range ds.Files {
		final := filepath.Join(g.dir, "downloads", f.Name())
		if err := g.file(ctx, f, final, ds.Files[i:]); err != nil {
			return "", err
		}
		archives = append(archives, final)
	}
	if err := g.install(archives, dest); err != nil {
		return "", err
	}
	g.logf("%s: ready in %s", ds.Name, dest)
	return dest, nil
}

// getter is one GetDataset call.
type getter struct {
	ds        Dataset
	dir       string
	mirror    string
	progress  io.Writer
	client    *http.Client
	attempts  int
	retryWait time.Duration
	now       func() time.Time
}

func newGetter(ds Dataset, opts Options) (*getter, error) {
	g := &getter{ds: ds, dir: opts.Dir, mirror: opts.Mirror, progress: opts.Progress, client: opts.Client,
		attempts: opts.Attempts, retryWait: opts.retryWait, now: opts.clock}
	if g.dir == "" {
		d, err := CacheDir()
		if err != nil {
			return nil, err
		}
		g.dir = d
	}
	if g.mirror == "" {
		g.mirror = os.Getenv(EnvMirror)
	}
	g.mirror = strings.TrimRight(g.mirror, "/")
	if g.client == nil {
		g.client = defaultClient()
	}
	if g.attempts <= 0 {
		g.attempts = 4
	}
	if g.retryWait == 0 {
		g.retryWait = 2 * time.Second
	}
	if g.now == nil {
		g.now = time.Now
	}
	for _, f := range ds.Files {
		if _, err := f.Digest.newHash(); err != nil {
			return nil, fmt.Errorf("fetch: %s: %s: %w", ds.Name, f.URL, err)
		}
	}
	return g, nil
}

func (g *getter) logf(format string, args ...any) {
	if g.progress != nil {
		fmt.Fprintf(g.progress, "fetch: "+format+"\n", args...)
	}
}

// url is where f is downloaded from: its URL, or its name under the mirror.
func (g *getter) url(f File) string {
	if g.mirror != "" {
		return g.mirror + "/" + f.Name()
	}
	return f.URL
}

// file makes sure the verified f is at final; rest are f and the files
// after it (named in the offline message).
func (g *getter) file(ctx context.Context, f File, final string, rest []File) error {
	if _, err := os.Stat(final); err == nil {
		if err := g.verify(f, final, "a copy in "+filepath.Dir(final)); err != nil {
			return err
		}
		g.logf("%s: %s: verified %s", g.ds.Name, f.Name(), f.Digest.Algo)
		return nil
	}
	part := filepath.Join(g.dir, ".partial", f.Name()+".part")
	// downloads/ is made first: it is where the offline message says to
	// copy a file by hand.
	for _, d := range []string{filepath.Dir(final), filepath.Dir(part)} {
		if err := mkdirAll(d, g.ds.Name); err != nil {
			return err
		}
	}
	if err := g.download(ctx, f, part, rest); err != nil {
		return err
	}
	if err := g.verify(f, part, g.url(f)); err != nil {
		os.Remove(part + ".validator")
		return err
	}
	os.Remove(part + ".validator")
	if err := os.Rename(part, final); err != nil {
		return fmt.Errorf("fetch: %s: %w", g.ds.Name, err)
	}
	g.logf("%s: %s: verified %s, saved as %s", g.ds.Name, f.Name(), f.Digest.Algo, final)
	return nil
}

// verify checks the size and digest of the file at p (which came from
// origin); a mismatch removes it.
func (g *getter) verify(f File, p, origin string) error {
	info, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("fetch: %s: %w", g.ds.Name, err)
	}
	if f.Size > 0 && info.Size() != f.Size {
		os.Remove(p)
		return fmt.Errorf("fetch: %s: %s: %w: got %d bytes, want %d (%s); removed %s", g.ds.Name, origin, ErrChecksum, info.Size(), f.Size, f.Digest, p)
	}
	got, err := fileDigest(p, f.Digest.Algo)
	if err != nil {
		return fmt.Errorf("fetch: %s: %w", g.ds.Name, err)
	}
	if got != strings.ToLower(f.Digest.Hex) {
		os.Remove(p)
		return fmt.Errorf("fetch: %s: %s: %w: got %s %s, want %s; removed %s", g.ds.Name, origin, ErrChecksum, f.Digest.Algo, got, f.Digest.Hex, p)
	}
	return nil
}

// fileDigest is the hex digest (md5 or sha256) of the file at p.
func fileDigest(p, algo string) (string, error) {
	h, err := Digest{Algo: algo}.newHash()
	if err != nil {
		return "", err
	}
	fh, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	if _, err := io.Copy(h, fh); err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// install unpacks archives into a temporary directory and renames the
// data set's root into dest once complete and marked.
func (g *getter) install(archives []string, dest string) error {
	tmp := filepath.Join(g.dir, ".partial", g.ds.Name+".unpack")
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("fetch: %s: %w", g.ds.Name, err)
	}
	defer os.RemoveAll(tmp)
	if err := mkdirAll(tmp, g.ds.Name); err != nil {
		return err
	}
	for _, a := range archives {
		g.logf("%s: unpacking %s", g.ds.Name, filepath.Base(a))
		if err := unpack(a, tmp); err != nil {
			return fmt.Errorf("fetch: %s: %w", g.ds.Name, err)
		}
	}
	src := filepath.Join(tmp, filepath.FromSlash(g.ds.Root))
	for _, w := range g.ds.Want {
		if _, err := os.Stat(filepath.Join(src, filepath.FromSlash(w))); err != nil {
			return fmt.Errorf("fetch: %s: the downloaded files lack %s (want %s in %s)",
				g.ds.Name, path.Join(g.ds.Root, w), strings.Join(g.ds.Want, ", "), path.Join(g.ds.Root)+"/")
		}
	}
	data, err := json.MarshalIndent(markerOf(g.ds), "", "  ")
	if err != nil {
		return fmt.Errorf("fetch: %s: %w", g.ds.Name, err)
	}
	if err := os.WriteFile(filepath.Join(src, markerName), append(data, '\n'), 0o644); err != nil {
		return diskError(g.ds.Name, err)
	}
	if err := mkdirAll(filepath.Dir(dest), g.ds.Name); err != nil {
		return err
	}
	if _, err := os.Lstat(dest); err == nil {
		old := tmp + ".old"
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("fetch: %s: %w", g.ds.Name, err)
		}
		if err := os.Rename(dest, old); err != nil {
			return fmt.Errorf("fetch: %s: replacing %s: %w", g.ds.Name, dest, err)
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(src, dest); err != nil {
		return fmt.Errorf("fetch: %s: %w", g.ds.Name, err)
	}
	return nil
}

// mkdirAll is os.MkdirAll with the one-line error of a directory that
// cannot be written.
func mkdirAll(dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return diskError(name, err)
	}
	return nil
}

// diskError is the one-line error of a failed write: the path and why
// (permission denied, no space left on device, not a directory).
func diskError(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("fetch: %s: cannot write %s: %w", name, pe.Path, pe.Err)
	}
	return fmt.Errorf("fetch: %s: cannot write: %w", name, err)
}
