"""The gorepro kernel over the Jupyter protocol, as a frontend sees it.

The gorepro kernel (`gorepro kernel`, kernel/internal/proxy) is a proxy in front of GoNB:
it answers kernel_info, is_complete and history itself, runs plugin cells
(`%%name args…`) itself, relays the rest to GoNB, keeps one execution counter,
drops messages with a bad signature, handles interrupt_request messages and
restarts GoNB when it dies. These tests drive it with jupyter_client.

They need the gorepro kernelspec in the venv (`make setup`). Without it the
module is skipped, unless GOREPRO_E2E=1 or GOREPRO_REQUIRE_ALL=1, where a
missing kernel is a failure.
"""

import json
import os
import re
import signal
import time

import pytest
import zmq
from jupyter_client.session import Session

from conftest import skip_missing
from kernel_helpers import (
    CELL_TIMEOUT,
    VENV,
    alive,
    descendants,
    fmt_msg,
    gonb_children,
    reap,
    requires_kernelspec,
    running_kernel,
)

pytestmark = requires_kernelspec

def println_cell(text):
    """A Go cell printing text (a Go string literal: json.dumps quotes ASCII the same way)."""
    return f'import "fmt"\n\nfunc main() {{ fmt.Println({json.dumps(text)}) }}'


@pytest.fixture(scope="module")
def kernel():
    """One kernel shared by the tests that leave it healthy."""
    with running_kernel() as k:
        yield k


@pytest.fixture
def fresh_kernel():
    """A kernel of the test's own, for tests that interrupt, kill or confuse it."""
    with running_kernel() as k:
        yield k


def assert_alive(kernel, after, previous_count=None):
    """A Go cell runs and prints after something went wrong; returns it."""
    cell = kernel.run(println_cell("still alive"))
    assert cell.status == "ok", f"the kernel should run Go cells after {after}: {cell.describe()}"
    assert "still alive" in cell.stream("stdout"), f"stdout after {after}: {cell.describe()}"
    if previous_count is not None:
        assert cell.count == previous_count + 1, (
            f"the Go cell after {after} (count {previous_count}) should get count {previous_count + 1}: {cell.describe()}"
        )
    return cell


# ---------------------------------------------------------------------------
# 1. kernel_info


@pytest.mark.parametrize("channel", ["shell", "control"])
def test_kernel_info(kernel, channel):
    if channel == "shell":
        reply = kernel.request("kernel_info")
    else:
        req = kernel.kc.session.msg("kernel_info_request", {})
        kernel.kc.control_channel.send(req)
        reply = _control_reply(kernel, req["header"]["msg_id"], 30)
    assert reply["msg_type"] == "kernel_info_reply", fmt_msg(reply)
    c = reply["content"]
    assert c["status"] == "ok", c
    assert c["implementation"] == "gorepro", f"implementation: {c}"
    assert c["language_info"]["name"] == "go", f"language_info: {c['language_info']}"
    assert c["language_info"]["file_extension"] == ".go", f"language_info: {c['language_info']}"
    assert re.search(r"backend: (go|xla:\w+)", c["banner"]), f"the banner should name the backend: {c['banner']!r}"
    assert c["protocol_version"].startswith("5."), f"protocol_version: {c['protocol_version']!r}"


# ---------------------------------------------------------------------------
# 2. Go cells: stdout, execution counts


