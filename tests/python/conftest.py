"""Shared helpers for the Python tests of gorepro (tests/python)."""

import os
import pathlib
import shutil

import pytest

# tests/python/conftest.py -> the repository root is two levels above tests/python.
ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
GOLDEN_DIR = pathlib.Path(__file__).resolve().parent / "golden"


def go_env():
    """Environment for the go command: the local toolchain, no workspace of ours."""
    env = dict(os.environ)
    env["GOTOOLCHAIN"] = "local"
    # The test programs are standalone modules using only the standard library:
    # keep any go.work or GOFLAGS of the caller from reaching them.
    env["GOWORK"] = "off"
    env["GOFLAGS"] = ""
    return env


@pytest.fixture(scope="session")
def go_bin():
    go = shutil.which("go")
    if go is None:
        pytest.skip("the go command is not on PATH")
    return go
