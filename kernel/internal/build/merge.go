package build

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"sort"
	"strings"
)

// declarations are what GoNB carries from one cell to the next, keyed as
// GoNB v0.11.5 keys them (internal/goexec/parser.go): imports by alias or by
// the last word of their path (dot-imports by ".~path"), functions by name
// (methods by "Type~name"), variables, types and constants by name. A later
// cell's declaration with the same key replaces the earlier one.
type declarations struct {
	imports   map[string]importDecl
	functions map[string]function
	variables map[string]*variable
	types     map[string]string
	constants map[string]*constant
}

type importDecl struct{ alias, path string }

// function is a function's doc comment (rendered before it, as GoNB does)
// and its text.
type function struct{ doc, def string }

// variable is one name of a var spec; the names of `var a, b = f()` share
// one tuple and are rendered (and replaced) together.
type variable struct {
	name, typ, value string
	tuple            *[]*variable
}

// constant is one name of a const declaration; prev and next keep the
// names of one `const ( … )` block together and in order (iota).
type constant struct {
	name, typ, value string
	prev, next       *constant
}

func newDeclarations() *declarations {
	return &declarations{imports: map[string]importDecl{}, functions: map[string]function{},
		variables: map[string]*variable{}, types: map[string]string{}, constants: map[string]*constant{}}
}

// copy returns a shallow copy: entries are never modified once parsed.
func (d *declarations) copy() *declarations {
	c := newDeclarations()
	c.merge(d)
	return c
}

// merge adds d2's declarations to d, replacing those with the same key; a
// variable replaced out of a tuple takes the whole earlier tuple with it.
func (d *declarations) merge(d2 *declarations) {
	for k, v := range d2.imports {
		d.imports[k] = v
	}
	for k, v := range d2.functions {
		d.functions[k] = v
	}
	for k, v := range d2.variables {
		if old, ok := d.variables[k]; ok && old.tuple != nil && old.tuple != v.tuple {
			for _, other := range *old.tuple {
				delete(d.variables, other.name)
			}
		}
		d.variables[k] = v
	}
	for k, v := range d2.types {
		d.types[k] = v
	}
	for k, v := range d2.constants {
		d.constants[k] = v
	}
}

var defaultImportName = regexp.MustCompile(`^.*?(\w[\w0-9_]*)\s*$`)

// importKey is GoNB's key of an import.
func importKey(path, alias string) string {
	switch {
	case alias == ".":
		return ".~" + path
	case alias != "":
		return alias
	}
	if m := defaultImportName.FindStringSubmatch(path); len(m) == 2 {
		return m[1]
	}
	return path
}

// parseGo parses one Go file (a cell's code after `package main`) into its
// declarations and its main function's text ("" when it has none).
func parseGo(src string) (*declarations, string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", src, parser.SkipObjectResolution|parser.ParseComments)
	if err != nil {
		return nil, "", err
	}
	text := func(n ast.Node) string { return src[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset] }
	d := newDeclarations()
	for _, imp := range f.Imports {
		alias := ""
		if imp.Name != nil {
			alias = imp.Name.Name
		}
		path := strings.Trim(imp.Path.Value, "\"`")
		d.imports[importKey(path, alias)] = importDecl{alias: alias, path: path}
	}
	main := ""
	for _, decl := range f.Decls {
		switch decl := decl.(type) {
		case *ast.FuncDecl:
			key := decl.Name.Name
			if decl.Recv != nil && len(decl.Recv.List) > 0 {
				typeName := "unknown"
				switch t := decl.Recv.List[0].Type.(type) {
				case *ast.Ident:
					typeName = t.Name
				case *ast.StarExpr:
					typeName = text(t.X)
				}
				key = typeName + "~" + key
			}
			if key == "main" {
				main = text(decl)
				continue
			}
			fn := function{def: text(decl)}
			if decl.Doc != nil {
				fn.doc = text(decl.Doc) + "\n"
			}
			d.functions[key] = fn
		case *ast.GenDecl:
			switch decl.Tok {
			case token.VAR:
				parseVars(d, decl, text)
			case token.CONST:
				parseConsts(d, decl, text)
			case token.TYPE:
				for _, spec := range decl.Specs {
					ts := spec.(*ast.TypeSpec)
					d.types[ts.Name.Name] = text(ts)
				}
			}
		}
	}
	return d, main, nil
}

