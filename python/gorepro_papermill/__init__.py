"""papermill parameter translator for Go notebooks.

papermill injects parameters as a new cell after the cell tagged
``parameters``. For Go (GoNB) that cell declares typed variables::

    var seed = 1
    var lr = 0.001
    var profile = "quick"

The injected cell *assigns* the new values inside one package-level
initialiser instead of redeclaring the variables::

    var papermillParameters = func() bool {
        const papermill_seed = 7
        seed = papermill_seed
        const papermill_lr = 1
        lr = papermill_lr
        return true
    }()

Assignment keeps the declared type (``lr = 1`` stays a float64, where a
redeclaration ``var lr = 1`` would turn it into an int). A parameter the
notebook does not declare fails to compile (``undefined: epochs``), and so does
a value of the wrong type; scalars go through a named constant so that Go's
message names the parameter: ``cannot use papermill_seed (untyped string
constant "seven") as int value in assignment``. Lists are assigned with
``append(x[:0:0], ...)`` so that their elements convert to the declared element
type; dicts become ``map[string]any`` and nested lists ``[]any``.

Importing this module registers the translator for the kernel names ``gorepro``
and ``gonb`` and the language ``go``. The package declares a ``papermill.engine``
entry point, which papermill imports at start-up: installing the package is
enough for the stock ``papermill`` CLI.
"""

import json
import math
import re

from papermill.models import Parameter
from papermill.translators import Translator, papermill_translators

__all__ = ["GoTranslator", "register"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GO_KEYWORDS = {
    "break", "case", "chan", "const", "continue", "default", "defer", "else",
    "fallthrough", "for", "func", "go", "goto", "if", "import", "interface",
    "map", "package", "range", "return", "select", "struct", "switch", "type", "var",
}


class GoTranslator(Translator):
    """Translates papermill parameters into a Go (GoNB) cell."""

    @classmethod
    def translate_escaped_str(cls, str_val):
        # JSON string syntax is Go string syntax once non-ASCII characters stay
        # raw: Go rejects the surrogate pairs json would write for them. A raw
        # byte order mark is rejected by Go's scanner, so it stays escaped.
        return json.dumps(str(str_val), ensure_ascii=False).replace("\ufeff", "\\ufeff")

    @classmethod
    def translate_str(cls, val):
        return cls.translate_escaped_str(val)

    @classmethod
    def translate_none(cls, val):
        return "nil"

    @classmethod
    def translate_bool(cls, val):
        return "true" if val else "false"

    @classmethod
    def translate_int(cls, val):
        return str(val)

    @classmethod
    def translate(cls, val):
        if isinstance(val, tuple):
            val = list(val)
        return super().translate(val)

    @classmethod
    def translate_float(cls, val):
        if val == 0 and math.copysign(1, val) < 0:
            return "math.Copysign(0, -1)"
        if math.isnan(val):
            return "math.NaN()"
        if math.isinf(val):
            return "math.Inf(1)" if val > 0 else "math.Inf(-1)"
        return repr(val)

    @classmethod
    def translate_dict(cls, val):
        items = ", ".join(
            f"{cls.translate_str(str(k))}: {cls.translate(v)}" for k, v in val.items()
        )
        return f"map[string]any{{{items}}}"

    @classmethod
    def translate_list(cls, val):
        return "[]any{" + ", ".join(cls.translate(v) for v in val) + "}"

    @classmethod
    def comment(cls, cmt_str):
        return f"// {cmt_str}".strip()

    @classmethod
    def assign(cls, name, str_val):
        return f"{name} = {str_val}"

    @classmethod
    def _assignment(cls, name, val):
        if isinstance(val, tuple):
            val = list(val)
        if isinstance(val, (str, bool, int)) or (
            isinstance(val, float) and math.isfinite(val) and not (val == 0 and math.copysign(1, val) < 0)
        ):
            # Through a constant named after the parameter, so that a type
            # mismatch's compile error names the parameter.
            const = f"papermill_{name}"
            return f"const {const} = {cls.translate(val)}\n\t{name} = {const}"
        if isinstance(val, list) and not any(isinstance(v, (list, dict, tuple)) for v in val):
            # Flat list: elements convert to the declared slice's element type.
            if not val:
                return f"{name} = {name}[:0:0]"
            elems = ", ".join(cls.translate(v) for v in val)
            return f"{name} = append({name}[:0:0], {elems})"
        return cls.assign(name, cls.translate(val))

    @classmethod
    def codify(cls, parameters, comment="Parameters"):
        for name in parameters:
            if not _IDENT.match(str(name)) or name in _GO_KEYWORDS:
                raise ValueError(f"parameter name {name!r} is not a Go identifier")
        lines = [cls.comment(comment), "var papermillParameters = func() bool {"]
        for name, val in parameters.items():
            lines.append("\t" + cls._assignment(name, val))
        lines += ["\treturn true", "}()", ""]
        return "\n".join(lines)

    @classmethod
    def inspect(cls, parameters_cell):
        """Lists the `var` declarations of a parameters cell for `papermill --help-notebook`."""
        params = []
        if parameters_cell.source.lstrip().startswith("%%params"):
            return _inspect_params_cell(parameters_cell.source)
        decl = re.compile(r"^\s*(?:var\s+)?(?P<name>[A-Za-z_]\w*)\s*(?P<type>[^=/]*?)?\s*=\s*(?P<value>.*?)\s*$")
        in_group = False
        for line in parameters_cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith("var ("):
                in_group = True
                continue
            if in_group and stripped == ")":
                in_group = False
                continue
            if not (in_group or stripped.startswith("var ")):
                continue
            code, help_text = _split_comment(stripped)
            m = decl.match(code)
            if not m:
                continue
            type_name = (m.group("type") or "").strip() or _infer_type(m.group("value"))
            params.append(
                Parameter(
                    name=m.group("name"),
                    inferred_type_name=type_name,
                    default=m.group("value"),
                    help=help_text,
                )
            )
        return params


def _inspect_params_cell(source):
    """Lists the declarations of a gorepro `%%params` cell: `name type = default // help`."""
    params = []
    line_re = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s+(?P<type>\S+)\s*=\s*(?P<value>.*?)\s*$")
    for line in source.splitlines()[1:]:
        code, help_text = _split_comment(line.strip())
        m = line_re.match(code)
        if m:
            params.append(
                Parameter(name=m.group("name"), inferred_type_name=m.group("type"), default=m.group("value"), help=help_text)
            )
    return params


def _split_comment(line):
    """Splits a Go line into code and its // comment, ignoring // inside string literals."""
    quote = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in ('"', "`", "'"):
            quote = ch
        elif line.startswith("//", i):
            return line[:i].rstrip(), line[i + 2 :].strip()
        i += 1
    return line, ""


def _infer_type(value):
    value = value.strip()
    if value in ("true", "false"):
        return "bool"
    if value.startswith('"') or value.startswith("`"):
        return "string"
    if re.fullmatch(r"-?\d+", value):
        return "int"
    if re.fullmatch(r"-?[\d.]+(e[-+]?\d+)?", value, re.IGNORECASE):
        return "float64"
    m = re.match(r"^(\[\][\w.]+|map\[[^\]]+\][\w.]+)\{", value)
    return m.group(1) if m else "None"


def register():
    """Registers the Go translator for the gorepro and gonb kernels and the go language."""
    for key in ("go", "gonb", "gorepro"):
        papermill_translators.register(key, GoTranslator)


register()
