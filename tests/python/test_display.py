"""A display-heavy Go notebook, executed 20 times on the gorepro kernel: every
display must arrive in every run.

GoNB runs each cell as its own process and relays displays through a pipe;
lib/notebook flushes after each display (gonbui.Sync) because raw GoNB was seen
to lose one display in about twenty headless runs. This test is that check.

It needs the gorepro kernelspec in the venv (`make setup`). Without it the
module is skipped, unless GOREPRO_E2E=1 or GOREPRO_REQUIRE_ALL=1, where a
missing kernel is a failure.
"""

import os
import time

import nbclient
import nbformat
import pytest

from conftest import KERNEL_JSON, ROOT, VENV, requires_kernelspec

# Without the kernelspec: skip, unless GOREPRO_E2E=1 (the end-to-end suite) or
# GOREPRO_REQUIRE_ALL=1 (make test-python), where it fails.
pytestmark = requires_kernelspec

RUNS = 20
FIGURES, TABLES, MARKDOWNS = 8, 4, 4

FIGURES_CELL = f"""\
import (
	"fmt"

	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/plot"
)

func main() {{
	for i := range {FIGURES} {{
		notebook.Must(plot.Figure{{
			Title:  fmt.Sprintf("fig %d", i),
			Series: []plot.Series{{{{Name: "s", X: []float64{{0, 1, 2}}, Y: []float64{{0, float64(i), 1}}}}}},
		}}.Show())
	}}
}}
"""

TABLES_CELL = f"""\
import (
	"fmt"

	"github.com/gorepro/gorepro/lib/notebook"
)

func main() {{
	for i := range {TABLES} {{
		notebook.Table([]string{{"a", "b"}}, [][]string{{{{"1", "2"}}, {{fmt.Sprint(i), "x"}}}})
		notebook.Markdown(fmt.Sprintf("**markdown %d**", i))
	}}
	fmt.Println("done")
}}
"""


def make_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "gorepro", "display_name": "Go (gorepro)", "language": "go"}
    nb.metadata["language_info"] = {"name": "go"}
    nb.cells = [nbformat.v4.new_code_cell(FIGURES_CELL), nbformat.v4.new_code_cell(TABLES_CELL)]
    nbformat.validate(nb)
    return nb


def count_outputs(nb):
    """Counts figures, tables, markdown displays and "done" lines; lists malformed outputs."""
    counts = {"figures": 0, "tables": 0, "markdown": 0, "done": 0}
    problems, titles = [], []
    for ci, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            kind = out["output_type"]
            if kind == "error":
                problems.append(f"cell {ci}: error {out.get('ename')}: {out.get('evalue')}")
            elif kind == "stream":
                if out["name"] == "stdout":
                    counts["done"] += sum(1 for line in out["text"].splitlines() if line.strip() == "done")
                elif out["text"].strip():
                    problems.append(f"cell {ci}: stderr {out['text'][:300]!r}")
            elif kind == "display_data":
                data = out["data"]
                if "image/svg+xml" in data:
                    counts["figures"] += 1
                    titles.append(data.get("text/plain"))
                    missing = [m for m in ("image/png", "text/plain") if not data.get(m)]
                    if missing or "<svg" not in data["image/svg+xml"]:
                        problems.append(f"cell {ci}: figure {data.get('text/plain')!r} lacks {missing or 'an <svg> element'}")
                elif "<table>" in data.get("text/html", ""):
                    counts["tables"] += 1
                elif "text/markdown" in data:
                    counts["markdown"] += 1
                else:
                    problems.append(f"cell {ci}: unexpected display_data with {sorted(data)}")
    want_titles = [f"[figure: fig {i}]" for i in range(FIGURES)]
    if counts["figures"] == FIGURES and titles != want_titles:
        problems.append(f"figures out of order or duplicated: {titles}")
    return counts, problems


@pytest.fixture
def kernel_env(monkeypatch):
    """The environment the kernel inherits: jupyter_client starts it with ours."""
    monkeypatch.setenv("GOREPRO_ROOT", str(ROOT))
    monkeypatch.setenv("GOREPRO_VENV", str(VENV))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(VENV / "share" / "jupyter"))
    monkeypatch.setenv("PATH", f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("GOTOOLCHAIN", "local")


def test_every_display_arrives_in_every_run(kernel_env, tmp_path):
    if not KERNEL_JSON.exists():
        pytest.fail(f"GOREPRO_E2E=1 but the gorepro kernelspec is missing: {KERNEL_JSON} (run `make setup`)")
    want = {"figures": FIGURES, "tables": TABLES, "markdown": MARKDOWNS, "done": 1}
    failures, timings = [], []
    for run in range(1, RUNS + 1):
        nb = make_notebook()
        start = time.monotonic()
        client = nbclient.NotebookClient(
            nb, kernel_name="gorepro", timeout=600, resources={"metadata": {"path": str(tmp_path)}}
        )
        try:
            client.execute()
        except Exception as e:  # a cell error: record it with the outputs that did arrive
            failures.append(f"run {run}: execution failed: {type(e).__name__}: {str(e)[-1000:]}")
        timings.append(time.monotonic() - start)
        counts, problems = count_outputs(nb)
        if counts != want or problems:
            missing = {k: f"{counts[k]}/{v}" for k, v in want.items() if counts[k] != v}
            failures.append(f"run {run}: got {counts}, want {want}; wrong counts {missing}; problems {problems}")
        nbformat.write(nb, tmp_path / f"run{run:02d}.ipynb")
    summary = f"{RUNS} runs, seconds: first {timings[0]:.1f}, later max {max(timings[1:], default=0):.1f}, total {sum(timings):.1f}"
    print(summary)
    assert not failures, f"{len(failures)} of {RUNS} runs lost outputs ({summary}; notebooks in {tmp_path}):\n" + "\n".join(failures)


def test_count_outputs_reports_losses():
    """The counting itself: a notebook with one figure and the "done" line removed is reported."""
    png = "iVBORw0KGgo="
    nb = make_notebook()
    figs = [
        nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg/>", "image/png": png, "text/plain": f"[figure: fig {i}]"})
        for i in range(FIGURES)
    ]
    rest = []
    for i in range(TABLES):
        rest.append(nbformat.v4.new_output("display_data", data={"text/html": "<table></table>", "text/plain": "t"}))
        rest.append(nbformat.v4.new_output("display_data", data={"text/markdown": "**m**", "text/plain": "m"}))
    done = nbformat.v4.new_output("stream", name="stdout", text="done\n")
    nb.cells[0].outputs, nb.cells[1].outputs = figs, rest + [done]
    assert count_outputs(nb) == ({"figures": FIGURES, "tables": TABLES, "markdown": MARKDOWNS, "done": 1}, [])

    nb.cells[0].outputs = figs[:3] + figs[4:]
    nb.cells[1].outputs = rest
    counts, problems = count_outputs(nb)
    assert counts == {"figures": FIGURES - 1, "tables": TABLES, "markdown": MARKDOWNS, "done": 0}

    del figs[2].data["image/png"]
    nb.cells[0].outputs = figs
    counts, problems = count_outputs(nb)
    assert counts["figures"] == FIGURES and problems == ["cell 0: figure '[figure: fig 2]' lacks ['image/png']"]
