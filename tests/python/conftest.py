"""Shared helpers for the Python tests of gorepro (tests/python)."""

import os
import pathlib
import shutil

import pytest

# tests/python/conftest.py -> the repository root is two levels above tests/python.
ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
GOLDEN_DIR = pathlib.Path(__file__).resolve().parent / "golden"
# GOREPRO_TEST_JUPYTER_DATA points the kernel tests at another Jupyter data
# directory (a kernelspec whose argv names a gorepro binary built elsewhere, e.g.
# in a second worktree); by default, the venv's.
JUPYTER_DATA = pathlib.Path(os.environ.get("GOREPRO_TEST_JUPYTER_DATA") or VENV / "share" / "jupyter")
KERNEL_JSON = JUPYTER_DATA / "kernels" / "gorepro" / "kernel.json"
KERNELSPEC_MISSING = f"gorepro kernelspec not installed ({KERNEL_JSON}); `make setup` installs it"
E2E = os.environ.get("GOREPRO_E2E") == "1"

# GOREPRO_REQUIRE_ALL=1 (`make test-python` sets it): a test that would be skipped
# because something `make setup` provides is missing — the kernelspec, a Python
# package, the venv, a tool or binary it builds — fails instead, with the same
# message, so that a broken setup cannot pass as a run with skips.
REQUIRE_ALL = os.environ.get("GOREPRO_REQUIRE_ALL") == "1"


def skip_missing(reason, *, allow_module_level=False):
    """Skips the test for a missing prerequisite, or fails it with the same reason
    under GOREPRO_REQUIRE_ALL=1. At module level under GOREPRO_REQUIRE_ALL=1 the
    failure is a collection error, which stops the run."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} [GOREPRO_REQUIRE_ALL=1: a missing prerequisite fails]", pytrace=False)
    pytest.skip(reason, allow_module_level=allow_module_level)


@pytest.fixture(scope="session")
def gorepro_kernelspec():
    """Skips (fails under GOREPRO_REQUIRE_ALL=1 or GOREPRO_E2E=1) the tests that need
    the gorepro kernelspec when it is not installed. Session-scoped, so that it runs
    before any module fixture starts a kernel."""
    if not KERNEL_JSON.exists():
        if E2E:
            pytest.fail(f"GOREPRO_E2E=1 but the gorepro kernelspec is missing: {KERNEL_JSON} (run `make setup`)")
        skip_missing(KERNELSPEC_MISSING)


# Marks a test (or, as pytestmark, a module) as needing the gorepro kernelspec.
requires_kernelspec = pytest.mark.usefixtures("gorepro_kernelspec")


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
        skip_missing("the go command is not on PATH")
    return go
