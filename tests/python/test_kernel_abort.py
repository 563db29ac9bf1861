"""After a failed cell, the cells already queued are aborted; kernel-to-frontend
messages sent back to the kernel are dropped; a cell waiting for GoNB to restart
shows as busy and an interrupt ends its wait (issue 30).

Run All in JupyterLab and jupyter_client's execute() (stop_on_error=True by
default) send every cell at once: as with ipykernel, the cells queued behind a
failing one get an execute_reply with status "aborted" instead of running
against a state the failed cell did not set up.
"""

import contextlib
import json
import os
import signal
import time

import pytest
import zmq
from jupyter_client.manager import start_new_kernel

from kernel_helpers import (
    CELL_TIMEOUT,
    KERNEL_NAME,
    START_TIMEOUT,
    Kernel,
    fmt_msg,
    gonb_children,
    kernel_environ,
    require_kernelspec,
    requires_kernelspec,
    running_kernel,
)

pytestmark = requires_kernelspec


def println_cell(text):
    return f'import "fmt"\n\nfunc main() {{ fmt.Println({json.dumps(text)}) }}'


COMPILE_ERROR = "func main() { undefined_x() }"
LOOP = 'import "fmt"\n\nfunc main() {\n\tfmt.Println("looping")\n\tfor {\n\t}\n}'
# A cell that keeps the kernel busy long enough for the cells sent after it to queue.
SLOW_OK = 'import (\n\t"fmt"\n\t"time"\n)\n\nfunc main() {\n\ttime.Sleep(time.Second)\n\tfmt.Println("slept")\n}'


@pytest.fixture
def fresh_kernel():
    with running_kernel() as k:
        yield k


def _send_interrupt_request(k):
    req = k.kc.session.msg("interrupt_request", {})
    k.kc.control_channel.send(req)
    return req["header"]["msg_id"]


def assert_aborted(cell, count):
    """cell got an aborted reply with the unchanged count, and showed nothing."""
    cell.finish(timeout=CELL_TIMEOUT)
    assert cell.status == "aborted", f"a cell queued after a failed one should be aborted: {cell.describe()}"
    assert cell.count == count, f"the aborted cell's count should stay {count}: {cell.describe()}"
    assert cell.reply["metadata"].get("status") == "aborted", cell.reply["metadata"]
    shown = [m for m in cell.iopub if m["msg_type"] != "status"]
    assert not shown, f"an aborted cell should not run or show anything: {cell.describe()}"
    states = [m["content"]["execution_state"] for m in cell.iopub if m["msg_type"] == "status"]
    assert states == ["busy", "idle"], f"busy then idle around the aborted cell: {cell.describe()}"


def assert_runs_after(k, failed, what):
    """A cell sent once the queue drained runs, with the count after the failed cell's."""
    cell = k.run(println_cell("after"))
    assert cell.status == "ok", f"a cell sent after {what} should run: {cell.describe()}"
    assert "after" in cell.stream("stdout"), cell.describe()
    assert cell.count == failed.count + 1, (
        f"aborted cells take no count: after {failed.count} comes {failed.count + 1}: {cell.describe()}")


def test_cells_queued_after_a_compile_error_are_aborted(fresh_kernel):
    k = fresh_kernel
    first = k.submit(COMPILE_ERROR)
    second = k.submit(println_cell("SECOND RAN"))
    third = k.submit(println_cell("THIRD RAN"))
    first.finish()
    assert first.status == "error", first.describe()
    assert_aborted(second, first.count)
    assert_aborted(third, first.count)
    assert_runs_after(k, first, "the aborted ones")


def test_stop_on_error_false_runs_anyway(fresh_kernel):
    k = fresh_kernel
    first = k.submit(COMPILE_ERROR)
    second = k.submit(println_cell("SECOND RAN"), stop_on_error=False)
    third = k.submit(println_cell("THIRD RAN"))
    first.finish()
    assert first.status == "error", first.describe()
    second.finish()
    assert second.status == "ok" and "SECOND RAN" in second.stream("stdout"), (
        f"a queued cell with stop_on_error=False should run: {second.describe()}")
    assert second.count == first.count + 1, second.describe()
    assert_aborted(third, second.count)


