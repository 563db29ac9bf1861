package notebook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"golang.org/x/mod/modfile"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/checkout"
)

// This file is the one cache of finished runs that the experiments share.
// A run is keyed by everything that changes its numbers: its whole
// configuration, the backend's identity and a hash of the source code that
// computes it. The code hash replaces hand-kept version constants: there is no
// constant to forget to bump when a method changes, so a changed method can
// never be reported with the numbers of the old one.

// CodeHash is a hash of the Go source of the given packages and of every
// package of this module they import, transitively, read from the checkout
// (found by lib/checkout: $GOREPRO_ROOT, or the
// walk up from the working directory), whose go.mod must declare
// checkout.ModulePath. Packages are import paths inside the module, e.g.
// "github.com/gorepro/gorepro/lib/stablemax/experiment".
//
// What is hashed, in a sorted, stable order, each file with its
// module-relative path: the non-test .go files of every package reached
// (all of them, whatever their build constraints), the files they embed
// (//go:embed), and the module's go.mod and go.sum. Imports are found by
// parsing import clauses with go/parser (ImportsOnly), so no Go toolchain is
// needed at run time. Packages outside the module are covered by go.sum's
// pins. Test files are left out: they do not change what a run computes.
//
// Any edit of that code changes the hash, so caches keyed on it need no
// version constant that someone must remember to change.
func CodeHash(packages ...string) (string, error) {
	root, err := projectRoot()
	if err != nil {
		return "", err
	}
	return CodeHashIn(root, packages...)
}

// projectRoot finds the gorepro checkout and checks its go.mod.
func projectRoot() (string, error) {
	l := checkout.Default()
	root, ok := l.Root()
	if !ok {
		return "", fmt.Errorf("notebook: cannot hash the code: no checkout of %s found ($%s is unset and no directory above %s has its go.mod)",
			checkout.ModulePath, checkout.EnvRoot, l.WorkDir)
	}
	mod, err := modulePath(root)
	if env, set := l.LookupEnv(checkout.EnvRoot); err != nil && set && env == root {
		return "", fmt.Errorf("$%s: %w", checkout.EnvRoot, err)
	}
	if err != nil {
		return "", err
	}
	if mod != checkout.ModulePath {
		return "", fmt.Errorf("notebook: cannot hash the code: %s is not a checkout of %s (its go.mod declares module %q)", root, checkout.ModulePath, mod)
	}
	return root, nil
}

// modulePath reads the module path declared by root/go.mod.
func modulePath(root string) (string, error) {
	gomod := filepath.Join(root, "go.mod")
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", fmt.Errorf("notebook: cannot hash the code: %s is not a Go module root: %w", root, err)
	}
	mod := modfile.ModulePath(data)
	if mod == "" {
		return "", fmt.Errorf("notebook: cannot hash the code: %s declares no module path", gomod)
	}
	return mod, nil
}

// CodeHashIn is CodeHash with an explicit module root directory: the
// module's path is read from root/go.mod (tests use a temporary copy of a
// module).
func CodeHashIn(root string, packages ...string) (string, error) {
	if len(packages) == 0 {
		return "", errors.New("notebook: CodeHash: no packages named")
	}
	mod, err := modulePath(root)
	if err != nil {
		return "", err
	}
	files := map[string][]byte{} // module-relative, slash-separated path → content
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			if name == "go.sum" && errors.Is(err, fs.ErrNotExist) {
				continue // a module without dependencies has no go.sum
			}
			return "", fmt.Errorf("notebook: hashing the code: %w", err)
		}
		files[name] = data
	}
	seen := map[string]bool{}
	queue := make([]string, 0, len(packages))
	for _, pkg := range packages {
		if _, ok := relativeTo(mod, pkg); !ok {
			return "", fmt.Errorf("notebook: cannot hash package %q: it is not in module %s (root %s)", pkg, mod, root)
		}
		if !seen[pkg] {
			seen[pkg] = true
			queue = append(queue, pkg)
		}
	}
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		imports, err := readPackage(root, mod, pkg, files)
		if err != nil {
			return "", err
		}
		for _, imp := range imports {
			if _, ok := relativeTo(mod, imp); ok && !seen[imp] {
				seen[imp] = true
				queue = append(queue, imp)
			}
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(files[name]))
		h.Write(files[name])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// relativeTo returns pkg's path inside module mod ("" for the module's root
