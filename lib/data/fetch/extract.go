package fetch

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// withGzip opens the gzip file at p and hands its decompressed stream to
// use; errors name p.
func withGzip(p string, use func(io.Reader) error) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if err := use(zr); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// unpack unpacks the file at p into dir by its name: .tar.gz or .tgz,
// .zip, .gz (one file, its name less .gz), or else a plain copy.
func unpack(p, dir string) error {
	name := filepath.Base(p)
	switch {
	case strings.HasSuffix(name, ".tar.gz"), strings.HasSuffix(name, ".tgz"):
		return withGzip(p, func(zr io.Reader) error { return untar(zr, dir) })
	case strings.HasSuffix(name, ".zip"):
		if err := unzip(p, dir); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return nil
	case strings.HasSuffix(name, ".gz"):
		return withGzip(p, func(zr io.Reader) error { return writeFile(filepath.Join(dir, strings.TrimSuffix(name, ".gz")), zr) })
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeFile(filepath.Join(dir, name), f)
}

// entryPath is where the archive entry called name goes under dir, or an
// error when the name is empty, absolute, has a backslash or NUL, or
// climbs out of dir with "..".
func entryPath(dir, name string) (string, error) {
	clean := strings.TrimSuffix(name, "/")
	switch {
	case clean == "" || clean == ".":
		return dir, nil
	case strings.ContainsAny(clean, "\\\x00"):
		return "", fmt.Errorf("archive entry %q: a backslash or NUL in the name", name)
	case !filepath.IsLocal(filepath.FromSlash(clean)):
		return "", fmt.Errorf("archive entry %q escapes the target directory", name)
	}
	return filepath.Join(dir, filepath.FromSlash(clean)), nil
}

// untar writes the tar stream r's directories and regular files under dir;
// links and devices are refused.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the tar archive: %w", err)
		}
		p, err := entryPath(dir, h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if sparse(h) {
				// its holes would be written out as zeros, up to any size
				return fmt.Errorf("archive entry %q: a sparse file", h.Name)
			}
			if err := writeFile(p, tr); err != nil {
				return err
			}
		case tar.TypeXGlobalHeader:
		default:
			return fmt.Errorf("archive entry %q: type %q is not a file or directory", h.Name, h.Typeflag)
		}
	}
}

// sparse reports whether h is a PAX sparse file (GNU's old sparse type is
// refused as not a regular file).
func sparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// unzip writes the zip file's directories and regular files under dir;
// symbolic links are refused.
func unzip(p, dir string) error {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return err
	}
	defer zr.Close()
	return unzipFiles(zr.File, dir)
}

func unzipFiles(files []*zip.File, dir string) error {
	for _, f := range files {
		p, err := entryPath(dir, f.Name)
		if err != nil {
			return err
		}
		mode := f.Mode()
		switch {
		case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case mode.IsRegular():
			rc, err := f.Open()
			if err != nil {
				return fmt.Errorf("archive entry %q: %w", f.Name, err)
			}
			err = writeFile(p, rc)
			rc.Close()
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("archive entry %q: mode %v is not a file or directory", f.Name, mode)
		}
	}
	return nil
}

// writeFile writes r to a new file at p (creating its directory); an
// existing one is an error (an archive with the name twice).
func writeFile(p string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return f.Close()
}