def test_go_cell_stdout_and_execution_counts(kernel):
    first = kernel.run(println_cell("one")).assert_ok("a Go cell printing")
    assert first.stream("stdout") == "one\n", f"stdout of the first cell: {first.describe()}"
    types = [m["msg_type"] for m in first.iopub]
    assert types[0] == "status" and types[1] == "execute_input" and types[-1] == "status", (
        f"iopub should be busy, execute_input, outputs, idle: {types}"
    )
    n = first.count
    assert isinstance(n, int) and n >= 1, f"execution_count: {first.describe()}"
    assert first.input_count == n, f"execute_input's count should equal the reply's: {first.describe()}"

    second = kernel.run(println_cell("two")).assert_ok()
    assert second.count == n + 1, f"the next stored cell should be {n + 1}: {second.describe()}"
    assert second.input_count == second.count, f"execute_input vs reply: {second.describe()}"

    unstored = kernel.run(println_cell("unstored"), store_history=False).assert_ok("a store_history=False cell")
    assert "unstored" in unstored.stream("stdout"), unstored.describe()

    third = kernel.run(println_cell("three")).assert_ok()
    assert third.count == n + 2, (
        f"a store_history=False cell must not take a number: after {n + 1} came {third.count}; {third.describe()}"
    )
    assert third.input_count == third.count, f"execute_input vs reply: {third.describe()}"


# ---------------------------------------------------------------------------
# 3. Plugin cells: errors, counts across plugin and Go cells


def test_unknown_plugin_cell_errors_and_counts_stay_consistent(kernel):
    before = kernel.run(println_cell("before plugin")).assert_ok()

    cell = kernel.run("%%nosuch some args\nbody line")
    assert cell.status == "error", f"an unknown plugin should fail the cell: {cell.describe()}"
    reply = cell.reply["content"]
    assert "nosuch" in str(reply.get("evalue", "")), f"the error should name the plugin: {reply}"
    assert cell.errors, f"the cell should show an error output on iopub: {cell.describe()}"
    assert "nosuch" in str(cell.errors[0].get("evalue", "")), f"the error output should name the plugin: {cell.errors}"
    assert cell.count == before.count + 1, f"the plugin cell after Go cell {before.count}: {cell.describe()}"
    assert cell.input_count == cell.count, f"execute_input's count should equal the reply's: {cell.describe()}"

    assert_alive(kernel, "a failing plugin cell", previous_count=cell.count)


def test_plugin_generating_go_code_keeps_counts(kernel):
    """A plugin that answers with Go code (%%params): GoNB runs it under the cell's request,
    the frontend sees one execute_input and one count, and later Go cells see its declarations."""
    before = kernel.run(println_cell("before params")).assert_ok()
    cell = kernel.run("%%params\ngorepro_test_seed int = 7 // a seed")
    if cell.status == "error" and "unknown plugin" in str(cell.reply["content"].get("evalue", "")):
        skip_missing("the %%params plugin is not registered in this gorepro build")
    assert cell.status == "ok", f"%%params should succeed: {cell.describe()}"
    assert cell.count == before.count + 1, f"the plugin cell after Go cell {before.count}: {cell.describe()}"
    inputs = cell.of_type("execute_input")
    assert len(inputs) == 1 and inputs[0]["content"]["execution_count"] == cell.count, (
        f"one execute_input with the cell's count (GoNB's for the generated code is dropped): {cell.describe()}"
    )
    assert cell.displays, f"%%params should show its table: {cell.describe()}"

    use = kernel.run('import "fmt"\n\nfunc main() { fmt.Println("seed is", gorepro_test_seed) }')
    assert use.status == "ok" and "seed is 7" in use.stream("stdout"), (
        f"a Go cell should see the declaration %%params generated: {use.describe()}"
    )
    assert use.count == cell.count + 1, f"the Go cell after plugin cell {cell.count}: {use.describe()}"


# ---------------------------------------------------------------------------
# 4, 5. Go errors: panic, compile error


@pytest.mark.parametrize(
    "name, code, shows",
    [
        ("panic", 'func main() { panic("boom-from-cell") }', "boom-from-cell"),
        ("compile error", "func main() { undefined_thing() }", "undefined_thing"),
    ],
)
def test_go_error_cell_then_kernel_alive(kernel, name, code, shows):
    cell = kernel.run(code)
    assert cell.status == "error", f"a {name} should give an error reply: {cell.describe()}"
    assert cell.errors, f"a {name} should show an error output: {cell.describe()}"
    assert cell.input_count == cell.count, f"execute_input vs reply: {cell.describe()}"
    assert shows in cell.all_text(), f"the {name}'s outputs should mention {shows!r}: {cell.describe()}"
    assert_alive(kernel, f"a {name}", previous_count=cell.count)


