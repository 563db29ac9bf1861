package main

import (
	"archive/zip"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorepro/gorepro/lib/data/beir"
	"github.com/gorepro/gorepro/lib/data/fetch"
)

// beirFixture is a BEIR zip (tiny/corpus.jsonl, queries.jsonl,
// qrels/test.tsv) and the data set entry that downloads it from base.
func beirFixture(t *testing.T, base string) ([]byte, fetch.Dataset) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, text := range map[string]string{
		"tiny/corpus.jsonl":   `{"_id":"d1","title":"T","text":"cells divide"}` + "\n" + `{"_id":"d2","text":"stars"}` + "\n",
		"tiny/queries.jsonl":  `{"_id":"q1","text":"do cells divide"}` + "\n",
		"tiny/qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\n",
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(text)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(b.Bytes())
	return b.Bytes(), fetch.Dataset{
		Name: "test-beir", Description: "a test fixture",
		Files: []fetch.File{{URL: base + "/orig/tiny.zip", Size: int64(b.Len()),
			Digest: fetch.Digest{Algo: "md5", Hex: hex.EncodeToString(sum[:])}, Source: "computed by the test"}},
		Root: "tiny", Dir: "beir/tiny", Want: []string{"corpus.jsonl", "queries.jsonl", "qrels/test.tsv"},
	}
}

// zipServer serves its data under any path ending in /tiny.zip and
// records the paths asked for.
type zipServer struct {
	*httptest.Server
	mu    sync.Mutex
	data  []byte
	asked []string
}

func newZipServer(t *testing.T) *zipServer {
	z := &zipServer{}
	z.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		z.mu.Lock()
		z.asked = append(z.asked, r.URL.Path)
		data := z.data
		z.mu.Unlock()
		if path.Base(r.URL.Path) != "tiny.zip" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "tiny.zip", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(z.Close)
	return z
}

func (z *zipServer) paths() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]string(nil), z.asked...)
}

// gorepro data get downloads through the dispatcher, prints the directory
// the loader reads, uses the cache the second time, and --list shows it.
func TestDataGet(t *testing.T) {
	t.Setenv(fetch.EnvMirror, "")
	srv := newZipServer(t)
	var ds fetch.Dataset
	srv.data, ds = beirFixture(t, srv.URL)
	defer fetch.Override(ds)()
	dir := t.TempDir()
	var err error
	out := captureStdout(t, func() { err = run([]string{"data", "get", "--dir", dir, "test-beir"}) })
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "beir", "tiny")
	if out != want+"\n" {
		t.Errorf("stdout %q, want %q", out, want+"\n")
	}
	got, err := beir.Load(strings.TrimSpace(out), "test")
	if err != nil || len(got.Corpus) != 2 || len(got.Queries) != 1 {
		t.Fatalf("beir.Load: %+v, %v", got, err)
	}
	out = captureStdout(t, func() { err = run([]string{"data", "get", "test-beir", "--dir", dir}) })
	if err != nil || out != want+"\n" || len(srv.paths()) != 1 {
		t.Errorf("second get: %q, %v, requests %v", out, err, srv.paths())
	}
	out = captureStdout(t, func() { err = run([]string{"data", "get", "--list", "--dir", dir}) })
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"cache: " + dir, "mirror: none", "NAME", "CHECKSUM",
		"test-beir", "yes: " + want, "tiny.zip", ds.Files[0].Digest.String(), ds.Files[0].URL,
		"mnist ", "train-images-idx3-ubyte.gz", "9912422", "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
		"cifar10 ", "sha256:c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
		"beir-scifact", "md5:5f7d1de60b170fc8027bb7898e2efca1", "nanobeir-scifact: unavailable: "} {
		if !strings.Contains(out, w) {
			t.Errorf("--list lacks %q:\n%s", w, out)
		}
	}
	if !strings.Contains(out, "cifar100  ") || strings.Contains(out, "yes: "+filepath.Join(dir, "cifar")) {
		t.Errorf("--list shows cifar100 cached or not at all:\n%s", out)
	}
}

// --mirror takes the file by name from the mirror; without a connection
// the error says what to copy where.
func TestDataGetMirrorAndOffline(t *testing.T) {
	t.Setenv(fetch.EnvMirror, "")
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	data, ds := beirFixture(t, dead.URL)
	defer fetch.Override(ds)()
	dir := t.TempDir()
	err := run([]string{"data", "get", "--dir", dir, "test-beir"})
	wantPath := filepath.Join(dir, "downloads", "tiny.zip")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "cannot connect") ||
		!strings.Contains(err.Error(), ds.Files[0].URL+" to "+wantPath) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("offline: %v", err)
	}
	srv := newZipServer(t)
	srv.data = data
	out := captureStdout(t, func() {
		err = run([]string{"data", "get", "--dir", dir, "--mirror", srv.URL + "/mirror/", "test-beir"})
	})
	if err != nil || out != filepath.Join(dir, "beir", "tiny")+"\n" {
		t.Fatalf("with --mirror: %q, %v", out, err)
	}
	if p := srv.paths(); len(p) != 1 || p[0] != "/mirror/tiny.zip" {
		t.Errorf("mirror requests %v", p)
	}
}

func TestDataUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"data"}, []string{"data: want `gorepro data get", "known: ", "mnist"}},
		{[]string{"data", "fetch", "mnist"}, []string{"data: want `gorepro data get"}},
		{[]string{"data", "get"}, []string{"data get: no data set named (known: ", "beir-scifact", "cifar10"}},
		{[]string{"data", "get", "imagenet"}, []string{`data get: unknown data set "imagenet" (known: `, "cifar100", "mnist"}},
		{[]string{"data", "get", "--list", "mnist"}, []string{"--list takes no data set names"}},
		{[]string{"data", "get", "--no-such-flag"}, []string{"flag provided but not defined"}},
	} {
		err := run(tc.args)
		if err == nil || exitCode(err) != 2 || strings.Contains(err.Error(), "\n") {
			t.Errorf("gorepro %s: %v (exit %d), want a one-line usage error", strings.Join(tc.args, " "), err, exitCode(err))
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("gorepro %s: %q lacks %q", strings.Join(tc.args, " "), err, w)
			}
		}
	}
	for _, args := range [][]string{{"data", "get", "--help"}, {"data", "-h"}} {
		var err error
		out := captureStdout(t, func() { err = run(args) })
		if err != nil || !strings.Contains(out, "usage: gorepro data get [flags] NAME...") || !strings.Contains(out, "-mirror") || !strings.Contains(out, "-list") {
			t.Errorf("gorepro %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if err := run([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "kernel, data)") {
		t.Errorf("unknown command: %v", err)
	}
}