// package); ok is false for a package outside it.
func relativeTo(mod, pkg string) (rel string, ok bool) {
	if pkg == mod {
		return "", true
	}
	if rest, found := strings.CutPrefix(pkg, mod+"/"); found && rest != "" {
		return rest, true
	}
	return "", false
}

// readPackage adds the non-test Go files of pkg and the files they embed to
// files, and returns the packages they import.
func readPackage(root, mod, pkg string, files map[string][]byte) ([]string, error) {
	rel, _ := relativeTo(mod, pkg)
	dir := filepath.Join(root, filepath.FromSlash(rel))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("notebook: cannot hash package %s: %w", pkg, err)
	}
	var imports []string
	fset := token.NewFileSet()
	count := 0
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue // what the go command ignores, and tests
		}
		file := filepath.Join(dir, name)
		src, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("notebook: cannot hash package %s: %w", pkg, err)
		}
		count++
		files[path.Join(rel, name)] = src
		f, err := parser.ParseFile(fset, file, src, parser.ImportsOnly)
		if err != nil {
			return nil, fmt.Errorf("notebook: cannot hash package %s: reading the imports of %s: %w", pkg, file, err)
		}
		for _, spec := range f.Imports {
			if p, err := strconv.Unquote(spec.Path.Value); err == nil {
				imports = append(imports, p)
			}
		}
		if err := addEmbedded(root, dir, src, files); err != nil {
			return nil, fmt.Errorf("notebook: cannot hash package %s: %w", pkg, err)
		}
	}
	if count == 0 {
		return nil, fmt.Errorf("notebook: cannot hash package %s: no non-test Go files in %s", pkg, dir)
	}
	return imports, nil
}

// addEmbedded adds the files named by the //go:embed directives of src
// (a file of the package in dir) to files: they are part of the code (a
// script the package runs, say).
func addEmbedded(root, dir string, src []byte, files map[string][]byte) error {
	for _, line := range strings.Split(string(src), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "//go:embed")
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		for _, pattern := range embedPatterns(rest) {
			all := strings.HasPrefix(pattern, "all:")
			pattern = strings.TrimPrefix(pattern, "all:")
			matches, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(pattern)))
			if err != nil {
				return fmt.Errorf("//go:embed %s: %w", pattern, err)
			}
			for _, m := range matches {
				err := filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
					if err != nil {
						return err
					}
					hidden := p != m && !all && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_"))
					switch {
					case d.IsDir() && hidden:
						return filepath.SkipDir
					case d.IsDir() || hidden || !d.Type().IsRegular():
						return nil
					}
					rel, err := filepath.Rel(root, p)
					if err != nil {
						return err
					}
					data, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					files[filepath.ToSlash(rel)] = data
					return nil
				})
				if err != nil {
					return fmt.Errorf("//go:embed %s: %w", pattern, err)
				}
			}
		}
	}
	return nil
}

// embedPatterns splits the arguments of a //go:embed directive: space
// separated, each plain or a Go string literal.
func embedPatterns(args string) []string {
	var out []string
	args = strings.TrimSpace(args)
	for args != "" {
		var p string
		if args[0] == '"' || args[0] == '`' {
			quoted, err := strconv.QuotedPrefix(args)
			if err != nil {
				return out
			}
			p, _ = strconv.Unquote(quoted)
			args = args[len(quoted):]
		} else {
			i := strings.IndexAny(args, " \t")
			if i < 0 {
				i = len(args)
			}
			p, args = args[:i], args[i:]
		}
		out = append(out, p)
		args = strings.TrimSpace(args)
	}
	return out
}

// RunCache is a directory of finished runs, keyed by everything that
// changes their numbers: the whole configuration, the backend's identity and
// the hash of the code that computes them (CodeHash). Because the code is
// hashed, no version constant needs bumping when a method changes: a changed
// method misses the cache and is computed again.
//
// A nil *RunCache is "no cache": Load finds nothing, Store keeps nothing, and
// LoadOrCompute always computes.
type RunCache struct {
	dir  string
	code string
}

// OpenRunCache prepares a cache in dir for runs computed by the given
// packages (import paths of this module; their code, and that of the
// module's packages they import, is hashed by CodeHash). It creates nothing:
// Store creates dir. An empty dir gives a cache that only names runs (Key,
// Code): Load finds nothing and Store keeps nothing. An error (the checkout
// cannot be found, so the code cannot be hashed, or a package is not in it)
// names what is missing.
func OpenRunCache(dir string, packages ...string) (*RunCache, error) {
	code, err := CodeHash(packages...)
	if err != nil {
		return nil, err
	}
	return &RunCache{dir: dir, code: code}, nil
}