func parseVars(d *declarations, decl *ast.GenDecl, text func(ast.Node) string) {
	for _, spec := range decl.Specs {
		vs := spec.(*ast.ValueSpec)
		typ := ""
		if vs.Type != nil {
			typ = text(vs.Type)
		}
		var tuple *[]*variable
		if len(vs.Names) > 0 && len(vs.Values) == 1 {
			tuple = &[]*variable{}
		}
		for i, name := range vs.Names {
			v := &variable{name: name.Name, typ: typ, tuple: tuple}
			if i < len(vs.Values) {
				v.value = text(vs.Values[i])
			}
			if tuple != nil {
				*tuple = append(*tuple, v)
			}
			key := v.name
			if key == "_" {
				// GoNB gives each blank variable a key of its own.
				key = fmt.Sprintf("_~%06d", len(d.variables))
			}
			d.variables[key] = v
		}
	}
}

func parseConsts(d *declarations, decl *ast.GenDecl, text func(ast.Node) string) {
	var prev *constant
	for _, spec := range decl.Specs {
		vs := spec.(*ast.ValueSpec)
		typ := ""
		if vs.Type != nil {
			typ = text(vs.Type)
		}
		for i, name := range vs.Names {
			c := &constant{name: name.Name, typ: typ, prev: prev}
			if prev != nil {
				prev.next = c
			}
			prev = c
			if i < len(vs.Values) {
				c.value = text(vs.Values[i])
			}
			d.constants[c.name] = c
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// render writes the program GoNB compiles for a cell, in GoNB's order:
// imports, types, constants, variables, functions (init_* renamed init),
// each sorted by key, then the cell's main.
func (d *declarations) render(main string) string {
	var b strings.Builder
	b.WriteString("package main\n\n")
	if len(d.imports) > 0 {
		b.WriteString("import (\n")
		for _, k := range sortedKeys(d.imports) {
			imp := d.imports[k]
			b.WriteString("\t")
			if imp.alias != "" {
				b.WriteString(imp.alias + " ")
			}
			fmt.Fprintf(&b, "%q\n", imp.path)
		}
		b.WriteString(")\n\n")
	}
	if len(d.types) > 0 {
		for _, k := range sortedKeys(d.types) {
			fmt.Fprintf(&b, "type %s\n", d.types[k])
		}
		b.WriteString("\n")
	}
	var heads []string
	for k, c := range d.constants {
		if c.prev == nil {
			heads = append(heads, k)
		}
	}
	sort.Strings(heads)
	for _, k := range heads {
		c := d.constants[k]
		if c.next == nil {
			fmt.Fprintf(&b, "const %s\n\n", c.spec())
			continue
		}
		b.WriteString("const (\n")
		for ; c != nil; c = c.next {
			fmt.Fprintf(&b, "\t%s\n", c.spec())
		}
		b.WriteString(")\n\n")
	}
	if len(d.variables) > 0 {
		b.WriteString("var (\n")
		for _, k := range sortedKeys(d.variables) {
			v := d.variables[k]
			names := v.name
			if v.tuple != nil {
				if (*v.tuple)[0] != v {
					continue
				}
				var all []string
				for _, t := range *v.tuple {
					all = append(all, t.name)
				}
				names = strings.Join(all, ", ")
			}
			b.WriteString("\t" + names)
			if v.typ != "" {
				b.WriteString(" " + v.typ)
			}
			if v.value != "" {
				b.WriteString(" = " + v.value)
			}
			b.WriteString("\n")
		}
		b.WriteString(")\n\n")
	}
	for _, k := range sortedKeys(d.functions) {
		fn := d.functions[k]
		if strings.HasPrefix(k, initPrefix) {
			fn.def = strings.Replace(fn.def, k, "init", 1)
		}
		b.WriteString(fn.doc + fn.def + "\n\n")
	}
	if main == "" {
		main = stubMain
	}
	b.WriteString("\n" + main + "\n")
	return b.String()
}

// initPrefix marks functions GoNB renders as `func init()`.
const initPrefix = "init_"

// stubMain is GoNB's main for a cell that declares none.
const stubMain = "func main() { flag.Parse() }"

func (c *constant) spec() string {
	s := c.name
	if c.typ != "" {
		s += " " + c.typ
	}
	if c.value != "" {
		s += " = " + c.value
	}
	return s
}

// keepImports drops the imports whose keys are not in used (goimports'
// verdict on the rendered program) and adds those goimports added.
func (d *declarations) keepImports(used map[string]importDecl) {
	for k := range d.imports {
		if _, ok := used[k]; !ok {
			delete(d.imports, k)
		}
	}
	for k, v := range used {
		if _, ok := d.imports[k]; !ok {
			d.imports[k] = v
		}
	}
}