# ---------------------------------------------------------------------------
# 6. Interrupts


LOOP = 'import "fmt"\n\nfunc main() {\n\tfmt.Println("looping")\n\tfor {\n\t}\n}'


def _start_loop(k):
    """Runs a warm-up cell, then the infinite loop until it prints; returns (warm-up, loop) cells."""
    warm = k.run(println_cell("warm")).assert_ok()
    cell = k.submit(LOOP)
    cell.wait_for(lambda m: m["msg_type"] == "stream" and "looping" in m["content"]["text"], CELL_TIMEOUT,
                  "'looping' on stdout (the loop running)")
    k.snapshot()
    return warm, cell


def _send_interrupt_request(k):
    req = k.kc.session.msg("interrupt_request", {})
    k.kc.control_channel.send(req)
    return req["header"]["msg_id"]


@pytest.mark.parametrize("how", ["km.interrupt_kernel", "interrupt_request on the client's control channel"])
def test_interrupt_infinite_loop(fresh_kernel, how):
    k = fresh_kernel
    warm, cell = _start_loop(k)
    start = time.monotonic()
    if how == "km.interrupt_kernel":
        k.km.interrupt_kernel()  # interrupt_mode "message": jupyter_client sends an interrupt_request on control
    else:
        _send_interrupt_request(k)
    cell.finish(timeout=30)
    elapsed = time.monotonic() - start
    assert cell.status in ("error", "aborted"), f"an interrupted cell should end in error/aborted: {cell.describe()}"
    assert elapsed < 30, f"the interrupted cell took {elapsed:.1f} s to end"
    assert cell.count == warm.count + 1, f"count of the interrupted cell: {cell.describe()}"
    assert_alive(k, "an interrupt", previous_count=cell.count)


def test_interrupt_request_gets_interrupt_reply_on_control(fresh_kernel):
    k = fresh_kernel
    _, cell = _start_loop(k)
    msg_id = _send_interrupt_request(k)
    cell.finish(timeout=30)
    try:
        reply = _control_reply(k, msg_id, 5)
    except AssertionError:
        stray = k.stash.get(msg_id)
        pytest.fail(f"no interrupt_reply on control within 5 s (the cell did end: {cell.describe()}; "
                    f"on shell instead: {stray and fmt_msg(stray)})")
    assert reply["msg_type"] == "interrupt_reply", fmt_msg(reply)
    assert reply["content"].get("status") == "ok", reply["content"]


# ---------------------------------------------------------------------------
# 7. Messages with a bad signature are dropped


def _forge(kernel, kind, channel):
    """Sends a badly signed request; returns its msg_id."""
    kc = kernel.kc
    if channel == "shell":
        msg = kc.session.msg("execute_request", {
            "code": println_cell("FORGED"), "silent": False, "store_history": True,
            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True,
        })
        socket = kc.shell_channel.socket
    else:
        msg = kc.session.msg("kernel_info_request", {})
        socket = kc.control_channel.socket
    if kind == "wrong key":
        Session(key=b"wrong", session=kc.session.session, username=kc.session.username).send(socket, msg)
    elif kind == "no signature":
        Session(key=b"", session=kc.session.session, username=kc.session.username).send(socket, msg)
    elif kind == "content changed after signing":
        frames = kc.session.serialize(msg)  # [<IDS|MSG>, signature, header, parent, metadata, content]
        frames[-1] = frames[-1].replace(b"FORGED", b"TAMPERED")
        assert b"TAMPERED" in frames[-1]
        socket.send_multipart(frames)
    else:
        raise ValueError(kind)
    return msg["header"]["msg_id"]


