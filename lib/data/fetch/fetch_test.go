package fetch

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorepro/gorepro/lib/data/beir"
	"github.com/gorepro/gorepro/lib/data/cifar"
	"github.com/gorepro/gorepro/lib/data/mnist"
)

// request is what the fixture server saw.
type request struct{ path, rangeHdr, ifRange string }

// server serves files by their base name (so /orig/x and /mirror/x are the
// same file) with Range support, and can misbehave as a test asks.
type server struct {
	*httptest.Server
	mu          sync.Mutex
	files       map[string][]byte
	seen        []request
	dropAfter   int  // the first request of each file sends this many bytes, then the connection drops
	ignoreRange bool // always 200 with the whole file
	status      int  // answer every request with this status
}

func newServer(t *testing.T, files map[string][]byte) *server {
	s := &server{files: files}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := path.Base(r.URL.Path)
	s.mu.Lock()
	first := true
	for _, q := range s.seen {
		if path.Base(q.path) == name {
			first = false
		}
	}
	s.seen = append(s.seen, request{r.URL.Path, r.Header.Get("Range"), r.Header.Get("If-Range")})
	data, ok := s.files[name]
	s.mu.Unlock()
	if s.status != 0 {
		http.Error(w, "fixture failure", s.status)
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	if s.dropAfter > 0 && first {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusOK)
		w.Write(data[:s.dropAfter])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection is cut
	}
	if s.ignoreRange {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data)
		return
	}
	w.Header().Set("ETag", etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.seen...)
}

// closedURL is the base URL of a server that is no longer listening.
func closedURL() string {
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	return s.URL
}

// entry is one fixture file.
type entry struct {
	name string
	data []byte
}

// fixture is a data set of files served under base, with the digests the
// test computes (algo md5 or sha256) and, if withSize, sizes.
func fixture(name, base, algo string, withSize bool, files []entry, root, dir string, want ...string) Dataset {
	ds := Dataset{Name: name, Description: "test fixture", Root: root, Dir: dir, Want: want}
	for _, e := range files {
		var sum []byte
		if algo == "md5" {
			s := md5.Sum(e.data)
			sum = s[:]
		} else {
			s := sha256.Sum256(e.data)
			sum = s[:]
		}
		f := File{URL: base + "/orig/" + e.name, Digest: Digest{algo, hex.EncodeToString(sum)}, Source: "computed by the test"}
		if withSize {
			f.Size = int64(len(e.data))
		}
		ds.Files = append(ds.Files, f)
	}
	return ds
}

func serve(t *testing.T, files []entry) *server {
	m := map[string][]byte{}
	for _, e := range files {
		m[e.name] = e.data
	}
	return newServer(t, m)
}

