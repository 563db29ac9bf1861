"""Cells never resolve Go modules by themselves (issue 15).

The gorepro kernel turns GoNB's auto-get off in every GoNB it starts (and
restarts), before the first user cell: cells compile against the project's
go.mod pins. A cell that imports a package of a module the project does not
require fails with GoNB's compile error plus one line from gorepro naming the
package and %%require, the deliberate way to add a module; the kernel keeps
serving. %%require refuses anything but an exact version.

Needs the gorepro kernelspec (`make setup`); skipped without it, unless
GOREPRO_E2E=1 or GOREPRO_REQUIRE_ALL=1, where it fails.
"""

import os
import re
import signal
import time

import pytest

from kernel_helpers import requires_kernelspec, running_kernel

pytestmark = requires_kernelspec

# A module no module of the project's graph provides: with auto-get on, GoNB
# runs `go get` (the kernel's GOPROXY=off makes it fail with "failed to run go
# get"); with it off, the go command reports the missing package.
UNKNOWN = "example.com/gorepro/not/a/module/pkg"
UNKNOWN_CELL = f'import "{UNKNOWN}"\n\nfunc main() {{ pkg.Run() }}'
HELLO = 'import "fmt"\n\nfunc main() { fmt.Println("hello after") }'


@pytest.fixture(scope="module")
def kernel():
    with running_kernel() as k:
        yield k


def _stderr_and_errors(cell):
    return cell.stream("stderr") + "\n" + cell.all_text()


def _assert_no_go_get(cell):
    assert not re.search(r'failed to run "[^"]*go get', cell.all_text()), (
        f"GoNB ran `go get` for the cell (auto-get is on): {cell.describe()}"
    )


def test_unrequired_module_fails_with_a_hint_and_the_kernel_serves(kernel):
    cell = kernel.run(UNKNOWN_CELL)
    assert cell.status == "error", cell.describe()
    _assert_no_go_get(cell)
    text = _stderr_and_errors(cell)
    assert "no required module provides package" in text, cell.describe()
    hint = [line for line in cell.stream("stderr").splitlines() if line.startswith("gorepro: ")]
    assert len(hint) == 1, f"want one gorepro hint line: {cell.describe()}"
    assert UNKNOWN in hint[0] and "%%require" in hint[0], hint[0]
    after = kernel.run(HELLO)
    assert after.status == "ok" and "hello after" in after.stream("stdout"), after.describe()


def test_autoget_is_off_after_a_gonb_restart():
    """A killed GoNB is restarted; the new one has auto-get off too."""
    with running_kernel() as k:
        k.run(HELLO).assert_ok()
        old = k.gonb_pids()
        assert len(old) == 1, old
        k.snapshot()
        os.kill(old[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (k.gonb_pids() in ([], old)):
            time.sleep(0.2)
        assert k.gonb_pids() not in ([], old), "GoNB was not restarted"
        cell = k.run(UNKNOWN_CELL)
        assert cell.status == "error", cell.describe()
        _assert_no_go_get(cell)
        assert "no required module provides package" in _stderr_and_errors(cell), cell.describe()
        k.run(HELLO).assert_ok()


@pytest.mark.parametrize(
    "args, says",
    [
        ("github.com/google/uuid", "no version"),
        ("github.com/google/uuid@latest", "not an exact version"),
        ("github.com/google/uuid@master", "not an exact version"),
        ("github.com/google/uuid@v1", "not an exact version"),
        ("github.com/gomlx/gomlx@v0.26.0", "pins github.com/gomlx/gomlx at v0.28.8"),
        ("", "needs at least one MODULE@VERSION"),
    ],
)
def test_require_refuses_what_is_not_an_exact_pin(kernel, args, says):
    cell = kernel.run(f"%%require {args}".rstrip())
    assert cell.status == "error", cell.describe()
    errors = cell.errors
    assert len(errors) == 1 and says in errors[0]["evalue"], cell.describe()
    assert "\n" not in errors[0]["evalue"], f"one line: {errors[0]['evalue']!r}"


CMP_CELL = 'import (\n\t"fmt"\n\t"github.com/google/go-cmp/cmp"\n)\n\nfunc main() { fmt.Println("cmp", cmp.Equal(1, 1)) }'


def test_require_adds_a_module_the_cell_then_imports():
    """github.com/google/go-cmp is in the project's module graph only indirectly:
    the cell fails with a hint naming the exact %%require line, which then works.
    %%require resolves through the module proxy recorded at setup (network)."""
    with running_kernel() as k:
        cell = k.run(CMP_CELL)
        assert cell.status == "error", cell.describe()
        _assert_no_go_get(cell)
        hint = [line for line in cell.stream("stderr").splitlines() if line.startswith("gorepro: ")]
        assert len(hint) == 1 and "%%require github.com/google/go-cmp@v0.7.0" in hint[0], cell.describe()
        req = k.run("%%require github.com/google/go-cmp@v0.7.0", timeout=180)
        assert req.status == "ok", req.describe()
        assert "github.com/google/go-cmp" in req.all_text(), req.describe()
        again = k.run(CMP_CELL)
        assert again.status == "ok" and "cmp true" in again.stream("stdout"), again.describe()


def test_require_refuses_a_module_that_would_lift_a_pin(kernel):
    """golang.org/x/net v0.55.0 requires golang.org/x/text v0.37.0; go.mod pins v0.35.0."""
    cell = kernel.run("%%require golang.org/x/net@v0.55.0", timeout=180)
    assert cell.status == "error", cell.describe()
    evalue = cell.errors[0]["evalue"]
    assert "would move modules the project pins" in evalue and "golang.org/x/text v0.35.0 → v0.37.0" in evalue, evalue
