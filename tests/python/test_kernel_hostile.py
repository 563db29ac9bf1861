"""Hostile peers on the kernel's loopback ports (issue 30): what an
unauthenticated local process can do before any signature is checked.

Each test starts a kernel of its own (the attacks may confuse it) and bounds
every loop in count and time. Run against a kernelspec built from the tree
under test: GOREPRO_TEST_JUPYTER_DATA (see conftest)."""

import contextlib
import json
import os
import socket
import time

import pytest
from jupyter_client import BlockingKernelClient

from kernel_helpers import requires_kernelspec, running_kernel

pytestmark = requires_kernelspec


def println_cell(text):
    """A Go cell printing text (a Go string literal: json.dumps quotes ASCII the same way)."""
    return f'import "fmt"\n\nfunc main() {{ fmt.Println({json.dumps(text)}) }}'


def assert_alive(kernel, after):
    """A Go cell runs and prints after something went wrong."""
    cell = kernel.run(println_cell("still alive"))
    assert cell.status == "ok", f"the kernel should run Go cells after {after}: {cell.describe()}"
    assert "still alive" in cell.stream("stdout"), f"stdout after {after}: {cell.describe()}"


@pytest.fixture
def fresh_kernel():
    with running_kernel() as k:
        yield k


def _zmtp_greeting():
    # signature, version 3.0, mechanism NULL, as-server 0, filler
    return b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL" + b"\x00" * 16 + b"\x00" + b"\x00" * 31


def _ready(socket_type, identity=b""):
    """A READY command frame (ZMTP 3, NULL mechanism)."""
    body = b"\x05READY" + b"\x0bSocket-Type" + len(socket_type).to_bytes(4, "big") + socket_type
    if identity:
        body += b"\x08Identity" + len(identity).to_bytes(4, "big") + identity
    return bytes([0x04, len(body)]) + body


def _raw_peer(kernel, channel, timeout=10):
    """A TCP connection to one of the kernel's ports that has exchanged greetings."""
    info = kernel.km.get_connection_info()
    s = socket.create_connection((info["ip"], info[f"{channel}_port"]), timeout=timeout)
    s.sendall(_zmtp_greeting())
    got = b""
    while len(got) < 64:
        chunk = s.recv(64 - len(got))
        assert chunk, "the kernel closed the connection during the greeting"
        got += chunk
    return s


