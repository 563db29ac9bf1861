"""Tests of the papermill parameter translator for Go (python/gorepro_papermill).

Golden files: tests/python/golden/<case>.go.txt hold GoTranslator.codify's
output for each case below. Regenerate them after a deliberate change with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/python/test_translator.py

and review the diff: every golden file must stay valid Go (test_golden_is_valid_go
parses them all with gofmt).
"""

import json
import math
import os
import re
import subprocess
import sys
import textwrap

import nbformat
import pytest

# papermill must be imported before gorepro_papermill: importing
# gorepro_papermill first fails with a circular import (see
# test_import_translator_module_first below).
import papermill  # noqa: F401
from gorepro_papermill import GoTranslator

from conftest import GOLDEN_DIR, VENV, go_env, skip_missing

UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"

# name -> (parameters, codify keyword arguments)
GOLDEN_CASES = {
    "ints": ({"seed": 7, "steps": 0, "big": 9223372036854775807}, {}),
    "negative_int": ({"offset": -3}, {}),
    "floats": ({"lr": 0.001, "eps": 1e-08, "one": 1.0, "neg": -2.5, "huge": 1e300, "third": 1 / 3}, {}),
    "nan_inf": ({"a": math.nan, "b": math.inf, "c": -math.inf}, {}),
    "string_plain": ({"profile": "quick", "empty": ""}, {}),
    "string_double_quotes": ({"s": 'say "hi" to "them"'}, {}),
    "string_backslashes": ({"path": "C:\\dir\\file", "re": r"\d+\.\w*", "trail": "end\\"}, {}),
    "string_newlines_tabs": ({"text": "line1\nline2\r\n\tindented", "tab": "a\tb"}, {}),
    "string_unicode": ({"snowman": "\u2603", "emoji": "run \U0001f600 ok", "mixed": "na\u00efve caf\u00e9 \u2014 \u65e5\u672c"}, {}),
    "string_backquote": ({"s": "`raw` and ${x} and %d"}, {}),
    "bools": ({"ok": True, "dry_run": False}, {}),
    "none": ({"p": None}, {}),
    "list_ints": ({"xs": [1, 2, -3]}, {}),
    "list_floats": ({"fs": [0.5, 1e-08, 2.0, 3]}, {}),
    "list_floats_nan": ({"fs": [math.nan, math.inf, -math.inf]}, {}),
    "list_strings": ({"names": ["a", 'b"c', "\u2603"]}, {}),
    "list_bools": ({"flags": [True, False]}, {}),
    "list_empty": ({"xs": []}, {}),
    "list_nested": ({"grid": [[1, 2], [3], []]}, {}),
    "list_of_dicts": ({"rows": [{"a": 1}, {"b": "x"}]}, {}),
    "dict_flat": ({"m": {"a": 1, "b": 2.5, "c": "s", "d": True, "e": None}}, {}),
    "dict_nested": ({"cfg": {"opt": {"lr": 0.1, "betas": [0.9, 0.999]}, "name": "adam"}}, {}),
    "dict_empty": ({"m": {}}, {}),
    "dict_non_string_keys": ({"m": {1: "one", 2.5: "x"}}, {}),
    "empty_parameters": ({}, {}),
    "many_in_order": ({"z": 1, "a": "b", "m": [1], "k": {"x": 1}, "n": None}, {}),
    "custom_comment": ({"seed": 1}, {"comment": "Injected Parameters"}),
}


def golden_path(case):
    return GOLDEN_DIR / f"{case}.go.txt"


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_codify_golden(case):
    params, kwargs = GOLDEN_CASES[case]
    got = GoTranslator.codify(params, **kwargs)
    path = golden_path(case)
    if UPDATE_GOLDEN:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 to create it"
    want = path.read_text(encoding="utf-8")
    assert got == want, f"codify output for {case!r} differs from {path} (UPDATE_GOLDEN=1 regenerates)"


def test_no_stale_golden_files():
    files = {p.name[: -len(".go.txt")] for p in GOLDEN_DIR.glob("*.go.txt")}
    assert files == set(GOLDEN_CASES), "golden files without a case, or cases without a file"


