"""The documentation: README's length, links that resolve, CITATION.cff, `make help`, and the
generator behind `make docs` (docs/tools/make_docs.py) on a synthesized run directory."""

import base64
import importlib.util
import json
import re
import shutil
import struct
import subprocess
import sys
import zlib

import pytest
import yaml

from conftest import ROOT

spec = importlib.util.spec_from_file_location("make_docs", ROOT / "docs" / "tools" / "make_docs.py")
make_docs = importlib.util.module_from_spec(spec)
sys.modules["make_docs"] = make_docs  # dataclasses look their module up there
spec.loader.exec_module(make_docs)

DOC_FILES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
# [text](target) and ![alt](target), not inside inline code.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def test_readme_fits_two_screens():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 200, f"README.md has {lines} lines; the rest belongs in docs/"


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    text = re.sub(r"`[^`\n]*`", "", doc.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if not (doc.parent / path).exists():
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)}: links to missing files: {broken}"


def test_every_paper_page_exists_and_has_its_generated_section():
    for page in make_docs.PAGES:
        text = (ROOT / "docs" / "papers" / f"{page}.md").read_text(encoding="utf-8")
        assert make_docs.BEGIN in text and make_docs.END in text, page
        for nb in make_docs.PAGES[page]:
            assert (ROOT / "notebooks" / f"{nb}.ipynb").exists(), nb


def test_citation_cff():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):
        assert cff[key], key
    arxiv = sorted(r["url"].rsplit("/", 1)[1] for r in cff["references"])
    assert arxiv == ["2401.12253", "2410.23970", "2501.04697", "2510.12327"]
    for ref in cff["references"]:
        assert ref["type"] and ref["title"] and ref["authors"] and ref["year"], ref


def test_make_help_lists_every_phony_target():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split()
    described = re.findall(r"^## ([a-z0-9-]+): \S", makefile, re.M)
    assert sorted(phony) == sorted(described), "every .PHONY target needs one `## target: description` line"
    for target in phony:
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"{target} is phony but has no rule"
    if shutil.which("make"):
        out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        assert [line.split()[0] for line in out.splitlines()] == described


