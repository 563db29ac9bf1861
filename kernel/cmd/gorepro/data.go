package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"

	"github.com/gorepro/gorepro/lib/data/fetch"
)

// dataCmd is `gorepro data get [--dir DIR] [--mirror URL] NAME...`, which
// downloads, verifies and unpacks data sets and prints the directory each
// one's loader reads (progress goes to stderr), and `gorepro data get
// --list`.
func dataCmd(args []string) error {
	if len(args) == 0 || args[0] != "get" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			args = []string{"get", "--help"}
		} else {
			return usageError{"data: want `gorepro data get [--dir DIR] [--mirror URL] NAME...` or `gorepro data get --list` (known: " +
				strings.Join(fetch.Names(), ", ") + ")"}
		}
	}
	fs := newFlagSet("data get", "NAME...")
	dir := fs.String("dir", "", "cache directory (default $"+fetch.EnvDir+", else <user cache dir>/gorepro/data)")
	mirror := fs.String("mirror", "", "base URL (http, https, file) holding the files by name, used instead of their hosts (default $"+fetch.EnvMirror+")")
	list := fs.Bool("list", false, "list the data sets: names, files, sizes, checksums, URLs and whether each is cached")
	names, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if *dir == "" {
		if *dir, err = fetch.CacheDir(); err != nil {
			return err
		}
	}
	if *list {
		if len(names) > 0 {
			return usageError{"data get: --list takes no data set names"}
		}
		return listData(os.Stdout, *dir, *mirror)
	}
	if len(names) == 0 {
		return usageError{"data get: no data set named (known: " + strings.Join(fetch.Names(), ", ") + ")"}
	}
	for _, name := range names {
		if _, err := fetch.Lookup(name); err != nil {
			return usageError{fmt.Sprintf("data get: unknown data set %q (known: %s)", name, strings.Join(fetch.Names(), ", "))}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for _, name := range names {
		path, err := fetch.Get(ctx, name, fetch.Options{Dir: *dir, Mirror: *mirror, Progress: os.Stderr})
		if err != nil {
			return err
		}
		fmt.Println(path)
	}
	return nil
}

// listData writes the table of data sets, one row per file.
func listData(w io.Writer, dir, mirror string) error {
	if mirror == "" {
		mirror = os.Getenv(fetch.EnvMirror)
	}
	if mirror == "" {
		mirror = "none"
	}
	fmt.Fprintf(w, "cache: %s\nmirror: %s\n\n", dir, mirror)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCACHED\tFILE\tSIZE\tCHECKSUM\tURL")
	var notes []string
	for _, ds := range fetch.Datasets() {
		cached := "no"
		switch {
		case ds.Unavailable != "":
			cached = "unavailable"
			notes = append(notes, ds.Name+": unavailable: "+ds.Unavailable)
		case ds.Cached(dir):
			cached = "yes: " + ds.Path(dir)
		}
		for i, f := range ds.Files {
			name, c := ds.Name, cached
			if i > 0 {
				name, c = "", ""
			}
			size, digest := "-", "-"
			if f.Size > 0 {
				size = fmt.Sprint(f.Size)
			}
			if f.Digest.Hex != "" {
				digest = f.Digest.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, c, f.Name(), size, digest, f.URL)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	return nil
}
