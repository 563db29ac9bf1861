"""The gorepro kernel keeps GoNB private, its log quiet and its shutdown orderly.

- GoNB is reached over unix sockets (ZeroMQ ipc://) inside the kernel's private
  0700 directory, not over loopback TCP ports that any local user could connect
  to, flood or race to bind: the kernel's whole process tree listens on exactly
  the five ports of the frontend's connection file.
- GoNB's temporary directory (its Go code, gopls's socket, the cells' binaries)
  lies inside the kernel's private directory, so that it goes with it on every
  exit path, a SIGKILL of the kernel included.
- GoNB's noise (its sample "Warning message"/"Error message" lines, stack traces
  of its own) does not reach the Jupyter server's log.
- A kernel stopped right after it started does not start GoNB again.

Like test_kernel.py, these tests need the gorepro kernelspec (`make setup`);
GOREPRO_TEST_JUPYTER_DATA selects another one (conftest.py).
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import time

import pytest
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from conftest import JUPYTER_DATA, KERNEL_JSON
from kernel_helpers import (
    alive,
    descendants,
    gonb_children,
    kernel_environ,
    reap,
    requires_kernelspec,
    running_kernel,
)

pytestmark = requires_kernelspec


@pytest.fixture(autouse=True)
def _kernelspec_first(monkeypatch):
    """Makes jupyter_client start the kernelspec conftest chose: in a venv,
    jupyter_core prefers the venv's data directory to JUPYTER_DATA_DIR (which
    kernel_environ sets), and JUPYTER_PATH comes before both."""
    monkeypatch.setenv("JUPYTER_PATH", str(JUPYTER_DATA))

STATE_CELL = '''import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("session=%s\\n", os.Getenv("GOREPRO_SESSION_DIR"))
}'''


def _state_dir(k):
    """The kernel's private directory: the parent of its session directory."""
    cell = k.run(STATE_CELL).assert_ok()
    m = re.search(r"session=(\S+)", cell.stream("stdout"))
    assert m, cell.describe()
    state = os.path.dirname(m.group(1))
    assert os.path.basename(state).startswith("gorepro-kernel-"), state
    return state


def _listening_tcp_ports(pids):
    """{port: pid} of the TCP sockets in LISTEN state that the processes hold."""
    inodes = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
                    if m:
                        inodes[m.group(1)] = pid
    ports = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for row in f.read().splitlines()[1:]:
                fields = row.split()
                # local_address is HEXIP:HEXPORT; st 0A is LISTEN; inode is field 9.
                if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:
                    ports[int(fields[1].rsplit(":", 1)[1], 16)] = inodes[fields[9]]
    return ports


def _environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(e.decode(errors="replace").split("=", 1) for e in f.read().split(b"\0") if b"=" in e)