def png(width=2, height=1, seed=0):
    """A valid PNG of width × height grey pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + bytes([seed]) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def executed_notebook(result, figures):
    outputs = [{"output_type": "display_data", "metadata": {},
                "data": {"image/png": base64.b64encode(f).decode(), "text/plain": "<Figure>"}} for f in figures]
    outputs.append({"output_type": "stream", "name": "stdout",
                    "text": ["some progress\n", "RESULT " + json.dumps(result) + "\n"]})
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "code", "metadata": {}, "source": "", "execution_count": 1, "outputs": outputs}]}


RESULT = {
    "notebook": "grokking_stablemax", "backend": "xla:cpu", "precision": "float32", "profile": "quick",
    "seconds": 236, "claims": [
        {"id": "softmax32-overfits", "name": "test accuracy", "paper": "complete overfitting", "ours": 0.0157,
         "tolerance": "<= 0.2", "holds": True, "status": "replicated", "expected": "replicated",
         "ci": None, "p": None, "n": 3, "unit": "seed"},
        {"id": "stablemax-groks", "name": "test accuracy", "paper": "groks | without regularisation", "ours": 0.078,
         "tolerance": ">= 0.9", "holds": False, "status": "not replicated", "expected": "not replicated",
         "ci": [0.05, 0.1], "p": 0.25, "n": 3, "unit": "seed"},
    ]}


@pytest.fixture
def site(tmp_path):
    """A docs directory with one hand-written paper page and a run directory holding its executed notebook."""
    docs, run = tmp_path / "docs", tmp_path / "run"
    (docs / "papers").mkdir(parents=True)
    run.mkdir()
    for page in make_docs.PAGES:
        (docs / "papers" / f"{page}.md").write_text(
            f"# {page}\n\nHand-written setup.\n\n{make_docs.BEGIN}\nold\n{make_docs.END}\n\nAfter.\n", encoding="utf-8")
    (run / "grokking_stablemax.ipynb").write_text(json.dumps(executed_notebook(RESULT, [png(seed=1), png(seed=2)])))
    (run / make_docs.STAMP_FILE).write_text(json.dumps({"commit": "abc1234", "date": "2026-12-06"}))
    return docs, run


def test_generator_writes_section_stamp_and_figures(site):
    docs, run = site
    assert make_docs.main(["--docs", str(docs), "--run-dir", str(run)]) == 0
    text = (docs / "papers" / "grokking_stablemax.md").read_text(encoding="utf-8")
    assert text.startswith("# grokking_stablemax\n\nHand-written setup.\n\n" + make_docs.BEGIN)
    assert text.endswith(make_docs.END + "\n\nAfter.\n") and "\nold\n" not in text
    assert "from commit `abc1234` on backend `xla:cpu (float32)`, 2026-12-06" in text
    assert "**replicated 1 of 2 pre-registered**, 236 s." in text
    assert "| softmax32-overfits | complete overfitting | <= 0.2 | 0.0157 |  | 3 seed | replicated | as recorded |" in text
    assert "| stablemax-groks | groks \\| without regularisation | >= 0.9 | 0.078 | [0.05, 0.1] | 3 seed |" in text
    figdir = docs / "papers" / "grokking_stablemax"
    assert sorted(p.name for p in figdir.iterdir()) == ["grokking_stablemax-1.png", "grokking_stablemax-2.png"]
    assert (figdir / "grokking_stablemax-2.png").read_bytes() == png(seed=2)
    assert "![grokking_stablemax figure 1](grokking_stablemax/grokking_stablemax-1.png)" in text
    # A page whose notebooks did not run says so, and keeps its hand-written text.
    other = (docs / "papers" / "tract.md").read_text(encoding="utf-8")
    assert "Not generated yet: run `make docs`." in other and "Hand-written setup." in other


def test_generator_is_idempotent(site):
    docs, run = site
    make_docs.main(["--docs", str(docs), "--run-dir", str(run)])
    first = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in docs.rglob("*") if p.is_file()}
    make_docs.main(["--docs", str(docs), "--run-dir", str(run)])
    second = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in docs.rglob("*") if p.is_file()}
    assert first == second, "a second run over the same output must change nothing"


def test_generator_drops_stale_figures_and_reports_a_failed_run(site):
    docs, run = site
    make_docs.main(["--docs", str(docs), "--run-dir", str(run)])
    nb = executed_notebook(RESULT, [png(seed=3)])
    nb["cells"][0]["outputs"] = nb["cells"][0]["outputs"][:1] + [
        {"output_type": "error", "ename": "panic", "evalue": "boom", "traceback": []}]
    (run / "grokking_stablemax.ipynb").write_text(json.dumps(nb))
    make_docs.main(["--docs", str(docs), "--run-dir", str(run)])
    figdir = docs / "papers" / "grokking_stablemax"
    assert [p.name for p in figdir.iterdir()] == ["grokking_stablemax-1.png"]
    assert "The run failed: panic: boom." in (docs / "papers" / "grokking_stablemax.md").read_text(encoding="utf-8")


def test_legacy_claims_table():
    lines = make_docs.claim_table({"claims": [
        {"name": "SNS iterations ratio", "paper": "> 10", "ours": 70.25, "tolerance": ">= 10", "holds": True}]})
    assert lines[2] == "| SNS iterations ratio | > 10 | 70.25 | >= 10 | yes |"
    assert make_docs.summary({"claims": [{"holds": True}, {"holds": False}]}) == "1/2 held (not pre-registered)"


def test_run_mode_runs_gorepro_once_and_stamps_the_commit(site, tmp_path):
    docs, run = site
    (run / make_docs.STAMP_FILE).unlink()
    fixture = run / "grokking_stablemax.ipynb"
    fake = tmp_path / "gorepro"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/calls\nexit 0\n")
    fake.chmod(0o755)
    assert make_docs.main(["--run", "--gorepro", str(fake), "--run-dir", str(run), "--docs", str(docs)]) == 0
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith(f"run --profile quick --out {run} ")
    assert [a.rsplit("/", 1)[1] for a in calls[0].split()[5:]] == [
        f"{nb}.ipynb" for nbs in make_docs.PAGES.values() for nb in nbs]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    stamp = json.loads((run / make_docs.STAMP_FILE).read_text())
    assert stamp["commit"].split("+")[0] == head
    assert f"from commit `{stamp['commit']}`" in (docs / "papers" / "grokking_stablemax.md").read_text(encoding="utf-8")
    assert fixture.exists()