func gz(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tarEntry is a tar member: a directory when data is nil and link empty,
// a symbolic link when link is set.
type tarEntry struct {
	name string
	data []byte
	link string
}

func tarball(t testing.TB, entries ...tarEntry) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}
		switch {
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		case e.data == nil:
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zipball(t testing.TB, files ...entry) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range files {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func mnistFiles(t *testing.T) []entry {
	var out []entry
	for _, split := range []struct {
		prefix string
		n      int
	}{{"train", 12}, {"t10k", 5}} {
		im, labels, err := mnist.Synthetic(split.n, 3)
		if err != nil {
			t.Fatal(err)
		}
		var bi, bl bytes.Buffer
		if err := mnist.WriteImages(&bi, im); err != nil {
			t.Fatal(err)
		}
		if err := mnist.WriteLabels(&bl, labels); err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{split.prefix + "-images-idx3-ubyte.gz", gz(t, bi.Bytes())}, entry{split.prefix + "-labels-idx1-ubyte.gz", gz(t, bl.Bytes())})
	}
	return out
}

func cifarTarGz(t *testing.T, classes int) []byte {
	tr, te, err := cifar.Fixture(classes, 30, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(s *cifar.Set) []byte {
		var b bytes.Buffer
		if err := cifar.Write(&b, s); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	if classes == 10 {
		return gz(t, tarball(t, tarEntry{name: "cifar-10-batches-bin/"},
			tarEntry{name: "cifar-10-batches-bin/data_batch_1.bin", data: enc(tr)},
			tarEntry{name: "cifar-10-batches-bin/test_batch.bin", data: enc(te)},
			tarEntry{name: "cifar-10-batches-bin/batches.meta.txt", data: []byte("airplane\n")}))
	}
	return gz(t, tarball(t, tarEntry{name: "cifar-100-binary/"},
		tarEntry{name: "cifar-100-binary/train.bin", data: enc(tr)},
		tarEntry{name: "cifar-100-binary/test.bin", data: enc(te)}))
}

func beirZip(t *testing.T, name string) []byte {
	dir := t.TempDir()
	ds := &beir.Dataset{
		Corpus:  []beir.Doc{{ID: "d1", Title: "T", Text: "cells divide"}, {ID: "d2", Text: "stars shine"}},
		Queries: []beir.Query{{ID: "q1", Text: "do cells divide"}},
		Qrels:   map[string]map[string]int{"q1": {"d1": 1}},
	}
	if err := beir.Write(dir, "test", ds); err != nil {
		t.Fatal(err)
	}
	var files []entry
	for _, rel := range []string{"corpus.jsonl", "queries.jsonl", "qrels/test.tsv"} {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, entry{name + "/" + rel, data})
	}
	return zipball(t, files...)
}

// options are a test's Options: cache dir, progress into buf, no mirror
// from the environment, quick retries.
func options(t *testing.T, dir string, buf *bytes.Buffer) Options {
	t.Setenv(EnvMirror, "")
	opts := Options{Dir: dir, retryWait: time.Millisecond}
	if buf != nil {
		opts.Progress = buf
	}
	return opts
}

// TestGet: each format downloads, verifies, unpacks into the layout its
// loader reads (the loader then reads it), and a second Get uses the cache.
func TestGet(t *testing.T) {
	for _, tc := range []struct {
		name  string
		algo  string
		files func(t *testing.T) []entry
		root  string
		dir   string
		want  []string
		load  func(dir string) (int, error) // returns the number of items read
		count int
	}{
		{"mnist", "md5", mnistFiles, "", "mnist",
			[]string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"},
			func(dir string) (int, error) {
				im, _, err := mnist.Load(dir, "train")
				if err != nil {
					return 0, err
				}
				te, _, err := mnist.Load(dir, "t10k")
				if err != nil {
					return 0, err
				}
				// the idx files are unpacked, not read through their .gz
				if _, err := os.Stat(filepath.Join(dir, "train-images-idx3-ubyte.gz")); err == nil {
					return 0, errors.New("a .gz in the data directory")
				}
				return len(im.Pixels) + len(te.Pixels), nil
			}, 17},
		{"cifar10", "sha256", func(t *testing.T) []entry { return []entry{{"cifar-10-binary.tar.gz", cifarTarGz(t, 10)}} },
			"cifar-10-batches-bin", "cifar-10-batches-bin", []string{"data_batch_1.bin", "test_batch.bin"},
			func(dir string) (int, error) {
				tr, te, err := cifar.Load(dir, 10)
				if err != nil {
					return 0, err
				}
				return len(tr.Labels) + len(te.Labels), nil
			}, 40},
		{"cifar100", "sha256", func(t *testing.T) []entry { return []entry{{"cifar-100-binary.tar.gz", cifarTarGz(t, 100)}} },
			"cifar-100-binary", "cifar-100-binary", []string{"train.bin", "test.bin"},
			func(dir string) (int, error) {
				tr, te, err := cifar.Load(dir, 100)
				if err != nil {
					return 0, err
				}
				return len(tr.Labels) + len(te.Labels), nil
			}, 40},
		{"beir-scifact", "md5", func(t *testing.T) []entry { return []entry{{"scifact.zip", beirZip(t, "scifact")}} },
			"scifact", "beir/scifact", []string{"corpus.jsonl", "queries.jsonl", "qrels/test.tsv"},
			func(dir string) (int, error) {
				ds, err := beir.Load(dir, "test")
				if err != nil {
					return 0, err
				}
				coll, err := beir.LoadCollection(filepath.Dir(dir), "test")
				if err != nil || len(coll) != 1 {
					return 0, fmt.Errorf("collection: %d, %v", len(coll), err)
				}
				return len(ds.Corpus) + len(ds.Queries), nil
			}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := tc.files(t)
			srv := serve(t, files)
			ds := fixture(tc.name, srv.URL, tc.algo, true, files, tc.root, tc.dir, tc.want...)
			cache := t.TempDir()
			var log bytes.Buffer
			dir, err := GetDataset(context.Background(), ds, options(t, cache, &log))
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(cache, filepath.FromSlash(tc.dir)); dir != want {
				t.Errorf("dir %s, want %s", dir, want)
			}
			n, err := tc.load(dir)
			if err != nil || n != tc.count {
				t.Errorf("the loader read %d items (%v), want %d", n, err, tc.count)
			}
			if !ds.Cached(cache) {
				t.Error("not cached after Get")
			}
			for _, f := range ds.Files {
				if _, err := os.Stat(filepath.Join(cache, "downloads", f.Name())); err != nil {
					t.Error(err)
				}
			}
			if left, _ := os.ReadDir(filepath.Join(cache, ".partial")); len(left) != 0 {
				t.Errorf(".partial holds %v after a good download", left)
			}
			if !strings.Contains(log.String(), "verified "+tc.algo) || !strings.Contains(log.String(), "ready in "+dir) {
				t.Errorf("progress:\n%s", log.String())
			}
			before := len(srv.requests())
			log.Reset()
			if dir2, err := GetDataset(context.Background(), ds, options(t, cache, &log)); err != nil || dir2 != dir {
				t.Fatalf("second Get: %s, %v", dir2, err)
			}
			if after := len(srv.requests()); after != before || !strings.Contains(log.String(), "already in") {
				t.Errorf("second Get made %d requests; progress %q", after-before, log.String())
			}
			// A marker of other digests (the table changed) is not a cache hit.
			changed := ds
			changed.Files = append([]File(nil), ds.Files...)
			changed.Files[0].Digest.Hex = strings.Repeat("0", len(ds.Files[0].Digest.Hex))
			if changed.Cached(cache) {
				t.Error("a marker of other digests counts as cached")
			}
		})
	}
}

// The connection drops midway: the next request asks for the rest with
// Range and If-Range (the ETag), within one Get or in the next one.
func TestResume(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	files := []entry{{"big.bin", data}}
	for _, tc := range []struct {
		name     string
		attempts int
	}{{"same call", 0}, {"next call", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, files)
			srv.dropAfter = 20000
			ds := fixture("big", srv.URL, "sha256", true, files, "", "big", "big.bin")
			cache := t.TempDir()
			var log bytes.Buffer
			opts := options(t, cache, &log)
			opts.Attempts = tc.attempts
			_, err := GetDataset(context.Background(), ds, opts)
			if tc.attempts == 1 {
				if err == nil || !strings.Contains(err.Error(), "run again to resume") || strings.Contains(err.Error(), "\n") {
					t.Fatalf("a dropped connection with one attempt: %v", err)
				}
				info, serr := os.Stat(filepath.Join(cache, ".partial", "big.bin.part"))
				if serr != nil || info.Size() != 20000 {
					t.Fatalf("the partial file: %v, %v", info, serr)
				}
				if _, err := os.Stat(filepath.Join(cache, "downloads", "big.bin")); err == nil {
					t.Fatal("a partial download under the final name")
				}
				_, err = GetDataset(context.Background(), ds, opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(cache, "big", "big.bin"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("resumed file differs (%v)", err)
			}
			reqs := srv.requests()
			if len(reqs) != 2 || reqs[0].rangeHdr != "" || reqs[1].rangeHdr != "bytes=20000-" || reqs[1].ifRange == "" {
				t.Errorf("requests %+v, want a plain one then Range bytes=20000- with If-Range", reqs)
			}
			if !strings.Contains(log.String(), "resuming at 20.0 kB") {
				t.Errorf("progress:\n%s", log.String())
			}
		})
	}
}

// A server that ignores Range sends the whole file again: the partial
// file is restarted, not appended to.
func TestServerIgnoresRange(t *testing.T) {
	data := bytes.Repeat([]byte("xyz"), 10000)
	files := []entry{{"f.bin", data}}
	srv := serve(t, files)
	srv.ignoreRange = true
	ds := fixture("f", srv.URL, "md5", false, files, "", "f", "f.bin")
	cache := t.TempDir()
	part := filepath.Join(cache, ".partial", "f.bin.part")
	if err := os.MkdirAll(filepath.Dir(part), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(part, []byte("stale bytes from an older attempt"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if _, err := GetDataset(context.Background(), ds, options(t, cache, &log)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(cache, "f", "f.bin")); !bytes.Equal(got, data) {
		t.Error("the file is not the server's")
	}
	if reqs := srv.requests(); len(reqs) != 1 || reqs[0].rangeHdr != "bytes=33-" {
		t.Errorf("requests %+v", reqs)
	}
	if !strings.Contains(log.String(), "ignored the range request") {
		t.Errorf("progress:\n%s", log.String())
	}
}

// What fails verification is removed and named in one line; nothing is
// left under the final name.
func TestBadDownloads(t *testing.T) {
	good := bytes.Repeat([]byte("good data "), 1000)
	for _, tc := range []struct {
		name     string
		served   []byte
		withSize bool
		status   int
		want     []string
	}{
		{"truncated, size published", good[:5000], true, 0, []string{"checksum mismatch: got 5000 bytes, want 10000", "/orig/d.bin"}},
		{"truncated, no size published", good[:5000], false, 0, []string{"checksum mismatch: got sha256 ", ", want ", "/orig/d.bin", "removed"}},
		{"wrong checksum", append([]byte("evil"), good[4:]...), true, 0, []string{"checksum mismatch: got sha256 ", ", want ", "/orig/d.bin", "removed"}},
		{"server error", good, true, http.StatusInternalServerError, []string{"/orig/d.bin: the server answered 500 Internal Server Error"}},
		{"not found", good, true, http.StatusNotFound, []string{"the server answered 404 Not Found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, []entry{{"d.bin", tc.served}})
			srv.status = tc.status
			ds := fixture("d", srv.URL, "sha256", tc.withSize, []entry{{"d.bin", good}}, "", "d", "d.bin")
			cache := t.TempDir()
			_, err := GetDataset(context.Background(), ds, options(t, cache, nil))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of several lines: %q", err)
			}
			if strings.Contains(tc.name, "checksum") && !strings.Contains(err.Error(), ds.Files[0].Digest.Hex) {
				t.Errorf("error %q does not name the expected digest", err)
			}
			if tc.status == 0 && !errors.Is(err, ErrChecksum) {
				t.Errorf("%v is not ErrChecksum", err)
			}
			for _, p := range []string{"downloads/d.bin", ".partial/d.bin.part", "d/d.bin"} {
				if _, err := os.Stat(filepath.Join(cache, p)); err == nil {
					t.Errorf("%s left behind", p)
				}
			}
		})
	}
}

// A copy placed in downloads/ by hand is verified: a good one is used
// without the network, a bad one removed with the error.
func TestHandCopy(t *testing.T) {
	data := []byte("hand-copied data")
	ds := fixture("h", closedURL(), "md5", true, []entry{{"h.bin", data}}, "", "h", "h.bin")
	for _, tc := range []struct {
		name    string
		content []byte
		wantErr string
	}{{"good", data, ""}, {"bad", []byte("hand-copied DATA"), "a copy in "}} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			p := filepath.Join(cache, "downloads", "h.bin")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := GetDataset(context.Background(), ds, options(t, cache, nil))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v", err)
			}
			if _, err := os.Stat(p); err == nil {
				t.Error("the bad copy was kept")
			}
		})
	}
}