// OpenRunCacheIn is OpenRunCache with an explicit module root (tests).
func OpenRunCacheIn(root, dir string, packages ...string) (*RunCache, error) {
	code, err := CodeHashIn(root, packages...)
	if err != nil {
		return nil, err
	}
	return &RunCache{dir: dir, code: code}, nil
}

var warnedNoCache sync.Map // dir and packages → true

// OpenRunCacheOrWarn is OpenRunCache for callers that can compute without a
// cache: when the cache cannot be opened it says why on stderr, once per
// process, directory and set of packages, and returns nil, which
// LoadOrCompute takes as "no cache" (runs are computed, not stored). With an
// empty dir (a cache only to name runs) the warning says that runs are
// keyed without a code hash.
func OpenRunCacheOrWarn(dir string, packages ...string) *RunCache {
	c, err := OpenRunCache(dir, packages...)
	if err != nil {
		if _, warned := warnedNoCache.LoadOrStore(dir+"\x00"+strings.Join(packages, " "), true); !warned {
			if dir == "" {
				fmt.Fprintf(os.Stderr, "gorepro: runs of %s are keyed without a hash of their code (older results may be read back): %v\n", strings.Join(packages, ", "), err)
			} else {
				fmt.Fprintf(os.Stderr, "gorepro: computing without the run cache in %s: %v\n", dir, err)
			}
		}
		return nil
	}
	return c
}

// Dir is the cache's directory ("" for a nil cache or one that only names runs).
func (c *RunCache) Dir() string {
	if c == nil {
		return ""
	}
	return c.dir
}

// Code is the hash of the code whose runs the cache holds ("" for a nil cache).
func (c *RunCache) Code() string {
	if c == nil {
		return ""
	}
	return c.code
}

// Key names a run: prefix (readable, e.g. "mlp-tract"), "-", and 16 hex
// digits of a sha256 over the configuration's Go type and every field of it
// (exported or not, followed through pointers and interfaces, maps in sorted
// order, NaN-safe, never a pointer address: see encodeConfig), the backend's
// backends.Identity ("" if b is nil), the code hash and the extra parts, in
// order. A nil cache keys with an empty code hash.
func (c *RunCache) Key(prefix string, config any, b compute.Backend, extra ...string) string {
	identity := ""
	if b != nil {
		identity = backends.Identity(b)
	}
	h := sha256.New()
	part := func(s string) { fmt.Fprintf(h, "%d:%s\n", len(s), s) }
	part(encodeConfig(config))
	part(identity)
	part(c.Code())
	part(strconv.Itoa(len(extra)))
	for _, e := range extra {
		part(e)
	}
	return fmt.Sprintf("%s-%x", prefix, h.Sum(nil)[:8])
}

// Path is dir/key+ext ("" for a cache without a directory); ext includes
// its dot (".json"), or is "" for a directory of the run's own (a
// checkpoint, say).
func (c *RunCache) Path(key, ext string) string {
	if c.Dir() == "" {
		return ""
	}
	return filepath.Join(c.dir, key+ext)
}

// Load reads the finished run stored as JSON under key (dir/key.json) into
// v, a non-nil pointer; found is false when there is none or it is
// unreadable, and then v is left as it was.
func (c *RunCache) Load(key string, v any) (found bool) {
	p := c.Path(key, ".json")
	rv := reflect.ValueOf(v)
	if p == "" || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	fresh := reflect.New(rv.Type().Elem())
	if err := json.Unmarshal(data, fresh.Interface()); err != nil {
		return false
	}
	rv.Elem().Set(fresh.Elem())
	return true
}

// Store writes v as JSON under key (dir/key.json) atomically
// (WriteFileAtomic): a reader sees the old file or the whole new one. A nil
// cache, or one without a directory, stores nothing.
func (c *RunCache) Store(key string, v any) error {
	p := c.Path(key, ".json")
	if p == "" {
		return nil
	}
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("notebook: run cache: encoding %s: %w", p, err)
	}
	if err := WriteFileAtomic(p, data, 0o644); err != nil {
		return fmt.Errorf("notebook: run cache: %w", err)
	}
	return nil
}