def test_golden_is_valid_go(go_bin, tmp_path):
    """Every golden file parses as Go (gofmt -e reports all syntax errors)."""
    gofmt = os.path.join(os.path.dirname(go_bin), "gofmt")
    for case in GOLDEN_CASES:
        (tmp_path / f"{case}.go").write_text("package p\n\n" + golden_path(case).read_text(encoding="utf-8"), encoding="utf-8")
    r = subprocess.run([gofmt, "-e", "-l", str(tmp_path)], capture_output=True, text=True, env=go_env())
    assert r.returncode == 0 and not r.stderr, r.stderr
    # gofmt -l lists files whose formatting differs: the cells are gofmt-clean too.
    assert r.stdout == "", f"golden cells not gofmt-formatted: {r.stdout}"


def test_codify_shape():
    cell = GoTranslator.codify({"seed": 7, "xs": [1, 2]})
    assert cell == textwrap.dedent(
        """\
        // Parameters
        var papermillParameters = func() bool {
        \tconst papermill_seed = 7
        \tseed = papermill_seed
        \txs = append(xs[:0:0], 1, 2)
        \treturn true
        }()
        """
    )


# --- real compile checks -----------------------------------------------------

DECLARATIONS = """\
var (
	seed        = 1
	lr          = 0.5
	name        = "x"
	ok          = false
	xs          = []int{3}
	fs          = []float64{0.5}
	names       = []string{"a"}
	m           = map[string]any{}
	p       any = 1
	grid    any = 0
	emptyXs     = []int{9}
)
"""

MAIN = """\
func main() {
	out := map[string]any{
		"seed": seed, "lr": lr, "name": name, "ok": ok, "xs": xs, "fs": fs,
		"names": names, "m": m, "p": p, "grid": grid, "emptyXs": emptyXs,
	}
	types := map[string]string{}
	for k, v := range map[string]any{
		"seed": seed, "lr": lr, "name": name, "ok": ok, "xs": xs, "fs": fs,
		"names": names, "m": m, "emptyXs": emptyXs,
	} {
		types[k] = fmt.Sprintf("%T", v)
	}
	out["types"] = types
	out["lr_text"] = strconv.FormatFloat(lr, 'g', -1, 64)
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
"""

INJECTED = {
    "seed": 7,
    "lr": 1,  # a Python int: must stay a float64 in Go
    "name": 'say "hi"\nnew line\ttab \\ back \U0001f600 \u2603',
    "ok": True,
    "xs": [1, 2],
    "fs": [1, 2.5],
    "names": ["p", "q"],
    "m": {"a": 1, "nested": {"b": [1, "two", None]}},
    "p": None,
    "grid": [[1, 2], [3]],
    "emptyXs": [],
}


def go_program(cell, declarations=DECLARATIONS, main=MAIN, imports=("encoding/json", "fmt", "os", "strconv")):
    imp = "\n".join(f'\t"{i}"' for i in imports)
    return f"package main\n\nimport (\n{imp}\n)\n\n{declarations}\n{cell}\n{main}"


def write_module(tmp_path, source):
    (tmp_path / "go.mod").write_text("module paramcheck\n\ngo 1.26\n")
    (tmp_path / "main.go").write_text(source, encoding="utf-8")


def go(tmp_path, *args, timeout=300):
    return subprocess.run(["go", *args], cwd=tmp_path, capture_output=True, text=True, env=go_env(), timeout=timeout)


def test_injected_cell_compiles_and_assigns(go_bin, tmp_path):
    write_module(tmp_path, go_program(GoTranslator.codify(INJECTED)))
    r = go(tmp_path, "run", ".")
    assert r.returncode == 0, f"go run failed:\n{r.stderr}\n--- main.go:\n{(tmp_path / 'main.go').read_text()}"
    out = json.loads(r.stdout)
    types = out.pop("types")
    lr_text = out.pop("lr_text")
    assert out == {
        "seed": 7, "lr": 1, "name": INJECTED["name"], "ok": True, "xs": [1, 2], "fs": [1, 2.5],
        "names": ["p", "q"], "m": INJECTED["m"], "p": None, "grid": [[1, 2], [3]], "emptyXs": [],
    }
    # lr = 1 assigned, not redeclared: it keeps the declared float64 type.
    assert types == {
        "seed": "int", "lr": "float64", "name": "string", "ok": "bool", "xs": "[]int",
        "fs": "[]float64", "names": "[]string", "m": "map[string]interface {}", "emptyXs": "[]int",
    }
    assert lr_text == "1"