// A directory that cannot be written, or a full disk, is one line naming
// the path and the cause.
func TestUnwritable(t *testing.T) {
	files := []entry{{"u.bin", bytes.Repeat([]byte("u"), 5000)}}
	srv := serve(t, files)
	ds := fixture("u", srv.URL, "sha256", true, files, "", "u", "u.bin")
	t.Run("not a directory", func(t *testing.T) {
		blocker := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(blocker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := GetDataset(context.Background(), ds, options(t, filepath.Join(blocker, "cache"), nil))
		if err == nil || !strings.Contains(err.Error(), "cannot write "+blocker) || !strings.Contains(err.Error(), "not a directory") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("disk full", func(t *testing.T) {
		saved := partWriter
		defer func() { partWriter = saved }()
		partWriter = func(f *os.File) io.Writer {
			return writerFunc(func([]byte) (int, error) {
				return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
			})
		}
		cache := t.TempDir()
		_, err := GetDataset(context.Background(), ds, options(t, cache, nil))
		want := "cannot write " + filepath.Join(cache, ".partial", "u.bin.part") + ": no space left on device"
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("error %v, want %q", err, want)
		}
		if _, err := os.Stat(filepath.Join(cache, "downloads", "u.bin")); err == nil {
			t.Error("a file under the final name")
		}
	})
}

// Archive entries that would land outside the target are refused, and
// nothing is written outside it.
func TestPathTraversal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string
		archive func(t *testing.T) []byte
		want    string
	}{
		{"tar dot-dot", "a.tar.gz", func(t *testing.T) []byte {
			return gz(t, tarball(t, tarEntry{name: "ok/x", data: []byte("x")}, tarEntry{name: "../../evil", data: []byte("x")}))
		}, `"../../evil" escapes the target directory`},
		{"tar nested dot-dot", "b.tgz", func(t *testing.T) []byte {
			return gz(t, tarball(t, tarEntry{name: "ok/../../../evil", data: []byte("x")}))
		}, "escapes the target directory"},
		{"tar absolute", "c.tar.gz", func(t *testing.T) []byte {
			return gz(t, tarball(t, tarEntry{name: "/tmp/evil", data: []byte("x")}))
		}, "escapes the target directory"},
		{"tar symlink", "d.tar.gz", func(t *testing.T) []byte {
			return gz(t, tarball(t, tarEntry{name: "ok/link", link: "../../.."}, tarEntry{name: "ok/link/evil", data: []byte("x")}))
		}, "is not a file or directory"},
		{"zip dot-dot", "e.zip", func(t *testing.T) []byte {
			return zipball(t, entry{"ok/x", []byte("x")}, entry{"../evil", []byte("x")})
		}, `"../evil" escapes the target directory`},
		{"zip backslash", "f.zip", func(t *testing.T) []byte {
			return zipball(t, entry{`ok\..\..\evil`, []byte("x")})
		}, "backslash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := []entry{{tc.file, tc.archive(t)}}
			srv := serve(t, files)
			ds := fixture("trav", srv.URL, "sha256", true, files, "ok", "trav", "x")
			parent := t.TempDir()
			cache := filepath.Join(parent, "a", "cache")
			_, err := GetDataset(context.Background(), ds, options(t, cache, nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			filepath.WalkDir(parent, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.Name() == "evil" {
					t.Errorf("%s was written", p)
				}
				return nil
			})
			if _, err := os.Stat(filepath.Join(cache, "trav")); err == nil {
				t.Error("the data set directory exists")
			}
		})
	}
}