def test_cells_queued_after_a_plugin_error_are_aborted(fresh_kernel):
    k = fresh_kernel
    # The slow cell keeps the kernel busy: the plugin error and the cell after
    # it are queued by the time the plugin cell (which fails at once) runs.
    slow = k.submit(SLOW_OK)
    failing = k.submit("%%nosuchplugin")
    queued = k.submit(println_cell("QUEUED RAN"))
    slow.finish().assert_ok("the slow cell")
    failing.finish()
    assert failing.status == "error" and "nosuchplugin" in failing.all_text(), failing.describe()
    assert failing.count == slow.count + 1, failing.describe()
    assert_aborted(queued, failing.count)
    assert_runs_after(k, failing, "a plugin error")


def test_interrupted_cell_aborts_the_queued_one(fresh_kernel):
    k = fresh_kernel
    k.run(println_cell("warm")).assert_ok()
    loop = k.submit(LOOP)
    queued = k.submit(println_cell("QUEUED RAN"))
    loop.wait_for(lambda m: m["msg_type"] == "stream" and "looping" in m["content"]["text"], CELL_TIMEOUT,
                  "'looping' on stdout (the loop running)")
    k.snapshot()
    _send_interrupt_request(k)
    loop.finish(timeout=30)
    assert loop.status in ("error", "aborted"), loop.describe()
    assert_aborted(queued, loop.count)
    assert_runs_after(k, loop, "an interrupt")


# ---------------------------------------------------------------------------
# Reflection: messages only a kernel sends are dropped on shell


@contextlib.contextmanager
def logged_kernel(tmp_path):
    """A kernel whose log (GoNB's included, unfiltered) goes to a file; yields (kernel, log path)."""
    require_kernelspec()
    log_path = tmp_path / "kernel.log"
    with pytest.MonkeyPatch.context() as mp, open(log_path, "wb") as log:
        for key, value in kernel_environ().items():
            mp.setenv(key, value)
        mp.setenv("GOREPRO_KERNEL_DEBUG", "1")
        km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=START_TIMEOUT, stderr=log, stdout=log)
        k = Kernel(km, kc)
        try:
            yield k, log_path
        finally:
            k.shutdown()