def _read_until_closed(s, timeout):
    """Everything s receives until the kernel closes it; (data, closed)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(1 << 16)
        except socket.timeout:
            break
        except (ConnectionResetError, BrokenPipeError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def _vm_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


# Wire bytes of empty frames with MORE set: before the fix zmq4 kept a slice
# per frame (24 bytes and growth for every 2 bytes sent) and the kernel
# grew by about 1.7 GiB on 43 MiB.
FLOOD_BYTES = 43 << 20
RSS_GROWTH_BOUND_MIB = 150  # the 128 MiB message limit (128 bytes counted per frame): about 85 MiB measured


def test_empty_more_frames_are_bounded_before_allocation(fresh_kernel):
    k = fresh_kernel
    k.run(println_cell("warm")).assert_ok()
    rss_before = _vm_rss_mib(k.pid)
    s = _raw_peer(k, "shell", timeout=20)
    s.sendall(_ready(b"DEALER"))
    block = b"\x01\x00" * (1 << 19)  # 1 MiB of empty frames, each with MORE
    sent, dropped = 0, False
    start = time.monotonic()
    try:
        while sent < FLOOD_BYTES and time.monotonic() - start < 20:
            s.sendall(block)
            sent += len(block)
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        dropped = True
    if not dropped:
        _, dropped = _read_until_closed(s, 5)
    s.close()
    time.sleep(0.5)
    growth = _vm_rss_mib(k.pid) - rss_before
    print(f"{sent >> 20} MiB of empty MORE frames sent, dropped {dropped}, kernel VmRSS grew by {growth:.0f} MiB")
    assert growth < RSS_GROWTH_BOUND_MIB, (
        f"{sent >> 20} MiB of empty MORE frames grew the kernel by {growth:.0f} MiB (bound {RSS_GROWTH_BOUND_MIB})"
    )
    assert dropped, f"the kernel should drop a connection sending {sent >> 20} MiB of empty frames in one message"
    assert_alive(k, "a flood of empty frames")


def test_silent_connections_do_not_block_new_clients(fresh_kernel):
    k = fresh_kernel
    info = k.km.get_connection_info()
    silent = [
        socket.create_connection((info["ip"], info[f"{ch}_port"]), timeout=5)
        for ch in ("shell", "control", "stdin", "iopub", "hb")
    ]
    try:
        time.sleep(0.3)  # the kernel has accepted them
        # A client with a session of its own: km.client() would share the
        # first client's session id, its shell identity, which is refused.
        kc = BlockingKernelClient()
        kc.load_connection_info(info)
        kc.start_channels()
        try:
            start = time.monotonic()
            reply = kc.kernel_info(reply=True, timeout=10)
            assert reply["content"]["status"] == "ok"
            assert time.monotonic() - start < 10
        finally:
            kc.stop_channels()
    finally:
        for s in silent:
            s.close()


def test_duplicate_identity_gets_no_replies(fresh_kernel):
    k = fresh_kernel
    identity = k.kc.session.bsession  # jupyter_client's shell identity; public on iopub
    s = _raw_peer(k, "shell")
    s.sendall(_ready(b"DEALER", identity))
    time.sleep(0.3)
    reply = k.request("kernel_info")
    assert reply["content"]["status"] == "ok", "the legitimate client should get its reply"
    got, _ = _read_until_closed(s, 3)
    s.close()
    assert b"kernel_info_reply" not in got, "a peer presenting the client's identity received its reply"
    assert_alive(k, "a peer presenting a connected identity")


def _kernel_holds(pid, kernel_port, peer_port):
    """Whether process pid has a descriptor open on the TCP connection
    kernel_port <-> peer_port (a connection it closed is orphaned, inode 0,
    even while its unsent bytes keep the peer from seeing the close)."""
    fds = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                fds.add(link[8:-1])
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.split(":")[1], 16) == kernel_port and int(remote.split(":")[1], 16) == peer_port:
                return inode in fds
    return False


def test_heartbeat_peer_that_never_reads_is_dropped(monkeypatch):
    monkeypatch.setenv("GOREPRO_KERNEL_WRITE_TIMEOUT", "1s")  # queue bound left at its default
    with running_kernel() as k:
        hb_port = k.km.get_connection_info()["hb_port"]
        s = _raw_peer(k, "hb")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(_ready(b"REQ"))
        peer_port = s.getsockname()[1]
        assert _kernel_holds(k.pid, hb_port, peer_port), "the kernel should hold the heartbeat connection"
        ping = b"\x01\x00" + b"\x02" + (1 << 16).to_bytes(8, "big") + b"p" * (1 << 16)  # delimiter, 64 KiB
        sent = 0
        start = time.monotonic()
        s.settimeout(5)
        with contextlib.suppress(ConnectionResetError, BrokenPipeError, socket.timeout):
            for _ in range(320):  # 20 MiB of pings whose echoes are never read
                if time.monotonic() - start > 10:
                    break
                s.sendall(ping)
                sent += 1 << 16
        deadline = time.monotonic() + 10
        while _kernel_holds(k.pid, hb_port, peer_port) and time.monotonic() < deadline:
            time.sleep(0.2)
        held = _kernel_holds(k.pid, hb_port, peer_port)
        s.close()
        assert not held, f"a heartbeat peer that read none of {sent >> 20} MiB of echoes was not dropped within 10 s"
        assert k.kc.hb_channel.is_beating(), "the heartbeat should go on for the other clients"
        assert_alive(k, "a heartbeat peer that never reads")


def test_malformed_heartbeat_requests_do_not_stop_the_heartbeat(fresh_kernel):
    k = fresh_kernel
    s = _raw_peer(k, "hb")
    s.sendall(_ready(b"REQ"))
    s.sendall(b"\x00\x04oops")  # a message without the empty delimiter frame
    s.sendall(b"\x04\x05\x04PING")  # a ZMTP command
    time.sleep(1)
    s.close()
    assert k.kc.hb_channel.is_beating(), "the heartbeat should go on"
    # jupyter_client checks every 3 s by default: let it miss some beats if the loop ended.
    time.sleep(5)
    assert k.kc.hb_channel.is_beating(), "a malformed heartbeat request from another peer stopped the heartbeat"
    assert_alive(k, "malformed heartbeat requests")