// LoadOrCompute returns the run stored under key (fromCache true) when
// there is one that valid accepts (valid nil accepts any), else the run
// compute returns, stored under key. A missing, unreadable or rejected file
// is computed again, not an error. With a nil cache it always computes and
// never stores. An error storing the run is returned with the run.
func LoadOrCompute[T any](c *RunCache, key string, valid func(*T) bool, compute func() (*T, error)) (run *T, fromCache bool, err error) {
	var stored T
	if c.Load(key, &stored) && (valid == nil || valid(&stored)) {
		return &stored, true, nil
	}
	run, err = compute()
	if err != nil {
		return nil, false, err
	}
	return run, false, c.Store(key, run)
}

// encodeConfig writes a configuration in a stable text form for keys:
// its type, and every field, exported or not (what changes the numbers
// need not be exported), pointers and interfaces followed (nil written as
// such, never an address), maps in sorted order, floats exactly (NaN and
// infinities included), nil and empty slices and maps alike. Functions and
// channels are written only as set or nil. Cycles and depth beyond 64 are cut.
func encodeConfig(config any) string {
	var buf bytes.Buffer
	e := encoder{buf: &buf, seen: map[uintptr]bool{}}
	v := reflect.ValueOf(config)
	if v.IsValid() {
		buf.WriteString(v.Type().String() + " ")
	}
	e.value(v, 0)
	return buf.String()
}

type encoder struct {
	buf  *bytes.Buffer
	seen map[uintptr]bool // pointers on the current path
}

func (e *encoder) value(v reflect.Value, depth int) {
	b := e.buf
	if !v.IsValid() {
		b.WriteString("nil")
		return
	}
	if depth > 64 {
		b.WriteString("…")
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		b.WriteString(formatFloat(v.Float(), v.Type().Bits()))
	case reflect.Complex64, reflect.Complex128:
		c, bits := v.Complex(), v.Type().Bits()/2
		b.WriteString("(" + formatFloat(real(c), bits) + "," + formatFloat(imag(c), bits) + "i)")
	case reflect.String:
		b.WriteString(strconv.Quote(v.String()))
	case reflect.Array, reflect.Slice:
		b.WriteString("[")
		for i := range v.Len() {
			if i > 0 {
				b.WriteString(",")
			}
			e.value(v.Index(i), depth+1)
		}
		b.WriteString("]")
	case reflect.Map:
		type kv struct{ k, v string }
		pairs := make([]kv, 0, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			k, val := e.sub(iter.Key(), depth+1), e.sub(iter.Value(), depth+1)
			pairs = append(pairs, kv{k, val})
		}
		sort.Slice(pairs, func(i, j int) bool { return pairs[i].k < pairs[j].k })
		b.WriteString("map[")
		for i, p := range pairs {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(p.k + ":" + p.v)
		}
		b.WriteString("]")
	case reflect.Struct:
		t := v.Type()
		b.WriteString(t.String() + "{")
		for i := range t.NumField() {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(t.Field(i).Name + ":")
			e.value(v.Field(i), depth+1)
		}
		b.WriteString("}")
	case reflect.Pointer:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		p := v.Pointer()
		if e.seen[p] {
			b.WriteString("<cycle>")
			return
		}
		e.seen[p] = true
		b.WriteString("&")
		e.value(v.Elem(), depth+1)
		delete(e.seen, p)
	case reflect.Interface:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		b.WriteString(v.Elem().Type().String() + "(")
		e.value(v.Elem(), depth+1)
		b.WriteString(")")
	default: // functions, channels, unsafe pointers: only whether they are set
		if v.IsNil() {
			b.WriteString(v.Kind().String() + "(nil)")
		} else {
			b.WriteString(v.Kind().String() + "(set)")
		}
	}
}

// sub encodes v on its own (a map's key or value, to sort them).
func (e *encoder) sub(v reflect.Value, depth int) string {
	saved := e.buf
	var buf bytes.Buffer
	e.buf = &buf
	e.value(v, depth)
	e.buf = saved
	return buf.String()
}

// formatFloat writes x exactly (shortest round-trip form; NaN, +Inf, -Inf).
func formatFloat(x float64, bits int) string {
	if math.IsNaN(x) {
		return "NaN"
	}
	return strconv.FormatFloat(x, 'g', -1, bits)
}