@pytest.mark.parametrize(
    "kind, channel",
    [("wrong key", "shell"), ("no signature", "shell"), ("content changed after signing", "shell"),
     ("wrong key", "control")],
)
def test_bad_signature_is_dropped(fresh_kernel, kind, channel):
    k = fresh_kernel
    before = k.run(println_cell("signed")).assert_ok()
    forged_id = _forge(k, kind, channel)
    try:
        answer = k.shell_reply(forged_id, timeout=3) if channel == "shell" else _control_reply(k, forged_id, 3)
    except AssertionError:  # no reply: dropped, as it should be
        answer = None
    assert answer is None, f"the {kind} request on {channel} was answered: {answer and answer['content']}"
    after = k.run(println_cell("signed again"))
    assert after.status == "ok", f"a correctly signed request after a {kind} one should be served: {after.describe()}"
    assert "signed again" in after.stream("stdout"), after.describe()
    assert after.count == before.count + 1, (
        f"the dropped request must not take an execution count: before {before.count}, after {after.count}"
    )
    assert "FORGED" not in after.all_text() and "TAMPERED" not in after.all_text(), after.describe()
    assert forged_id not in k.stash, f"the {kind} request on {channel} was answered late: {k.stash.get(forged_id)}"
    for m in k.foreign_iopub:
        assert m["parent_header"].get("msg_id") != forged_id, (
            f"the {kind} request on {channel} reached the kernel: iopub {fmt_msg(m)} for it"
        )


