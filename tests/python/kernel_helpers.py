"""Helpers for the tests that talk to the gorepro kernel over the Jupyter protocol
(test_kernel.py, test_kernel_battery.py): starting a kernel with the project's
environment, running cells and collecting their messages, and process-tree
bookkeeping so that no GoNB/gopls process outlives a test.

Not a test module (no test_ prefix): pytest imports it from tests/python, which
is on sys.path as the directory of conftest.py.
"""

import contextlib
import os
import queue
import signal
import time

import pytest
from jupyter_client.manager import start_new_kernel

from conftest import E2E, JUPYTER_DATA, KERNEL_JSON, ROOT, VENV, requires_kernelspec  # noqa: F401 (re-exported)

KERNEL_NAME = "gorepro"

# Generous: CI runs on 2 cores, a fresh kernel's first cell compiles for seconds,
# and gopls's first completion takes ~15 s even on a fast machine.
START_TIMEOUT = 60
CELL_TIMEOUT = 60
REQUEST_TIMEOUT = 60

# requires_kernelspec (from conftest): without the kernelspec, skip, unless
# GOREPRO_E2E=1 (the end-to-end suite) or GOREPRO_REQUIRE_ALL=1 (make test-python),
# where the tests fail. The same convention as test_display.py.


def require_kernelspec():
    if not KERNEL_JSON.exists():
        pytest.fail(f"GOREPRO_E2E=1 but the gorepro kernelspec is missing: {KERNEL_JSON} (run `make setup`)")


def kernel_environ():
    """The environment a kernel started from the tests inherits."""
    return {
        "JUPYTER_DATA_DIR": str(JUPYTER_DATA),
        # Inside a venv jupyter_core searches the venv's own data directory
        # before JUPYTER_DATA_DIR; GOREPRO_TEST_JUPYTER_DATA must win.
        "JUPYTER_PREFER_ENV_PATH": "0",
        "GOREPRO_ROOT": str(ROOT),
        "GOREPRO_VENV": str(VENV),
        "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "GOTOOLCHAIN": "local",
    }


# ---------------------------------------------------------------------------
# Processes


def _stat(pid):
    """(ppid, start time, state) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[19]), fields[0]


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def alive(pid, start=None):
    """Whether pid runs (not a zombie), and is the process that had that start time."""
    st = _stat(pid)
    return st is not None and st[2] != "Z" and (start is None or st[1] == start)


def descendants(root):
    """[(pid, start time)] of every live descendant of root."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st is not None and st[2] != "Z":
            children.setdefault(st[0], []).append((int(name), st[1]))
    out, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child[0])
    return out


def gonb_children(kernel_pid):
    """pids of the kernel's GoNB processes (`gonb … --kernel …`): GoNB runs under the
    kernel's supervisor process (`gorepro kernel-supervise -- gonb …`), a child of the kernel."""
    out = []
    for pid, _ in descendants(kernel_pid):
        args = cmdline(pid)
        if args and "gonb" in os.path.basename(args[0]) and "--kernel" in args:
            out.append(pid)
    return out


# ---------------------------------------------------------------------------
# Kernel sessions


def fmt_msg(msg):
    """A one-line summary of a message, for assertion messages."""
    c = msg.get("content", {})
    t = msg["msg_type"]
    if t == "status":
        detail = c.get("execution_state")
    elif t == "stream":
        detail = f"{c.get('name')}: {c.get('text', '')[:200]!r}"
    elif t in ("error", "execute_reply"):
        detail = f"{c.get('status', '')} {c.get('ename', '')}: {str(c.get('evalue', ''))[:300]!r} count={c.get('execution_count')}"
    elif t in ("display_data", "update_display_data", "execute_result"):
        detail = f"mimes={sorted(c.get('data', {}))}"
    elif t == "execute_input":
        detail = f"count={c.get('execution_count')}"
    else:
        detail = str(c)[:200]
    return f"{t}({detail})"


