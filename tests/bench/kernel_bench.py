#!/usr/bin/env python3
"""make bench-kernel: what the gorepro kernel proxy costs, measured against raw GoNB.

A benchmark, not a test: it asserts nothing about time. In one run it starts
the raw `gonb` kernel and the `gorepro` kernel (the Go proxy in front of GoNB)
through jupyter_client, warms both up, then measures

  1. the round trip of a trivial cell (`func main() {}`; GoNB compiles every
     cell) on both kernels, interleaved to cancel drift: median and p90, and
     the proxy's added latency = median(gorepro) - median(gonb);
  2. is_complete_request and history_request round trips on gorepro (which
     answers them itself; raw GoNB never answers them);
  3. the proxy's resident memory (VmRSS of the `gorepro kernel` process that
     jupyter_client started, not of its GoNB child) when idle.

It prints a table with the targets of the kernel issue (met / not met) and
writes the numbers to build/bench/kernel_bench.json.

Usage: .venv/bin/python tests/bench/kernel_bench.py [--cells 30] [--requests 50] [--warmup 5]
"""

import argparse
import datetime
import json
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("GOREPRO_ROOT") or Path(__file__).resolve().parents[2])
VENV = Path(os.environ.get("GOREPRO_VENV") or ROOT / ".venv")
RUNTIME = Path(tempfile.mkdtemp(prefix="gorepro-bench-"))

# The same environment as `gorepro lab` gives its kernels; set before jupyter_client
# looks up kernelspecs, which it does through these variables.
os.environ.update(
    GOREPRO_ROOT=str(ROOT),
    GOREPRO_VENV=str(VENV),
    PATH=f"{VENV / 'bin'}:{os.environ.get('PATH', '')}",
    JUPYTER_DATA_DIR=str(VENV / "share" / "jupyter"),
    JUPYTER_RUNTIME_DIR=str(RUNTIME),
)

from jupyter_client.manager import KernelManager  # noqa: E402

TRIVIAL = "func main() {}"
# A cell GoNB answers without compiling (it lists the memorized declarations as one display_data):
# the same relay path, without the compile's 100+ ms of noise.
NO_COMPILE = "%ls"
TARGETS = {
    "added_latency_median_ms": 5.0,  # <= (both cells)
    "is_complete_ms": 50.0,  # <= (max over the requests)
    "history_ms": 50.0,  # <= (max over the requests)
    "idle_rss_mb": 30.0,  # <
}


def ms(seconds):
    return seconds * 1000.0


def pct(values, p):
    """The p-th percentile, nearest rank."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def summary(values):
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 3),
        "p90_ms": round(pct(values, 90), 3),
        "min_ms": round(min(values), 3),
        "max_ms": round(max(values), 3),
        "mean_ms": round(statistics.fmean(values), 3),
    }


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def children(pid):
    """Direct children of pid (scanning /proc: a Go process forks from any of its threads)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(d))
    return out