// The mirror ($GOREPRO_DATA_MIRROR or Options.Mirror; http or file) is
// asked for each file by name; the original host is not contacted.
func TestMirror(t *testing.T) {
	files := []entry{{"m.zip", zipball(t, entry{"m/a.txt", []byte("a")})}}
	srv := serve(t, files)
	ds := fixture("m", closedURL(), "sha256", true, files, "m", "m", "a.txt")
	mirrorDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(mirrorDir, "m.zip"), files[0].data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, env, option string
	}{
		{"environment", srv.URL + "/mirror/", ""},
		{"option over environment", "http://127.0.0.1:1/nothing", srv.URL + "/mirror"},
		{"file URL", "", "file://" + filepath.ToSlash(mirrorDir)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			opts := options(t, cache, nil)
			t.Setenv(EnvMirror, tc.env)
			opts.Mirror = tc.option
			before := len(srv.requests())
			if _, err := GetDataset(context.Background(), ds, opts); err != nil {
				t.Fatal(err)
			}
			reqs := srv.requests()[before:]
			if strings.HasPrefix(tc.option, "file:") {
				if len(reqs) != 0 {
					t.Errorf("requests %+v with a file mirror", reqs)
				}
				return
			}
			if len(reqs) != 1 || reqs[0].path != "/mirror/m.zip" {
				t.Errorf("requests %+v, want /mirror/m.zip", reqs)
			}
		})
	}
}