def test_injected_nan_inf_compile(go_bin, tmp_path):
    """math.NaN()/math.Inf compile where math is imported (GoNB's goimports adds the import in a notebook)."""
    decl = "var (\n\ta = 0.5\n\tb = 0.5\n\tc = 0.5\n\tfs = []float64{}\n)\n"
    main = 'func main() { fmt.Println(math.IsNaN(a), math.IsInf(b, 1), math.IsInf(c, -1), fs) }\n'
    cell = GoTranslator.codify({"a": math.nan, "b": math.inf, "c": -math.inf, "fs": [math.nan, 1, math.inf]})
    write_module(tmp_path, go_program(cell, decl, main, imports=("fmt", "math")))
    r = go(tmp_path, "run", ".")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "true true true [NaN 1 +Inf]"


# Strings that must survive the trip Python -> Go literal -> Go value unchanged.
ROUND_TRIP_STRINGS = [
    "",
    "plain",
    'double "quotes"',
    "back\\slash\\",
    "new\nline\r\n",
    "tab\there",
    "\u2603 snowman",
    "emoji \U0001f600\U0001f680",
    "combining e\u0301 and CJK \u65e5\u672c\u8a9e",
    "control \x00 \x01 \x1b \x7f",
    "line separator \u2028 paragraph \u2029",
    "`backquote` $x %v {}",
    "\ufeff byte order mark",
]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(s, id=f"s{i}")
        for i, s in enumerate(ROUND_TRIP_STRINGS)
    ],
)
def test_string_round_trip(go_bin, tmp_path, value):
    cell = GoTranslator.codify({"s": value})
    main = "func main() { json.NewEncoder(os.Stdout).Encode(s) }\n"
    write_module(tmp_path, go_program(cell, 'var s = "default"\n', main, imports=("encoding/json", "os")))
    r = go(tmp_path, "run", ".")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == value


def assert_build_fails_at(tmp_path, param, pattern):
    """go build fails, and the first error is on the injected line assigning param."""
    r = go(tmp_path, "build", "-o", os.devnull, ".")
    assert r.returncode != 0, "go build succeeded"
    assert re.search(pattern, r.stderr), r.stderr
    m = re.search(r"main\.go:(\d+):\d+:", r.stderr)
    assert m, r.stderr
    line = (tmp_path / "main.go").read_text(encoding="utf-8").splitlines()[int(m.group(1)) - 1]
    assert line.startswith(f"\t{param} = "), f"error points at {line!r}, not at {param}'s assignment:\n{r.stderr}"
    return r.stderr


@pytest.mark.parametrize(
    "params, param, pattern",
    [
        ({"seed": "seven"}, "seed", r'cannot use papermill_seed \(untyped string constant "seven"\) as int value'),
        ({"seed": 1.5}, "seed", r"cannot use papermill_seed \(untyped float constant 1\.5\) as int value"),
        ({"ok": 1}, "ok", r"cannot use papermill_ok \(untyped int constant 1\) as bool value"),
        ({"xs": ["a"]}, "xs", r'cannot use "a" .* as int value in argument to append'),
        ({"names": [1]}, "names", r"cannot use 1 .* as string value"),
        ({"xs": [[1]]}, "xs", r"cannot use \[\]any\{…\} .* as \[\]int value"),
        ({"name": None}, "name", r"cannot use nil as string value"),
    ],
    ids=["string-into-int", "float-into-int", "int-into-bool", "string-into-int-slice",
         "int-into-string-slice", "nested-into-int-slice", "nil-into-string"],
)
def test_wrong_type_fails_to_build(go_bin, tmp_path, params, param, pattern):
    write_module(tmp_path, go_program(GoTranslator.codify(params)))
    assert_build_fails_at(tmp_path, param, pattern)


def test_wrong_type_error_names_parameter(go_bin, tmp_path):
    write_module(tmp_path, go_program(GoTranslator.codify({"seed": "seven"})))
    r = go(tmp_path, "build", "-o", os.devnull, ".")
    assert r.returncode != 0
    assert "papermill_seed" in r.stderr, r.stderr


def test_undeclared_parameter_fails_to_build(go_bin, tmp_path):
    write_module(tmp_path, go_program(GoTranslator.codify({"seed": 2, "learning_rate": 0.1})))
    stderr = assert_build_fails_at(tmp_path, "learning_rate", r"undefined: learning_rate")
    assert "seed" not in stderr


# --- names ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "name",
    ["1abc", "a-b", "a b", "", "x.y", "a;b", "seed = 1\nfoo", "caf\u00e9x-", "func", "var", "map", "range", "type",
     "go", "chan", "return", "import", "package", 1],
)
def test_codify_rejects_bad_names(name):
    with pytest.raises(ValueError, match="not a Go identifier"):
        GoTranslator.codify({name: 1})