class Kernel:
    """One kernel started by jupyter_client, with a blocking client."""

    def __init__(self, name, cwd, log):
        self.name = name
        self.km = KernelManager(kernel_name=name)
        t0 = time.perf_counter()
        # The kernels' logs (GoNB's glog lines, its goroutine trace on exit) go to a file, not to the table.
        self.km.start_kernel(cwd=str(cwd), stdout=log, stderr=log)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=180)
        self.startup_ms = ms(time.perf_counter() - t0)
        self.pid = self.km.provisioner.pid

    def _shell_reply(self, msg_id, timeout):
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no shell reply to {msg_id} in {timeout} s")
            try:
                msg = self.kc.get_shell_msg(timeout=left)
            except queue.Empty:
                raise TimeoutError(f"{self.name}: no shell reply to {msg_id} in {timeout} s") from None
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    def execute(self, code, timeout=300):
        """Runs a cell; returns (ms to execute_reply, ms to status idle, reply content, outputs)."""
        t0 = time.perf_counter()
        msg_id = self.kc.execute(code, store_history=True)
        reply = self._shell_reply(msg_id, timeout)
        t_reply = time.perf_counter()
        outputs = []
        idle = None
        deadline = t0 + timeout
        while idle is None:
            msg = self.kc.get_iopub_msg(timeout=max(0.001, deadline - time.perf_counter()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            t = msg["msg_type"]
            if t == "status" and msg["content"]["execution_state"] == "idle":
                idle = time.perf_counter()
            elif t in ("stream", "error", "display_data", "execute_result"):
                outputs.append((t, msg["content"]))
        return ms(t_reply - t0), ms(idle - t0), reply["content"], outputs

    def request(self, kind, timeout=10, **kw):
        """is_complete, history or comm_info: ms to the reply and the reply's content."""
        t0 = time.perf_counter()
        if kind == "is_complete":
            msg_id = self.kc.is_complete(kw["code"])
        elif kind == "comm_info":
            msg_id = self.kc.comm_info()
        else:
            msg_id = self.kc.history(hist_access_type="tail", n=kw.get("n", 10), output=False, raw=True)
        reply = self._shell_reply(msg_id, timeout)
        return ms(time.perf_counter() - t0), reply["content"]

    def close(self):
        try:
            self.kc.stop_channels()
        finally:
            try:
                self.km.shutdown_kernel(now=False)
            except Exception:  # noqa: BLE001 - a benchmark's cleanup must not hide its numbers
                self.km.shutdown_kernel(now=True)


def check_ok(kernel, reply, outputs, code):
    if reply.get("status") != "ok":
        raise RuntimeError(f"{kernel.name}: cell {code!r} failed: {reply} {outputs}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=30, help="trivial cells per kernel (interleaved)")
    ap.add_argument("--requests", type=int, default=50, help="is_complete and history requests")
    ap.add_argument("--warmup", type=int, default=5, help="warm-up cells per kernel")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench" / "kernel_bench.json"))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gorepro-bench-cwd-"))
    logs = ROOT / "build" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    kernels, logfiles = {}, []
    notes = []
    load_before = os.getloadavg()
    try:
        for name in ("gonb", "gorepro"):
            print(f"starting {name} (log: {logs / f'kernel_bench-{name}.log'}) ...", flush=True)
            logfiles.append(open(logs / f"kernel_bench-{name}.log", "wb"))
            kernels[name] = Kernel(name, work, logfiles[-1])
        gonb, gor = kernels["gonb"], kernels["gorepro"]
        proxy_cmd = cmdline(gor.pid)
        if "gorepro" not in proxy_cmd or " kernel" not in proxy_cmd:
            raise RuntimeError(f"pid {gor.pid} is not the gorepro kernel: {proxy_cmd!r}")
        time.sleep(2)
        rss_start_kb = status_kb(gor.pid, "VmRSS")

        # Warm-up: a few cells on each, including one that prints (both relay output).
        warm = ["func main() {}", 'import "fmt"\nfunc main() { fmt.Println("warm") }', "func main() {}"]
        for name, k in kernels.items():
            for i in range(args.warmup):
                code = warm[i % len(warm)]
                r, idle, reply, outputs = k.execute(code)
                check_ok(k, reply, outputs, code)
                print(f"  warm-up {name} #{i + 1}: {r:.0f} ms", flush=True)

        # 1. Trivial cells, interleaved: even rounds gonb first, odd rounds gorepro first.
        rtt = {"gonb": [], "gorepro": []}
        idle = {"gonb": [], "gorepro": []}
        for i in range(args.cells):
            order = ("gonb", "gorepro") if i % 2 == 0 else ("gorepro", "gonb")
            for name in order:
                r, d, reply, outputs = kernels[name].execute(TRIVIAL)
                check_ok(kernels[name], reply, outputs, TRIVIAL)
                rtt[name].append(r)
                idle[name].append(d)
        print(f"  {args.cells} trivial cells on each kernel done", flush=True)
        # 1b. The no-compile cell, interleaved the same way.
        nc = {"gonb": [], "gorepro": []}
        for i in range(args.cells):
            order = ("gonb", "gorepro") if i % 2 == 0 else ("gorepro", "gonb")
            for name in order:
                r, d, reply, outputs = kernels[name].execute(NO_COMPILE)
                check_ok(kernels[name], reply, outputs, NO_COMPILE)
                nc[name].append(r)
        print(f"  {args.cells} no-compile cells ({NO_COMPILE}) on each kernel done", flush=True)

        # 2. is_complete and history on gorepro; Go code, incomplete code and a plugin cell.
        codes = [
            "x := 1",
            "func f() {",
            'import "fmt"\nfunc main() {\n\tfmt.Println(1)\n}',
            "%%backend",
            "func main() { )",
        ]
        isc, statuses, by_code = [], {}, {c: [] for c in codes}
        for i in range(args.requests):
            code = codes[i % len(codes)]
            t, content = gor.request("is_complete", code=code)
            isc.append(t)
            by_code[code].append(t)
            statuses[code] = content.get("status")
        hist, hist_len = [], None
        for i in range(args.requests):
            t, content = gor.request("history", n=10)
            hist.append(t)
            hist_len = len(content.get("history", []))
        # Which requests each kernel answers at all (DESIGN.md: raw GoNB never answers is_complete
        # and history). comm_info last: neither may answer it, and it is asked for by widget managers.
        answers = {}
        for name, k in (("gonb", gonb), ("gorepro", gor)):
            answers[name] = {}
            for kind in ("is_complete", "history", "comm_info"):
                try:
                    t, _ = k.request(kind, timeout=2, code="x := 1")
                    answers[name][kind] = f"answered in {t:.1f} ms"
                except TimeoutError:
                    answers[name][kind] = "no reply in 2 s"
                except Exception as e:  # noqa: BLE001
                    answers[name][kind] = f"{type(e).__name__}: {e}"

        # 3. Idle RSS: a quiet kernel after the run.
        time.sleep(3)
        gonb_children = children(gor.pid)
        rss = {
            "proxy_pid": gor.pid,
            "proxy_cmdline": proxy_cmd,
            "proxy_vmrss_mb_after_start": round(rss_start_kb / 1024, 2) if rss_start_kb else None,
            "proxy_vmrss_mb_idle": round(status_kb(gor.pid, "VmRSS") / 1024, 2),
            "proxy_vmhwm_mb": round(status_kb(gor.pid, "VmHWM") / 1024, 2),
            "proxy_children": {str(c): {"cmd": cmdline(c)[:120], "vmrss_mb": round((status_kb(c, "VmRSS") or 0) / 1024, 2)} for c in gonb_children},
            "raw_gonb_vmrss_mb_idle": round((status_kb(gonb.pid, "VmRSS") or 0) / 1024, 2),
        }
    finally:
        for k in kernels.values():
            k.close()
        for f in logfiles:
            f.close()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(RUNTIME, ignore_errors=True)

    s_gonb, s_gor = summary(rtt["gonb"]), summary(rtt["gorepro"])
    added = s_gor["median_ms"] - s_gonb["median_ms"]
    # Paired differences (same round) as a second estimate, less sensitive to drift.
    paired = [a - b for a, b in zip(rtt["gorepro"], rtt["gonb"])]
    s_isc, s_hist = summary(isc), summary(hist)
    nc_gonb, nc_gor = summary(nc["gonb"]), summary(nc["gorepro"])
    nc_added = nc_gor["median_ms"] - nc_gonb["median_ms"]
    idle_rss = rss["proxy_vmrss_mb_idle"]

    results = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "git_head": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "params": {"cells": args.cells, "requests": args.requests, "warmup": args.warmup, "trivial_cell": TRIVIAL},
        "startup_ms": {k: round(v.startup_ms, 1) for k, v in kernels.items()},
        "trivial_cell_execute_reply": {"gonb": s_gonb, "gorepro": s_gor},
        "trivial_cell_until_idle": {"gonb": summary(idle["gonb"]), "gorepro": summary(idle["gorepro"])},
        "added_latency_median_ms": round(added, 3),
        "added_latency_paired_median_ms": round(statistics.median(paired), 3),
        "ratio_median": round(s_gor["median_ms"] / s_gonb["median_ms"], 4),
        "no_compile_cell": {"cell": NO_COMPILE, "gonb": nc_gonb, "gorepro": nc_gor,
                            "added_latency_median_ms": round(nc_added, 3),
                            "added_latency_paired_median_ms": round(statistics.median([a - b for a, b in zip(nc["gorepro"], nc["gonb"])]), 3),
                            "ratio_median": round(nc_gor["median_ms"] / nc_gonb["median_ms"], 4)},
        "is_complete": {**s_isc, "statuses": statuses,
                        "by_code": {c: {"median_ms": round(statistics.median(v), 3), "max_ms": round(max(v), 3)} for c, v in by_code.items()}},
        "history": {**s_hist, "entries_returned": hist_len},
        "answers": answers,
        "rss": rss,
        "raw_ms": {"gonb": [round(x, 3) for x in rtt["gonb"]], "gorepro": [round(x, 3) for x in rtt["gorepro"]],
                   "no_compile_gonb": [round(x, 3) for x in nc["gonb"]], "no_compile_gorepro": [round(x, 3) for x in nc["gorepro"]],
                   "is_complete": [round(x, 3) for x in isc], "history": [round(x, 3) for x in hist]},
        "notes": notes,
    }
    checks = [
        ("added latency, median, trivial cell", f"{added:+.2f} ms (ratio {results['ratio_median']:.3f})",
         f"<= {TARGETS['added_latency_median_ms']:g} ms", added <= TARGETS["added_latency_median_ms"]),
        (f"added latency, median, {NO_COMPILE} cell", f"{nc_added:+.2f} ms (ratio {nc_gor['median_ms'] / nc_gonb['median_ms']:.3f})",
         f"<= {TARGETS['added_latency_median_ms']:g} ms", nc_added <= TARGETS["added_latency_median_ms"]),
        ("is_complete round trip, max", f"{s_isc['max_ms']:.2f} ms (median {s_isc['median_ms']:.2f})",
         f"<= {TARGETS['is_complete_ms']:g} ms", s_isc["max_ms"] <= TARGETS["is_complete_ms"]),
        ("history round trip, max", f"{s_hist['max_ms']:.2f} ms (median {s_hist['median_ms']:.2f})",
         f"<= {TARGETS['history_ms']:g} ms", s_hist["max_ms"] <= TARGETS["history_ms"]),
        ("proxy idle RSS (VmRSS)", f"{idle_rss:.1f} MB", f"< {TARGETS['idle_rss_mb']:g} MB", idle_rss < TARGETS["idle_rss_mb"]),
    ]
    results["targets"] = [{"what": w, "value": v, "target": t, "met": m} for w, v, t, m in checks]

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")

    print()
    print(f"kernel benchmark ({os.cpu_count()} CPUs, {args.cells} interleaved trivial cells per kernel, `{TRIVIAL}`)")
    print(f"{'':28} {'median':>10} {'p90':>10} {'min':>10} {'max':>10}")
    for label, s in (("gonb, trivial cell", s_gonb), ("gorepro, trivial cell", s_gor),
                     (f"gonb, {NO_COMPILE} cell", nc_gonb), (f"gorepro, {NO_COMPILE} cell", nc_gor),
                     ("gorepro, is_complete", s_isc), ("gorepro, history", s_hist)):
        print(f"{label:28} {s['median_ms']:8.2f}ms {s['p90_ms']:8.2f}ms {s['min_ms']:8.2f}ms {s['max_ms']:8.2f}ms")
    print("(round trip: execute_request sent -> execute_reply received)")
    print(f"added latency, trivial cell: median {added:+.2f} ms (paired {statistics.median(paired):+.2f} ms), "
          f"ratio {results['ratio_median']:.3f}")
    print(f"added latency, {NO_COMPILE} cell: median {nc_added:+.2f} ms "
          f"(paired {results['no_compile_cell']['added_latency_paired_median_ms']:+.2f} ms), "
          f"ratio {results['no_compile_cell']['ratio_median']:.3f}")
    print(f"kernel startup: gonb {kernels['gonb'].startup_ms:.0f} ms, gorepro {kernels['gorepro'].startup_ms:.0f} ms")
    print(f"proxy RSS: {rss['proxy_vmrss_mb_after_start']} MB after start, {idle_rss} MB idle after the run, "
          f"peak {rss['proxy_vmhwm_mb']} MB; raw gonb {rss['raw_gonb_vmrss_mb_idle']} MB")
    print(f"load average (1 min): {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after "
          f"(other work on this machine adds noise)")
    for name, a in answers.items():
        print(f"{name:8} answers: " + ", ".join(f"{k} {v}" for k, v in a.items()))
    print()
    print(f"{'target':40} {'value':32} {'goal':10} ")
    for w, v, t, m in checks:
        print(f"{w:40} {v:32} {t:10} {'met' if m else 'not met'}")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