def _control_reply(kernel, msg_id, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kernel.kc.control_channel.get_msg(timeout=0.5)
        except Exception:
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg
    raise AssertionError(f"no control reply to {msg_id} within {timeout} s")


# ---------------------------------------------------------------------------
# 8. GoNB dies mid-cell: KernelDied, restart


SLEEPER = 'import (\n\t"fmt"\n\t"time"\n)\n\nfunc main() {\n\tfmt.Println("sleeping")\n\ttime.Sleep(30 * time.Second)\n}'


def test_gonb_killed_mid_cell_is_restarted(fresh_kernel):
    k = fresh_kernel
    warm = k.run(println_cell("warm")).assert_ok()
    old = k.gonb_pids()
    assert len(old) == 1, f"the kernel (pid {k.pid}) should have one GoNB child: {old}"
    cell = k.submit(SLEEPER)
    cell.wait_for(lambda m: m["msg_type"] == "stream" and "sleeping" in m["content"]["text"], CELL_TIMEOUT,
                  "'sleeping' on stdout (the cell running)")
    k.snapshot()
    start = time.monotonic()
    os.kill(old[0], signal.SIGKILL)
    cell.finish(timeout=30)
    elapsed = time.monotonic() - start
    assert cell.status == "error", f"the cell GoNB died in should fail: {cell.describe()}"
    reply = cell.reply["content"]
    said = f"{reply.get('ename')} {reply.get('evalue')}"
    assert "KernelDied" in said or "GoNB" in said, f"the error should say GoNB died: {reply}"
    assert cell.errors, f"an error output should show it: {cell.describe()}"
    assert elapsed < 25, f"the cell ended {elapsed:.1f} s after GoNB died (it slept 30 s): not through the restart"
    assert cell.count == warm.count + 1, cell.describe()

    after = assert_alive(k, "GoNB was killed", previous_count=cell.count)
    new = k.gonb_pids()
    assert len(new) == 1 and new[0] != old[0], f"a new GoNB should run: before {old}, now {new}"
    assert "still alive" in after.stream("stdout")


# ---------------------------------------------------------------------------
# 9. Heartbeat


def test_heartbeat(kernel):
    assert kernel.kc.hb_channel.is_beating(), "the client's heartbeat channel should see the kernel beating"
    info = kernel.km.get_connection_info()
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    try:
        sock.connect(f"{info['transport']}://{info['ip']}:{info['hb_port']}")
        for payload in (b"ping", b"\x00binary\xff"):
            sock.send(payload)
            try:
                echoed = sock.recv()
            except zmq.Again:
                pytest.fail(f"no heartbeat echo of {payload!r} within 5 s")
            assert echoed == payload, f"the heartbeat should echo {payload!r}, got {echoed!r}"
    finally:
        sock.close()


# ---------------------------------------------------------------------------
# 10. is_complete and history


INDENT_BUG = ()  # fixed: incomplete replies always carry indent


@pytest.mark.parametrize(
    "code, status",
    [
        ("func main() {", "incomplete"),
        ("func main() {}", "complete"),
        ('import "fmt"\n\nfunc main() {\n\tfmt.Println("x")\n}', "complete"),
        ("%%help", "complete"),
        ('%%plot "unterminated', "invalid"),
        ("%%\nfor i := 0; i < 3; i++ {", "incomplete"),
        ("", "complete"),
        pytest.param("var xs = []int{\n1,", "incomplete", marks=INDENT_BUG),
        pytest.param("var s = `raw", "incomplete", marks=INDENT_BUG),
    ],
    ids=["open brace", "closed func", "full cell", "plugin cell", "plugin bad quoting", "%% body open loop", "empty",
         "open literal at column 0", "open raw string"],
)
def test_is_complete(kernel, code, status):
    reply = kernel.request("is_complete", code)
    assert reply["msg_type"] == "is_complete_reply", reply["msg_type"]
    got = reply["content"]["status"]
    assert got == status, f"is_complete({code!r}): want {status!r}, got {got!r} ({reply['content']})"
    if status == "incomplete":
        assert "indent" in reply["content"], f"an incomplete reply should carry an indent: {reply['content']}"


def _history(kernel, **kwargs):
    reply = kernel.request("history", raw=True, output=False, **kwargs)
    assert reply["content"]["status"] == "ok", reply["content"]
    return [tuple(h) for h in reply["content"]["history"]]


def test_history_tail_and_range(kernel):
    a = kernel.run(println_cell("history A")).assert_ok()
    b = kernel.run(println_cell("history B")).assert_ok()
    want = [(a.count, a.code), (b.count, b.code)]

    tail = _history(kernel, hist_access_type="tail", n=2)
    assert [(h[1], h[2]) for h in tail] == want, f"tail n=2 should be the last two cells {want}, got {tail}"

    session = tail[0][0]
    rng = _history(kernel, hist_access_type="range", session=session, start=a.count, stop=b.count + 1)
    assert [(h[1], h[2]) for h in rng] == want, f"range [{a.count}, {b.count + 1}) should be {want}, got {rng}"
    one = _history(kernel, hist_access_type="range", session=session, start=b.count, stop=b.count + 1)
    assert [(h[1], h[2]) for h in one] == want[1:], f"range [{b.count}, {b.count + 1}) should be {want[1:]}, got {one}"


SEARCH_SLASH_BUG = ()  # fixed: * matches any text in history search


@pytest.mark.parametrize(
    "code",
    [
        println_cell("history search"),
        pytest.param('import "fmt"\n\nfunc main() { fmt.Println(6 / 3) }', marks=SEARCH_SLASH_BUG),
        pytest.param('import "fmt"\n\n// main prints.\nfunc main() { fmt.Println("commented") }', marks=SEARCH_SLASH_BUG),
    ],
    ids=["plain", "division", "comment"],
)
def test_history_search(kernel, code):
    cell = kernel.run(code).assert_ok()
    found = _history(kernel, hist_access_type="search", pattern="*Println*")
    assert (cell.count, cell.code) in [(h[1], h[2]) for h in found], (
        f"search '*Println*' should find cell {cell.count} {cell.code!r}; got {found}"
    )
    assert all("Println" in h[2] for h in found), f"search returned cells without Println: {found}"
    limited = _history(kernel, hist_access_type="search", pattern="*Println*", n=1)
    assert len(limited) == 1 and limited[0][1] == cell.count, f"search n=1 should be the latest match {cell.count}: {limited}"


# ---------------------------------------------------------------------------
# 11. Completion (GoNB, through gopls)


def test_completion_through_gonb(kernel):
    code = 'import "fmt"\n\nfunc main() { fmt.Pri'
    content = None
    for attempt in range(2):  # gopls may still be loading the first time
        reply = kernel.request("complete", code, len(code))
        content = reply["content"]
        assert reply["msg_type"] == "complete_reply", reply["msg_type"]
        assert content["status"] == "ok", content
        if content["matches"]:
            break
    assert "Println" in content["matches"], f"completing fmt.Pri should offer Println: {content}"
    start, end = content["cursor_start"], content["cursor_end"]
    assert end == len(code) and code[start:end] == "Pri", f"the completed range should be 'Pri': {content}"


# ---------------------------------------------------------------------------
# 12. External plugin (gorepro-plugin-echo)


ECHO = VENV / "bin" / "gorepro-plugin-echo"


def test_external_plugin_echo(kernel):
    if not ECHO.exists():
        skip_missing(f"{ECHO} is not built (`make setup` builds it)")
    before = kernel.run(println_cell("before echo")).assert_ok()
    cell = kernel.run('%%echo a "b c"\nthe body').assert_ok("%%echo")
    assert cell.count == before.count + 1, cell.describe()
    md = [d["text/markdown"] for d in cell.displays if "text/markdown" in d]
    assert md, f"%%echo should show Markdown: {cell.describe()}"
    assert "a" in md[0] and "b c" in md[0], f"the Markdown should hold the arguments a and 'b c': {md[0]!r}"
    assert "the body" in md[0], f"the Markdown should hold the body: {md[0]!r}"

    failing = kernel.run("%%echo --fail")
    assert failing.status == "error", f"%%echo --fail should fail the cell: {failing.describe()}"
    assert failing.errors, f"%%echo --fail should show an error: {failing.describe()}"
    assert failing.count == cell.count + 1, failing.describe()
    assert_alive(kernel, "%%echo --fail", previous_count=failing.count)


# ---------------------------------------------------------------------------
# Shutdown: no GoNB is left behind


def test_shutdown_request_stops_gonb_and_gopls(fresh_kernel):
    k = fresh_kernel
    k.run(println_cell("before shutdown")).assert_ok()
    tree = descendants(k.pid)
    assert any(p in gonb_children(k.pid) for p, _ in tree), f"no GoNB under the kernel: {tree}"
    k.kc.stop_channels()
    k.km.shutdown_kernel(now=False)  # shutdown_request on control, then wait
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(p, s) for p, s in tree):
        time.sleep(0.2)
    left = [p for p, s in tree if alive(p, s)]
    assert not left, f"after a shutdown_request these kernel descendants still run: {left}"