def _captured_iopub(k, sub, msg_type, timeout=CELL_TIMEOUT):
    """The raw frames of the next iopub message of msg_type, as the kernel signed them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sub.poll(1000):
            continue
        frames = sub.recv_multipart()
        i = frames.index(b"<IDS|MSG>")
        header = json.loads(frames[i + 2])
        if header["msg_type"] == msg_type:
            return frames[i:]
    raise AssertionError(f"no {msg_type} on iopub within {timeout} s")


def test_kernel_messages_sent_back_on_shell_are_dropped(tmp_path):
    with logged_kernel(tmp_path) as (k, log_path):
        marker = tmp_path / "reflected-ran"
        code = f'import "os"\n\nfunc main() {{ os.WriteFile({json.dumps(str(marker))}, nil, 0o600) }}'
        ctx = zmq.Context.instance()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        info = k.km.get_connection_info()
        sub.connect(f"{info['transport']}://{info['ip']}:{info['iopub_port']}")
        try:
            time.sleep(0.5)  # the subscription reaches the kernel
            harmless = k.submit(println_cell("signed"))
            captured = _captured_iopub(k, sub, "execute_input")
            harmless.finish().assert_ok()
        finally:
            sub.close(linger=0)
        # 1. The execute_input the kernel published, exactly as it signed it,
        #    with the marker-writing code put in a message rebuilt the same way
        #    (the key is shared: whatever the kernel signs, a frontend can sign).
        k.kc.shell_channel.socket.send_multipart(captured)
        rebuilt = k.kc.session.msg("execute_input", {"code": code, "execution_count": 1})
        k.kc.shell_channel.send(rebuilt)
        reply = k.kc.session.msg("execute_reply", {"status": "ok", "execution_count": 1})
        k.kc.shell_channel.send(reply)
        status = k.kc.session.msg("status", {"execution_state": "idle"})
        k.kc.control_channel.send(status)
        time.sleep(3)
        for sent in (rebuilt, reply):
            assert sent["header"]["msg_id"] not in k.stash
        for m in k.foreign_iopub:
            assert m["parent_header"].get("msg_id") not in (rebuilt["header"]["msg_id"], reply["header"]["msg_id"]), fmt_msg(m)
        after = k.run(println_cell("alive"))
        assert after.status == "ok" and after.count == harmless.count + 1, after.describe()
        assert not marker.exists(), "a reflected execute_input ran its code"
        log = log_path.read_text(errors="replace")
        assert "Unhandled shell-socket message" not in log, (
            "a kernel-to-frontend message reached GoNB: " +
            "; ".join(line for line in log.splitlines() if "Unhandled" in line))
        for msg_type in ("execute_input", "execute_reply", "status"):
            assert f'"{msg_type}" is not a message a frontend sends' in log, f"no log line for the dropped {msg_type}:\n{log[-3000:]}"


# ---------------------------------------------------------------------------
# A cell waiting for GoNB to restart


SLEEPER = 'import "time"\n\nfunc main() { time.Sleep(30 * time.Second) }'


def test_interrupt_ends_the_wait_for_a_restarting_gonb(fresh_kernel):
    k = fresh_kernel
    warm = k.run(println_cell("warm")).assert_ok()
    old = k.gonb_pids()
    assert len(old) == 1, old
    os.kill(old[0], signal.SIGKILL)
    # A new GoNB process means the kernel saw the death and is starting one:
    # until it answers, cells wait.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        new = [p for p in gonb_children(k.pid) if p != old[0]]
        if new:
            break
        time.sleep(0.005)
    else:
        pytest.fail("no new GoNB within 20 s")
    k.snapshot()
    cell = k.submit(SLEEPER)
    cell.wait_for(lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "busy", 2,
                  "busy at once while GoNB restarts")
    start = time.monotonic()
    _send_interrupt_request(k)
    cell.finish(timeout=10)
    elapsed = time.monotonic() - start
    assert cell.status == "error", cell.describe()
    reply = cell.reply["content"]
    assert reply.get("ename") == "Interrupted" and "starting" in reply.get("evalue", ""), cell.describe()
    assert elapsed < 5, f"the interrupted wait ended after {elapsed:.1f} s"
    assert cell.count == warm.count + 1 == cell.input_count, cell.describe()
    after = k.run(println_cell("still alive"))
    assert after.status == "ok" and "still alive" in after.stream("stdout"), after.describe()
    assert after.count == cell.count + 1, after.describe()


# ---------------------------------------------------------------------------
# A peer flooding the kernel with bad messages gets a bounded number of log lines


def test_flood_of_bad_messages_is_logged_in_bounded_lines(tmp_path):
    from jupyter_client.session import Session

    with logged_kernel(tmp_path) as (k, log_path):
        forger = Session(key=b"wrong", session=k.kc.session.session, username=k.kc.session.username)
        for _ in range(300):
            forger.send(k.kc.shell_channel.socket, forger.msg("kernel_info_request", {}))
        after = k.run(println_cell("alive"))
        assert after.status == "ok", after.describe()
        time.sleep(1)
        log = log_path.read_text(errors="replace")
        dropped = [line for line in log.splitlines() if "dropped a message on shell" in line]
        assert dropped, f"no log line for the forged messages:\n{log[-2000:]}"
        assert len(dropped) <= 20, f"{len(dropped)} log lines for 300 forged messages (should be rate-limited)"