def test_codify_rejects_before_emitting_anything():
    with pytest.raises(ValueError):
        GoTranslator.codify({"good": 1, "for": 2})


@pytest.mark.parametrize("name", ["x", "_x", "X9", "snake_case", "camelCase", "var_", "funcs", "ranges"])
def test_codify_accepts_identifiers(name):
    assert f"\tconst papermill_{name} = 1\n\t{name} = papermill_{name}\n" in GoTranslator.codify({name: 1})


# --- inspect -------------------------------------------------------------------

PARAMETERS_CELL = """\
// Parameters: overridden by papermill.
var (
	profile = "quick" // quick or full
	seed    = 42      // seed of the data noise
	lr      = 0.001   // learning rate
	eps     = 1e-8
	neg     = -1.5    // a negative float
	steps   = -3      // a negative int
	ok      = true    // whether to check
	backend = ""      // "" = default
	xs      = []int{1, 2} // a list
	typed float32 = 0.5 // typed: the declared type wins
)

var single = "one" // a single declaration
var plain = 3
var flag = false // off by default
"""

INSPECT_WANT = [
    ("profile", "string", '"quick"', "quick or full"),
    ("seed", "int", "42", "seed of the data noise"),
    ("lr", "float64", "0.001", "learning rate"),
    ("eps", "float64", "1e-8", ""),
    ("neg", "float64", "-1.5", "a negative float"),
    ("steps", "int", "-3", "a negative int"),
    ("ok", "bool", "true", "whether to check"),
    ("backend", "string", '""', '"" = default'),
    ("xs", "[]int", "[]int{1, 2}", "a list"),
    ("typed", "float32", "0.5", "typed: the declared type wins"),
    ("single", "string", '"one"', "a single declaration"),
    ("plain", "int", "3", ""),
    ("flag", "bool", "false", "off by default"),
]


def test_inspect():
    params = GoTranslator.inspect(nbformat.v4.new_code_cell(PARAMETERS_CELL))
    got = [(p.name, p.inferred_type_name, p.default, p.help) for p in params]
    assert got == INSPECT_WANT


def test_inspect_ignores_non_declarations():
    cell = 'import "fmt"\n\nx := 5\nfunc main() { fmt.Println(x) }\n// var commented = 1\n'
    assert GoTranslator.inspect(nbformat.v4.new_code_cell(cell)) == []


def test_inspect_string_with_slashes():
    cell = 'var url = "http://example.com/x" // where to fetch\n'
    (p,) = GoTranslator.inspect(nbformat.v4.new_code_cell(cell))
    assert (p.name, p.default, p.help) == ("url", '"http://example.com/x"', "where to fetch")


def test_inspect_tour_notebook():
    """The repository's tour notebook lists its four parameters."""
    from conftest import ROOT

    nb = nbformat.read(ROOT / "notebooks" / "00_tour.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    params = GoTranslator.inspect(cell)
    assert [(p.name, p.inferred_type_name, p.default) for p in params] == [
        ("profile", "string", '"quick"'), ("backend", "string", '""'), ("seed", "int", "42"), ("steps", "int", "0"),
    ]


# --- registration ----------------------------------------------------------------

def run_python(code):
    python = VENV / "bin" / "python"
    if not python.exists():
        skip_missing(f"{python} not found")
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120, cwd="/")


def test_registered_by_papermill_import_alone():
    code = textwrap.dedent(
        """\
        import json, sys
        import papermill
        from papermill.translators import papermill_translators as t
        found = {
            "gorepro": t.find_translator("gorepro", "go").__module__ + "." + t.find_translator("gorepro", "go").__name__,
            "gonb": t.find_translator("gonb", "nope").__name__,
            "go": t.find_translator("some-other-go-kernel", "go").__name__,
        }
        found["python3"] = t.find_translator("python3", "python").__name__
        print(json.dumps(found))
        """
    )
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {
        "gorepro": "gorepro_papermill.GoTranslator", "gonb": "GoTranslator", "go": "GoTranslator",
        "python3": "PythonTranslator",
    }


def test_engine_entry_point_registered():
    r = run_python(
        "import papermill\nfrom papermill.engines import papermill_engines as e\n"
        "print(e.get_engine('gorepro').__module__, e.get_engine('gorepro').__name__)"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["gorepro_papermill.engine", "GoEngine"]


def test_import_translator_module_first():
    r = run_python("import gorepro_papermill; print(gorepro_papermill.GoTranslator.__name__)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "GoTranslator"