def test_killed_kernel_leaves_no_gonb(fresh_kernel):
    k = fresh_kernel
    k.run(println_cell("before kill")).assert_ok()
    tree = descendants(k.pid)
    gonb = gonb_children(k.pid)
    assert gonb, f"no GoNB under the kernel: {tree}"
    try:
        k.kc.stop_channels()
        k.km.shutdown_kernel(now=True)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and any(alive(p, s) for p, s in tree):
            time.sleep(0.2)
        left = [(p, s) for p, s in tree if alive(p, s)]
        assert not left, f"after the kernel was killed these of its processes still run: {left} (GoNB was {gonb})"
    finally:
        reap(tree)


# ---------------------------------------------------------------------------
# 13. A GoNB that cannot start: bounded retries, then every cell fails at once


@pytest.fixture
def broken_gonb_kernel(tmp_path):
    """A kernel whose GoNB exits at once every time it is started."""
    from kernel_helpers import running_kernel as rk

    fake = tmp_path / "gonb"
    fake.write_text("#!/bin/sh\necho 'fake GoNB: cannot start' >&2\nexit 7\n")
    fake.chmod(0o755)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOREPRO_GONB", str(fake))
        with rk() as k:
            yield k


def test_gonb_that_cannot_start_fails_cells_and_the_kernel_answers(broken_gonb_kernel):
    k = broken_gonb_kernel
    start = time.monotonic()
    cell = k.run(println_cell("never"), timeout=60)
    assert cell.status == "error", cell.describe()
    assert "could not be started" in cell.all_text() and "exit status 7" in cell.all_text(), cell.describe()
    assert time.monotonic() - start < 45, "the launch retries must be bounded"
    # Down now: the next cell fails at once, and control requests still answer.
    start = time.monotonic()
    again = k.run(println_cell("never again"), timeout=10)
    assert again.status == "error" and time.monotonic() - start < 5, again.describe()
    msg_id = k.kc.complete("fmt.Pr", 6)
    reply = k.shell_reply(msg_id, timeout=10)
    assert reply["content"]["status"] == "error", reply
    assert k.kc.kernel_info(reply=True, timeout=10)["content"]["status"] == "ok"