def _wait_gone(paths, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(os.path.exists(p) for p in paths):
        time.sleep(0.2)
    return [p for p in paths if os.path.exists(p)]


# ---------------------------------------------------------------------------
# GoNB off TCP, its temporary directory inside the kernel's


def test_kernel_tree_listens_only_on_the_connection_file_ports():
    with running_kernel() as k:
        _state_dir(k)  # a cell ran: GoNB, gopls and a cell program have started
        pids = [k.pid] + [p for p, _ in descendants(k.pid)]
        info = k.km.get_connection_info()
        want = {info[name] for name in ("shell_port", "control_port", "stdin_port", "iopub_port", "hb_port")}
        got = _listening_tcp_ports(pids)
        assert set(got) == want, (
            f"the kernel's processes listen on TCP ports {sorted(got)} (port: pid {got}); "
            f"only the connection file's {sorted(want)} should be open")


def test_gonb_temp_dir_is_inside_the_state_dir_and_removed():
    for how in ("shutdown_request", "SIGKILL of the kernel"):
        with running_kernel() as k:
            state = _state_dir(k)
            gonb = gonb_children(k.pid)
            assert gonb, f"no GoNB under the kernel: {descendants(k.pid)}"
            tmp = _environ(gonb[0]).get("TMPDIR", "")
            assert tmp and os.path.realpath(tmp).startswith(os.path.realpath(state) + os.sep), (
                f"GoNB's TMPDIR {tmp!r} is not inside the kernel's directory {state}")
            assert os.path.isdir(tmp) and oct(os.stat(tmp).st_mode & 0o777) == "0o700", tmp
            work = [os.path.join(tmp, e) for e in os.listdir(tmp)]
            assert any(os.path.basename(w).startswith("gonb_") for w in work), (
                f"GoNB's work directory is not in its TMPDIR {tmp}: {work}")
            if how == "SIGKILL of the kernel":
                k.snapshot()
                os.kill(k.pid, signal.SIGKILL)
        left = _wait_gone([tmp, state])
        assert not left, f"{left} left after {how}"


# ---------------------------------------------------------------------------
# A kernel of our own, with its stderr (what the Jupyter server logs) captured


def _kernel_spec():
    with open(KERNEL_JSON) as f:
        return json.load(f)


@contextlib.contextmanager
def own_kernel(tmp_path, name):
    """Starts `gorepro kernel --connection-file` as the server would, with its
    stderr in a file; yields (process, client, stderr path)."""
    spec = _kernel_spec()
    conn_file = str(tmp_path / f"kernel-{name}.json")
    write_connection_file(conn_file, key=os.urandom(16).hex().encode())
    env = dict(os.environ)
    env.update(spec.get("env", {}))
    env.update(kernel_environ())
    env["JPY_PARENT_PID"] = str(os.getpid())  # as the Jupyter server sets it (else GoNB warns)
    argv = [a.replace("{connection_file}", conn_file) for a in spec["argv"]]
    err_path = tmp_path / f"stderr-{name}.txt"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    kc = BlockingKernelClient(connection_file=conn_file)
    kc.load_connection_file()
    kc.start_channels()
    seen = set()
    try:
        yield proc, kc, err_path, seen
    finally:
        with contextlib.suppress(Exception):
            seen.update(descendants(proc.pid))
        kc.stop_channels()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reap(seen)


def _execute(kc, code, timeout=60):
    """Runs code; returns its execute_reply content."""
    msg_id = kc.execute(code)
    deadline = time.monotonic() + timeout
    while True:
        reply = kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


def _shutdown(proc, kc, timeout=20):
    kc.shutdown()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the kernel did not exit within {timeout} s of a shutdown_request") from None


NOISE = [
    re.compile(r"Warning message\s*$", re.M),
    re.compile(r"Error message\s*$", re.M),
    re.compile(r"^goroutine \d+ \[", re.M),
    re.compile(r"\.go:\d+ \+0x[0-9a-f]+", re.M),
    re.compile(r"panic", re.I),
    re.compile(r"\x1b\["),
]


def test_gonb_noise_does_not_reach_the_log(tmp_path):
    with own_kernel(tmp_path, "noise") as (proc, kc, err_path, seen):
        kc.wait_for_ready(timeout=60)
        bad = _execute(kc, 'func main() { undefinedThing() }')
        assert bad["status"] == "error", bad
        seen.update(descendants(proc.pid))
        good = _execute(kc, 'import "fmt"\n\nfunc main() { fmt.Println("ok") }')
        assert good["status"] == "ok", good
        _shutdown(proc, kc)
    log = err_path.read_bytes().decode(errors="replace")
    found = [p.pattern for p in NOISE if p.search(log)]
    assert not found, f"the kernel's stderr holds GoNB noise ({found}):\n{log}"


def test_shutdown_right_after_start_does_not_restart_gonb(tmp_path):
    for i in range(3):
        with own_kernel(tmp_path, f"early-{i}") as (proc, kc, err_path, seen):
            time.sleep(0.3 * i)  # the request lands at different points of GoNB's start
            seen.update(descendants(proc.pid))
            _shutdown(proc, kc)
        log = err_path.read_bytes().decode(errors="replace")
        assert "attempt 2" not in log and "starting GoNB again" not in log, f"try {i}: GoNB was started again:\n{log}"
        assert "panic" not in log.lower(), f"try {i}: a panic in the kernel's stderr:\n{log}"
        left = [p for p, s in seen if alive(p, s)]
        assert not left, f"try {i}: kernel processes left: {left}"