// With no connection, the error names each file's URL and the exact path
// to copy it to; a copy put there is then used.
func TestOffline(t *testing.T) {
	files := []entry{{"o1.gz", gz(t, []byte("one"))}, {"o2.gz", gz(t, []byte("two"))}}
	base := closedURL()
	ds := fixture("o", base, "md5", true, files, "", "o", "o1", "o2")
	cache := t.TempDir()
	_, err := GetDataset(context.Background(), ds, options(t, cache, nil))
	if err == nil || !errors.Is(err, ErrOffline) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %v", err)
	}
	for _, f := range ds.Files {
		want := f.URL + " to " + filepath.Join(cache, "downloads", f.Name())
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, e := range files {
		if err := os.WriteFile(filepath.Join(cache, "downloads", e.name), e.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := GetDataset(context.Background(), ds, options(t, cache, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "o2")); string(got) != "two" {
		t.Errorf("o2 = %q", got)
	}
}

// Progress lines give bytes, percent and rate, at most one a second.
func TestProgress(t *testing.T) {
	data := bytes.Repeat([]byte("p"), 1<<20)
	files := []entry{{"p.bin", data}}
	srv := serve(t, files)
	ds := fixture("p", srv.URL, "sha256", true, files, "", "p", "p.bin")
	var log bytes.Buffer
	opts := options(t, t.TempDir(), &log)
	var mu sync.Mutex
	clock := time.Unix(0, 0)
	opts.clock = func() time.Time { // 100 ms a call
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(100 * time.Millisecond)
		return clock
	}
	if _, err := GetDataset(context.Background(), ds, opts); err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^fetch: p: p\.bin: (done: )?[0-9.]+ [kM]?B of 1\.0 MB \(\d+%\), [0-9.]+ [kM]?B/s$`)
	var progress, calls int
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		if strings.Contains(l, "%") {
			progress++
			if !line.MatchString(l) {
				t.Errorf("progress line %q", l)
			}
		}
	}
	mu.Lock()
	calls = int(clock.Sub(time.Unix(0, 0)) / (100 * time.Millisecond))
	mu.Unlock()
	if progress < 2 || progress > calls/10+2 {
		t.Errorf("%d progress lines over %d clock readings (%.1f s):\n%s", progress, calls, float64(calls)/10, log.String())
	}
	if !strings.Contains(log.String(), "done: 1.0 MB of 1.0 MB (100%)") {
		t.Errorf("no final line:\n%s", log.String())
	}
}

// An unknown name is one line listing the known ones; an unavailable entry
// says why.
func TestLookup(t *testing.T) {
	_, err := Get(context.Background(), "imagenet", Options{Dir: t.TempDir()})
	if err == nil || !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "known: ") ||
		!strings.Contains(err.Error(), "mnist") || !strings.Contains(err.Error(), "beir-scifact") || strings.Contains(err.Error(), "\n") {
		t.Errorf("unknown name: %v", err)
	}
	_, err = Get(context.Background(), "nanobeir-scifact", Options{Dir: t.TempDir()})
	if err == nil || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "Parquet") {
		t.Errorf("unavailable: %v", err)
	}
	restore := Override(Dataset{Name: "mnist", Description: "replaced"}, Dataset{Name: "zz-extra"})
	if d, _ := Lookup("mnist"); d.Description != "replaced" {
		t.Error("Override did not replace mnist")
	}
	if _, err := Lookup("zz-extra"); err != nil {
		t.Error(err)
	}
	restore()
	if _, err := Lookup("zz-extra"); err == nil {
		t.Error("restore left the override")
	}
}

func TestCacheDir(t *testing.T) {
	t.Setenv(EnvDir, "/some/where")
	if d, err := CacheDir(); err != nil || d != "/some/where" {
		t.Errorf("with $%s: %s, %v", EnvDir, d, err)
	}
	t.Setenv(EnvDir, "")
	d, err := CacheDir()
	if base, berr := os.UserCacheDir(); berr == nil && (err != nil || d != filepath.Join(base, "gorepro", "data")) {
		t.Errorf("default: %s, %v", d, err)
	}
}

// The pinned table is well formed: every downloadable entry has https URLs,
// a known algorithm with a hex digest of its length, a citation with a
// commit, and files whose names are unique (the mirror layout is flat).
func TestTable(t *testing.T) {
	hexOf := map[string]*regexp.Regexp{"md5": regexp.MustCompile(`^[0-9a-f]{32}$`), "sha256": regexp.MustCompile(`^[0-9a-f]{64}$`)}
	commit := regexp.MustCompile(`commit [0-9a-f]{40}\b`)
	names, files := map[string]bool{}, map[string]string{}
	for _, ds := range table {
		if names[ds.Name] || ds.Name == "" || ds.Description == "" || ds.Dir == "" {
			t.Errorf("%q: duplicate or missing name, description or dir", ds.Name)
		}
		names[ds.Name] = true
		if ds.Unavailable != "" {
			continue
		}
		if len(ds.Files) == 0 || len(ds.Want) == 0 {
			t.Errorf("%s: no files or no wanted files", ds.Name)
		}
		for _, f := range ds.Files {
			if !strings.HasPrefix(f.URL, "https://") {
				t.Errorf("%s: URL %q", ds.Name, f.URL)
			}
			re, ok := hexOf[f.Digest.Algo]
			if !ok || !re.MatchString(f.Digest.Hex) {
				t.Errorf("%s: %s: digest %s", ds.Name, f.URL, f.Digest)
			}
			if !commit.MatchString(f.Source) {
				t.Errorf("%s: %s: source %q cites no commit", ds.Name, f.URL, f.Source)
			}
			if f.Size < 0 {
				t.Errorf("%s: size %d", ds.Name, f.Size)
			}
			if other, dup := files[f.Name()]; dup {
				t.Errorf("%s and %s both have a file %s", other, ds.Name, f.Name())
			}
			files[f.Name()] = ds.Name
		}
	}
	for _, want := range []string{"mnist", "cifar10", "cifar100", "beir-scifact"} {
		if !names[want] {
			t.Errorf("no %s", want)
		}
	}
}

// Fuzzing the archive entry check: an accepted name stays under dir.
func FuzzEntryPath(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a/../../x", "/abs", "./a/", "a/./b/../c", "..", "a\\..\\b", "", ".", "a//b"} {
		f.Add(s)
	}
	dir := filepath.FromSlash("/cache/.partial/x.unpack")
	f.Fuzz(func(t *testing.T, name string) {
		p, err := entryPath(dir, name)
		if err != nil {
			return
		}
		rel, rerr := filepath.Rel(dir, p)
		if rerr != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			t.Fatalf("entry %q accepted as %s (rel %q)", name, p, rel)
		}
	})
}

// Fuzzing untar on arbitrary bytes: an error or files under the target,
// never anything beside it.
func FuzzUntar(f *testing.F) {
	f.Add(tarball(f, tarEntry{name: "d/"}, tarEntry{name: "d/a", data: []byte("a")}))
	f.Add(tarball(f, tarEntry{name: "../x", data: []byte("x")}))
	f.Add(tarball(f, tarEntry{name: "l", link: "/etc"}))
	f.Add([]byte("not a tar"))
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		parent, err := os.MkdirTemp(base, "")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(parent)
		dir := filepath.Join(parent, "target")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		untar(bytes.NewReader(data), dir) // an error is fine
		entries, err := os.ReadDir(parent)
		if err != nil || len(entries) != 1 {
			t.Fatalf("beside the target: %v (%v)", entries, err)
		}
	})
}