# ---------------------------------------------------------------------------
# 14. Per-kernel state: one private directory, removed on every exit path

STATE_CELL = '''import (
	"fmt"
	"os"
)

func main() {
	dir := os.Getenv("GOREPRO_SESSION_DIR")
	info, err := os.Stat(dir)
	if err != nil {
		panic(err)
	}
	fmt.Printf("session=%s mode=%o\\n", dir, info.Mode().Perm())
}'''


def _session_dir(k):
    cell = k.run(STATE_CELL).assert_ok()
    m = re.search(r"session=(\S+) mode=(\d+)", cell.stream("stdout"))
    assert m, cell.describe()
    return m.group(1), m.group(2)


@pytest.mark.parametrize("how", ["shutdown_request", "SIGKILL of the kernel"])
def test_kernel_state_dir_is_private_and_removed(how):
    with running_kernel() as k:
        session, mode = _session_dir(k)
        state = os.path.dirname(session)
        assert os.path.basename(state).startswith("gorepro-kernel-"), session
        assert mode == "700" and oct(os.stat(state).st_mode & 0o777) == "0o700", (session, mode)
        if how == "SIGKILL of the kernel":
            k.snapshot()
            os.kill(k.pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and os.path.exists(state):
        time.sleep(0.2)
    assert not os.path.exists(state), f"{state} is left after {how}"


# ---------------------------------------------------------------------------
# 15. Replays, duplicate msg_ids, an empty key


def test_replayed_message_is_dropped(fresh_kernel):
    k = fresh_kernel
    kc = k.kc
    msg = kc.session.msg("kernel_info_request", {})
    frames = kc.session.serialize(msg)
    kc.shell_channel.socket.send_multipart(frames)
    first = k.shell_reply(msg["header"]["msg_id"], timeout=10)
    assert first["content"]["status"] == "ok"
    kc.shell_channel.socket.send_multipart(frames)  # the same signed frames again
    with pytest.raises(AssertionError):
        k.shell_reply(msg["header"]["msg_id"], timeout=3)
    assert_alive(k, "a replayed message")


def test_duplicate_msg_id_in_flight_is_refused(fresh_kernel):
    """Two requests with one msg_id: the second must not take the first's replies."""
    k = fresh_kernel
    kc = k.kc
    k.run(println_cell("warm")).assert_ok()
    first = kc.session.msg("complete_request", {"code": "fmt.Pr", "cursor_pos": 6})
    second = kc.session.msg("inspect_request", {"code": "fmt.Println", "cursor_pos": 5, "detail_level": 0})
    second["header"]["msg_id"] = first["header"]["msg_id"]
    kc.shell_channel.send(first)
    kc.shell_channel.send(second)
    replies = []
    deadline = time.monotonic() + 60
    while len(replies) < 2 and time.monotonic() < deadline:
        try:
            m = kc.get_shell_msg(timeout=1)
        except Exception:
            continue
        if m["parent_header"].get("msg_id") == first["header"]["msg_id"]:
            replies.append(m)
    types = sorted(m["msg_type"] for m in replies)
    assert types == ["complete_reply", "inspect_reply"], [fmt_msg(m) for m in replies]
    inspect = next(m for m in replies if m["msg_type"] == "inspect_reply")
    assert inspect["content"]["status"] == "error" and "already in flight" in inspect["content"]["evalue"], inspect
    complete = next(m for m in replies if m["msg_type"] == "complete_reply")
    assert complete["content"]["status"] == "ok", complete


def test_empty_key_is_refused(tmp_path):
    """An empty key turns signing off: the kernel refuses to start with one."""
    import json as _json
    import subprocess

    conn = tmp_path / "kernel.json"
    conn.write_text(_json.dumps({"transport": "tcp", "ip": "127.0.0.1", "shell_port": 45001, "iopub_port": 45002,
                                 "stdin_port": 45003, "control_port": 45004, "hb_port": 45005, "key": "",
                                 "signature_scheme": "hmac-sha256"}))
    from kernel_helpers import kernel_environ

    env = {**os.environ, **kernel_environ()}
    env.pop("GOREPRO_ALLOW_UNSIGNED", None)
    res = subprocess.run([str(VENV / "bin" / "gorepro"), "kernel", "--connection-file", str(conn)],
                         env=env, capture_output=True, text=True, timeout=30)
    assert res.returncode != 0, res
    assert "empty key" in res.stderr and "GOREPRO_ALLOW_UNSIGNED" in res.stderr, res.stderr


# ---------------------------------------------------------------------------
# 16. Hostile peers: a huge frame announced before any signature, a subscriber
# that never reads


def _zmtp_greeting():
    # signature, version 3.0, mechanism NULL, as-server 0, filler
    return b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL" + b"\x00" * 16 + b"\x00" + b"\x00" * 31


def _raw_peer(kernel, channel):
    import socket

    info = kernel.km.get_connection_info()
    s = socket.create_connection((info["ip"], info[f"{channel}_port"]), timeout=10)
    s.sendall(_zmtp_greeting())
    got = b""
    while len(got) < 64:
        chunk = s.recv(64 - len(got))
        assert chunk, "the kernel closed the connection during the greeting"
        got += chunk
    return s


def test_huge_frame_header_drops_that_connection_only(fresh_kernel):
    import socket

    k = fresh_kernel
    before = k.run(println_cell("before")).assert_ok()
    s = _raw_peer(k, "shell")
    # A command frame (flags: long | command) announcing 1 TiB, then nothing.
    s.sendall(b"\x06" + (1 << 40).to_bytes(8, "big"))
    s.settimeout(10)
    closed = False
    try:
        while s.recv(4096):  # the kernel's READY command may come first
            pass
        closed = True
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        pass
    s.close()
    assert closed, "the kernel should drop the connection"
    assert_alive(k, "a frame header announcing 1 TiB", previous_count=before.count)


FLOOD_CELL = '''import (
	"fmt"
	"strings"
)

func main() {
	line := strings.Repeat("z", 1<<20)
	for i := 0; i < 48; i++ {
		fmt.Println(i, line)
	}
	fmt.Println("flood done")
}'''


def test_subscriber_that_never_reads_does_not_stall_the_kernel(fresh_kernel):
    """48 MB of output while one subscriber reads nothing: the others get it all
    at once. (Past the per-peer queue bound, 64 MiB, or 30 s without reading, that subscriber would be
    disconnected: kernel/internal/proxy's TestGuardedConnSlowPeer.)"""
    import socket

    k = fresh_kernel
    k.run(println_cell("warm")).assert_ok()
    s = _raw_peer(k, "iopub")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # READY command with Socket-Type SUB, then subscribe to everything.
    prop = b"\x0bSocket-Type" + (3).to_bytes(4, "big") + b"SUB"
    body = b"\x05READY" + prop
    s.sendall(bytes([0x04, len(body)]) + body)
    s.sendall(b"\x00\x01\x01")  # a message frame: subscribe to ""
    time.sleep(0.5)  # the kernel handles the subscription; this peer never reads again
    start = time.monotonic()
    try:
        cell = k.run(FLOOD_CELL, timeout=120)
    except AssertionError as e:  # its message holds 48 MB of output
        raise AssertionError("the flood cell did not finish: " + str(e)[:500]) from None
    assert cell.status == "ok" and "flood done" in cell.stream("stdout")[-100:], "the flood cell failed"
    assert time.monotonic() - start < 100
    s.close()
    assert_alive(k, "a subscriber that never reads")
