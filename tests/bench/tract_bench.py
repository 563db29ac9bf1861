"""TrAct's per-step overhead: our CIFAR ResNet-18 training step (GoMLX, lib/resnet + lib/tract) against
PyTorch with the official torch-tract (``TrAct(conv1, l=0.1)``), in one run on the same machine.

For each batch size both sides time the plain step and the TrAct step (forward, backward, plain SGD update,
random images, a fresh batch copied from the host each step, the loss read back to wait for the step) and
report the median over the timed steps after warm-up. The ratio that matters is TrAct ÷ plain on each side.

CPU (``make bench-tract``): Debian's python3-torch (the system python) with torch-tract 1.0.0 in a venv of its
own under build/; our side on xla:cpu; small sizes (width 16) since 2 cores take seconds per full-width step.
GPU: ``--device cuda --backend xla:cuda,tf32=false`` (full float32 on both sides; ``--tf32`` for TF32 on both).
Numbers go to build/bench/tract_bench.json (or --out).

``--sweep`` (the CPU step-time study, docs/benchmarks.md): our plain step only, under each variant — a name and
the environment its process runs under (XLA_FLAGS, GLIBC_TUNABLES, …), e.g.
``--variant 'ynn-off=XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type='`` (several variables separated by `` ;; ``)
— with its steps alternating one by one with PyTorch's plain step (our binary's -serve mode), for --rounds rounds,
so every ratio comes from two adjacent steps (the machine may be shared). Raw numbers as JSON lines (--out), then
each variant's median ratio and its spread.

``--ops``: the step taken apart — each convolution shape's forward pass, input gradient and kernel gradient, and
batch normalisation + ReLU per stage, each compiled alone (our binary's -ops) and timed beside PyTorch's same
operation (oneDNN's kernels through torch.ops.aten.convolution_backward); each side's fastest of --steps × --rounds
runs, weighted by how often the step runs it. XLA_FLAGS in the environment reaches our side only.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def torch_resnet18(width, tract_first, lam):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            h = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
            if tract_first:
                from torch_tract import TrAct
                self.conv1 = TrAct(self.conv1, l=lam)
            self.bn1 = nn.BatchNorm2d(width)
            layers, cin = [], width
            for stage in range(4):
                cout = width << stage
                for block in range(2):
                    layers.append(Block(cin, cout, 2 if stage > 0 and block == 0 else 1))
                    cin = cout
            self.layers = nn.Sequential(*layers)
            self.head = nn.Linear(cin, 10)

        def forward(self, x):
            h = torch.relu(self.bn1(self.conv1(x)))
            h = self.layers(h)
            return self.head(h.mean(dim=(2, 3)))

    return Net()


def torch_steps(device, batch, width, side, steps, warmup, tract_first, lam):
    import torch
    torch.manual_seed(1)
    net = torch_resnet18(width, tract_first, lam).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x_host = torch.randn(batch, 3, side, side)
    y_host = torch.randint(0, 10, (batch,))
    ms = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        x, y = x_host.to(device), y_host.to(device)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        loss.item()  # waits for the step
        if i >= warmup:
            ms.append(1000 * (time.perf_counter() - start))
    return statistics.median(ms)


def parse_variant(text):
    """'name=VAR=value VAR2=value2' → (name, {VAR: value, …}); a bare 'name' runs with no extra environment."""
    name, _, rest = text.partition("=")
    env = {}
    for item in rest.split(" ;; ") if rest else []:
        key, _, value = item.partition("=")
        env[key] = value
    return name, env


def torch_step_fn(batch, width, side):
    """One plain torch training step on CPU, timed in ms (as torch_steps does it)."""
    import torch
    torch.manual_seed(1)
    net = torch_resnet18(width, False, 0.1)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x_host = torch.randn(batch, 3, side, side)
    y_host = torch.randint(0, 10, (batch,))

    def step():
        start = time.perf_counter()
        x, y = x_host.clone(), y_host.clone()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        loss.item()
        return 1000 * (time.perf_counter() - start)
    return step


def sweep(args, binary, backend, width, steps):
    """Each variant of our plain step in a process of its own (-serve), its steps alternating one by one with
    torch's in this process, so that each pair of steps sees the same load on a shared machine."""
    import torch
    variants = [parse_variant(v) for v in args.variant] or [("default", {})]
    batch = int(args.batch.split(",")[0])
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch_step = torch_step_fn(batch, width, args.side)
    for _ in range(args.warmup):
        torch_step()
    print(f"sweep: plain CIFAR ResNet-18 step, width {width}, batch {batch}; per variant and round {steps} pairs of steps, "
          f"ours and torch {torch.__version__} ({torch.get_num_threads()} threads) alternating, after {args.warmup} warm-up "
          f"steps each; {args.rounds} rounds; load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    per_round = {name: [] for name, _ in variants}
    pairs = {name: [] for name, _ in variants}
    fastest = {name: [float("inf"), float("inf")] for name, _ in variants}
    with out.open("w") as f:
        for rnd in range(args.rounds):
            for name, env in variants:
                proc = subprocess.Popen([binary, "-serve", "-backend", backend, "-batch", str(batch), "-width", str(width),
                                         "-side", str(args.side), "-warmup", str(args.warmup), "-methods", "baseline"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, **env})
                ready = proc.stdout.readline().split()
                if not ready or ready[0] != "ready":
                    proc.kill()
                    sys.exit(f"variant {name}: our bench did not start (its errors are above)")
                ours, theirs = [], []
                for i in range(steps):
                    theirs.append(torch_step())
                    proc.stdin.write("step\n")
                    proc.stdin.flush()
                    ours.append(float(proc.stdout.readline()))
                proc.stdin.write("quit\n")
                proc.stdin.close()
                proc.wait()
                ratios = [o / t for o, t in zip(ours, theirs)]
                row = {"round": rnd, "variant": name, "env": env, "batch": batch, "width": width,
                       "ours_ms": ours, "torch_ms": theirs, "pair_ratios": ratios, "ours_first_ms": float(ready[1]),
                       "ours_median_ms": statistics.median(ours), "torch_median_ms": statistics.median(theirs),
                       "ratio": statistics.median(ratios), "loadavg": os.getloadavg()[0]}
                per_round[name].append(row["ratio"])
                fastest[name] = [min(fastest[name][0], min(ours)), min(fastest[name][1], min(theirs))]
                pairs[name].extend(ratios)
                f.write(json.dumps(row) + "\n")
                f.flush()
                print(f"round {rnd} {name:>24}: ours {row['ours_median_ms']:8.1f} ms  torch {row['torch_median_ms']:7.1f} ms  "
                      f"median pair ratio {row['ratio']:.2f}×  (load {row['loadavg']:.1f})", flush=True)
    print(f"{'variant':>24} {'median of rounds':>16} {'rounds min–max':>15} {'all pairs: median':>18} {'IQR':>12} "
          f"{'fastest ours/torch':>26}")
    for name, rs in per_round.items():
        q = statistics.quantiles(pairs[name], n=4) if len(pairs[name]) > 1 else [pairs[name][0]] * 3
        print(f"{name:>24} {statistics.median(rs):>15.2f}× {min(rs):>7.2f}–{max(rs):.2f}× {statistics.median(pairs[name]):>17.2f}× "
              f"{q[0]:>5.2f}–{q[2]:.2f}× {fastest[name][0]:>8.1f}/{fastest[name][1]:.1f} ms = {fastest[name][0] / fastest[name][1]:.2f}×")
    print(f"raw numbers in {out}")


def torch_op_ms(row, batch, reps):
    """PyTorch's version of one of our -ops lines (NCHW), timed as ours: sorted milliseconds of reps runs after 2."""
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(4)
    side, cin, cout, k, s = row["side"], row["cin"], row["cout"], row["k"], row["stride"]
    if row["kind"] == "fwdbwd":  # batch normalisation (batch statistics) + ReLU, forward and backward
        x = torch.randn(batch, cin, side, side, generator=g).requires_grad_()
        scale, offset = torch.randn(cin, generator=g).requires_grad_(), torch.randn(cin, generator=g).requires_grad_()
        up = torch.randn(batch, cin, side, side, generator=g)

        def fn():
            x.grad = scale.grad = offset.grad = None
            y = torch.relu(F.batch_norm(x, None, None, scale, offset, training=True, eps=1e-3))
            y.backward(up)
            return (x.grad.sum() + scale.grad.sum() + offset.grad.sum()).item()
    else:
        pad = k // 2
        x = torch.randn(batch, cin, side, side, generator=g)
        w = torch.randn(cout, cin, k, k, generator=g)
        out_side = (side + 2 * pad - k) // s + 1
        up = torch.randn(batch, cout, out_side, out_side, generator=g)
        mask = {"fwd": None, "dx": [True, False, False], "dw": [False, True, False]}[row["kind"].split("-")[0]]
        if mask is None:
            def fn():
                return F.conv2d(x, w, stride=s, padding=pad).sum().item()
        else:
            which = 0 if mask[0] else 1

            def fn():
                grads = torch.ops.aten.convolution_backward(up, x, w, None, [s, s], [pad, pad], [1, 1], False, [0, 0], 1, mask)
                return grads[which].sum().item()
    ms = []
    with torch.no_grad() if row["kind"] != "fwdbwd" else torch.enable_grad():
        for i in range(reps + 2):
            start = time.perf_counter()
            fn()
            if i >= 2:
                ms.append(1000 * (time.perf_counter() - start))
    return sorted(ms)


def ops_profile(args, binary, backend, width, steps):
    """The step taken apart (our binary's -ops): each op alone on both sides, alternating whole passes for --rounds
    rounds; each side's time for an op is its fastest run over all rounds (the least disturbed on a shared machine)."""
    import torch
    batch = int(args.batch.split(",")[0])
    best, raw = {}, []
    for rnd in range(args.rounds):
        res = subprocess.run([binary, "-ops", "-backend", backend, "-batch", str(batch), "-width", str(width),
                              "-side", str(args.side), "-steps", str(steps)], stdout=subprocess.PIPE, text=True)
        if res.returncode != 0:
            sys.exit("our bench failed (its errors are above)")
        for row in map(json.loads, res.stdout.splitlines()):
            key = (row["op"], row["kind"])
            tms = torch_op_ms(row, batch, steps)
            raw.append({"round": rnd, **row, "torch_min_ms": tms[0], "torch_median_ms": tms[len(tms) // 2]})
            b = best.setdefault(key, {**row, "ours": row["min_ms"], "torch": tms[0]})
            b["ours"], b["torch"] = min(b["ours"], row["min_ms"]), min(b["torch"], tms[0])
        print(f"round {rnd} done (load {os.getloadavg()[0]:.1f})", flush=True)
    # dw-im2col and dw-dots are our prototypes of another kernel gradient (torch: its dw): not in the step's sums.
    alternatives = {k: b for k, b in best.items() if k[1].startswith("dw-")}
    best = {k: b for k, b in best.items() if k not in alternatives}
    tot_o = sum(b["count"] * b["ours"] for b in best.values())
    tot_t = sum(b["count"] * b["torch"] for b in best.values())
    print(f"CIFAR ResNet-18 step taken apart: width {width}, batch {batch}; fastest of {steps}×{args.rounds} runs per op; "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), ours on {backend}")
    print(f"{'op':>12} {'kind':>6} {'n':>2} {'ours ms':>8} {'torch ms':>8} {'ratio':>6} {'ours n×ms':>9} {'share':>6} {'torch n×ms':>10} {'share':>6}")
    by_kind = {}
    for b in best.values():
        o, t = b["count"] * b["ours"], b["count"] * b["torch"]
        k = by_kind.setdefault(b["kind"], [0.0, 0.0])
        k[0] += o
        k[1] += t
        print(f"{b['op']:>12} {b['kind']:>6} {b['count']:>2} {b['ours']:>8.2f} {b['torch']:>8.2f} {b['ours'] / b['torch']:>5.2f}× "
              f"{o:>9.1f} {100 * o / tot_o:>5.1f}% {t:>10.1f} {100 * t / tot_t:>5.1f}%")
    for kind, (o, t) in by_kind.items():
        print(f"{'all':>12} {kind:>6} {'':>2} {'':>8} {'':>8} {o / t:>5.2f}× {o:>9.1f} {100 * o / tot_o:>5.1f}% {t:>10.1f} {100 * t / tot_t:>5.1f}%")
    print(f"{'sum':>12} {'':>6} {'':>2} {'':>8} {'':>8} {tot_o / tot_t:>5.2f}× {tot_o:>9.1f} {'':>6} {tot_t:>10.1f}")
    if alternatives:
        print("our kernel gradient as matrix products instead (prototypes; ms, n× summed over the step):")
        for kind in sorted({k[1] for k in alternatives}):
            alt = sum(b["count"] * b["ours"] for k, b in alternatives.items() if k[1] == kind)
            cur = sum(best[(k[0], "dw")]["count"] * best[(k[0], "dw")]["ours"] for k in alternatives if k[1] == kind)
            per_op = ", ".join(f"{k[0]} {b['ours'] / best[(k[0], 'dw')]['ours']:.2f}×" for k, b in alternatives.items() if k[1] == kind)
            print(f"  {kind}: {alt:.1f} ms against the convolution's {cur:.1f} ms ({per_op})")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"batch": batch, "width": width, "side": args.side, "reps": steps, "rounds": args.rounds,
                               "backend": backend, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                               "best": list(best.values()), "alternatives": list(alternatives.values()), "raw": raw}, indent=1))
    print(f"numbers in {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backend", default="xla:cpu")
    ap.add_argument("--batch", default="128,512")
    ap.add_argument("--width", type=int, default=None, help="ResNet width (default: 16 on cpu, 64 on cuda)")
    ap.add_argument("--side", type=int, default=32)
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default: 5 on cpu, 30 on cuda)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--tf32", action="store_true", help="let both sides use TF32 (GPU)")
    ap.add_argument("--binary", default=None, help="our bench binary (default: go build ./tests/bench/tract)")
    ap.add_argument("--ours", default=None, help="read our side's JSON lines from this file (written by the binary) instead of running it")
    ap.add_argument("--sweep", action="store_true", help="the CPU step-time study: our plain step under each --variant, each beside torch's")
    ap.add_argument("--variant", action="append", default=[], help="NAME=VAR=value[ ;; VAR2=value2] (with --sweep; repeatable)")
    ap.add_argument("--ops", action="store_true", help="the step taken apart: each convolution's forward, input and kernel gradient, and batch normalisation, on both sides")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over the variants (with --sweep)")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench" / "tract_bench.json"))
    args = ap.parse_args()
    import torch
    import torch_tract
    on_gpu = args.device.startswith("cuda")
    width = args.width or (64 if on_gpu else 16)
    steps = args.steps or (30 if on_gpu else 5)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    if not on_gpu:
        torch.set_num_threads(os.cpu_count())
    backend = args.backend
    if on_gpu and not args.tf32 and "tf32" not in backend:
        backend += ",tf32=false"
    if args.sweep or args.ops:
        binary = args.binary
        if binary is None:
            binary = str(ROOT / "build" / "bench" / "tract-bench")
            subprocess.run(["go", "build", "-o", binary, "./tests/bench/tract"], cwd=ROOT, check=True)
        if args.out.endswith("tract_bench.json"):
            args.out = str(ROOT / "build" / "bench" / ("tract_sweep.jsonl" if args.sweep else "tract_ops.json"))
        (sweep if args.sweep else ops_profile)(args, binary, backend, width, steps)
        return
    if args.ours:
        lines = pathlib.Path(args.ours).read_text().splitlines()
    else:
        binary = args.binary
        if binary is None:
            binary = str(ROOT / "build" / "bench" / "tract-bench")
            subprocess.run(["go", "build", "-o", binary, "./tests/bench/tract"], cwd=ROOT, check=True)
        res = subprocess.run([binary, "-backend", backend, "-batch", args.batch, "-width", str(width), "-side", str(args.side),
                              "-steps", str(steps), "-warmup", str(args.warmup)], stdout=subprocess.PIPE, text=True)
        if res.returncode != 0:
            sys.exit("our bench failed (its errors are above)")
        lines = res.stdout.splitlines()
    ours = {(r["batch"], r["method"]): r for r in map(json.loads, lines)}
    backend = next(iter(ours.values()))["backend"]
    rows = []
    print(f"CIFAR ResNet-18 training step, width {width}, {args.side}×{args.side} images, median of {steps} steps; "
          f"{'TF32' if args.tf32 else 'full float32'}; torch {torch.__version__} on {args.device}, torch-tract "
          f"{getattr(torch_tract, '__version__', '1.0.0')}, ours on {backend}")
    print(f"{'batch':>5} {'ours plain':>11} {'ours TrAct':>11} {'ours ratio':>10} {'torch plain':>11} {'torch TrAct':>11} "
          f"{'torch ratio':>11} {'ours/torch (plain)':>18}")
    for batch in [int(b) for b in args.batch.split(",")]:
        if (batch, "baseline") not in ours or (batch, "tract") not in ours:
            print(f"{batch:>5} our side has no result for this batch (it stopped early): skipped")
            continue
        tp = torch_steps(args.device, batch, width, args.side, steps, args.warmup, False, 0.1)
        tt = torch_steps(args.device, batch, width, args.side, steps, args.warmup, True, 0.1)
        op, ot = ours[(batch, "baseline")]["median_ms"], ours[(batch, "tract")]["median_ms"]
        row = {"batch": batch, "ours_plain_ms": op, "ours_tract_ms": ot, "ours_ratio": ot / op,
               "torch_plain_ms": tp, "torch_tract_ms": tt, "torch_ratio": tt / tp, "ours_over_torch_plain": op / tp,
               "ours_first_step_ms": {m: ours[(batch, m)]["first_ms"] for m in ("baseline", "tract")}}
        rows.append(row)
        print(f"{batch:>5} {op:>9.1f}ms {ot:>9.1f}ms {ot / op:>9.3f}× {tp:>9.1f}ms {tt:>9.1f}ms {tt / tp:>10.3f}× {op / tp:>17.2f}×")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": args.device, "backend": backend, "width": width, "side": args.side, "steps": steps,
                               "tf32": args.tf32, "torch": torch.__version__, "cpu_count": os.cpu_count(), "rows": rows}, indent=1))
    print(f"numbers in {out}")


if __name__ == "__main__":
    main()