class Cell:
    """One execute_request and what came back for it."""

    def __init__(self, kernel, msg_id, code):
        self.kernel, self.msg_id, self.code = kernel, msg_id, code
        self.iopub = []  # iopub messages whose parent is this request, in order
        self.reply = None
        self.idle = False

    # -- waiting

    def _read_iopub(self, deadline):
        """Reads one iopub message for this cell; False on timeout."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                msg = self.kernel.kc.get_iopub_msg(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            owner = self.kernel.cells.get(msg["parent_header"].get("msg_id"))
            if owner is None:
                self.kernel.foreign_iopub.append(msg)
                continue
            owner.iopub.append(msg)
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                owner.idle = True
            if owner is self:
                return True

    def wait_for(self, predicate, timeout, what):
        """Reads iopub until a message of this cell satisfies predicate."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for msg in self.iopub[seen:]:
                if predicate(msg):
                    return msg
            seen = len(self.iopub)
            if not self._read_iopub(deadline):
                raise AssertionError(f"no {what} within {timeout} s for cell {self.code!r}; {self.describe()}")

    def finish(self, timeout=CELL_TIMEOUT):
        """Waits for the execute_reply and the idle status; returns self."""
        if self.reply is None:
            self.reply = self.kernel.shell_reply(self.msg_id, timeout,
                                                 lambda: f"cell {self.code!r}: {self.describe()}")
        deadline = time.monotonic() + timeout
        while not self.idle:
            if not self._read_iopub(deadline):
                raise AssertionError(f"no idle status within {timeout} s after the reply to {self.code!r}; {self.describe()}")
        self.kernel.snapshot()
        return self

    # -- results

    @property
    def status(self):
        return self.reply["content"]["status"]

    @property
    def count(self):
        return self.reply["content"].get("execution_count")

    def of_type(self, *types):
        return [m for m in self.iopub if m["msg_type"] in types]

    @property
    def input_count(self):
        inputs = self.of_type("execute_input")
        return inputs[0]["content"].get("execution_count") if inputs else None

    def stream(self, name):
        return "".join(m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == name)

    @property
    def errors(self):
        return [m["content"] for m in self.of_type("error")]

    @property
    def displays(self):
        return [m["content"]["data"] for m in self.of_type("display_data")]

    def all_text(self):
        """Every text the cell showed: streams, errors, text displays, the reply's error."""
        parts = [self.stream("stdout"), self.stream("stderr")]
        for e in self.errors:
            parts += [e.get("ename", ""), str(e.get("evalue", "")), *e.get("traceback", [])]
        for d in self.displays:
            parts += [v for v in d.values() if isinstance(v, str)]
        if self.reply:
            c = self.reply["content"]
            parts += [c.get("ename", ""), str(c.get("evalue", ""))]
        return "\n".join(parts)

    def describe(self):
        reply = fmt_msg(self.reply) if self.reply else "no reply yet"
        return f"reply: {reply}; iopub: [{', '.join(fmt_msg(m) for m in self.iopub)}]"

    def assert_ok(self, what="the cell"):
        assert self.status == "ok", f"{what} should succeed: {self.describe()}"
        return self


class Kernel:
    """A gorepro kernel started for a test, with its client."""

    def __init__(self, km, kc):
        self.km, self.kc = km, kc
        self.cells = {}
        self.foreign_iopub = []  # iopub messages whose parent is no cell of ours
        self.stash = {}  # shell replies read while waiting for another one, by parent msg_id
        self.seen = set()  # (pid, start time) of every descendant seen: reaped at shutdown
        self.snapshot()

    @property
    def pid(self):
        return self.km.provisioner.process.pid

    def snapshot(self):
        """Records the kernel's live descendants (GoNB, gopls, cell programs)."""
        with contextlib.suppress(Exception):
            self.seen.update(descendants(self.pid))

    def gonb_pids(self):
        pids = gonb_children(self.pid)
        self.snapshot()
        return pids

    def submit(self, code, **kwargs):
        msg_id = self.kc.execute(code, **kwargs)
        cell = Cell(self, msg_id, code)
        self.cells[msg_id] = cell
        return cell

    def run(self, code, timeout=CELL_TIMEOUT, **kwargs):
        return self.submit(code, **kwargs).finish(timeout)

    def shell_reply(self, msg_id, timeout=REQUEST_TIMEOUT, context=lambda: ""):
        """The shell reply whose parent is msg_id; others are kept for later."""
        deadline = time.monotonic() + timeout
        while msg_id not in self.stash:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no shell reply to {msg_id} within {timeout} s; {context()}")
            try:
                msg = self.kc.get_shell_msg(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            self.stash[msg["parent_header"].get("msg_id")] = msg
        return self.stash.pop(msg_id)

    def request(self, method, *args, timeout=REQUEST_TIMEOUT, **kwargs):
        """Sends a shell request through the client (kc.complete, kc.history, …) and returns its reply."""
        msg_id = getattr(self.kc, method)(*args, **kwargs)
        return self.shell_reply(msg_id, timeout, lambda: f"{method}{args}")

    def shutdown(self):
        """Graceful shutdown (shutdown_request, then SIGKILL after jupyter_client's
        wait), then ends any descendant seen during the test that is still running.
        Never raises."""
        self.snapshot()
        with contextlib.suppress(Exception):
            self.kc.stop_channels()
        try:
            self.km.shutdown_kernel(now=False)
        except Exception:
            with contextlib.suppress(Exception):
                self.km.shutdown_kernel(now=True)
        reap(self.seen)


def reap(processes, grace=5.0):
    """Ends the (pid, start time) processes that still run: SIGTERM, then SIGKILL."""
    left = [(pid, start) for pid, start in processes if alive(pid, start)]
    for pid, _ in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p, s) for p, s in left):
        time.sleep(0.1)
    for pid, start in left:
        if alive(pid, start):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    return left


def start_kernel():
    """Starts a gorepro kernel (the caller has set kernel_environ()); returns a Kernel."""
    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=START_TIMEOUT)
    return Kernel(km, kc)


@contextlib.contextmanager
def running_kernel():
    """A gorepro kernel for the duration of a with block, with the project's environment."""
    require_kernelspec()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in kernel_environ().items():
            mp.setenv(k, v)
        kernel = start_kernel()
        try:
            yield kernel
        finally:
            kernel.shutdown()
