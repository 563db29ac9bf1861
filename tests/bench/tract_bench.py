"""TrAct's per-step overhead: our CIFAR ResNet-18 training step (GoMLX, lib/resnet + lib/tract) against
PyTorch with the official torch-tract (``TrAct(conv1, l=0.1)``), in one run on the same machine.

For each batch size both sides time the plain step and the TrAct step (forward, backward, plain SGD update,
random images, a fresh batch copied from the host each step, the loss read back to wait for the step) and
report the median over the timed steps after warm-up. The ratio that matters is TrAct ÷ plain on each side.

CPU (``make bench-tract``): Debian's python3-torch (the system python) with torch-tract 1.0.0 in a venv of its
own under build/; our side on xla:cpu; small sizes (width 16) since 2 cores take seconds per full-width step.
GPU: ``--device cuda --backend xla:cuda,tf32=false`` (full float32 on both sides; ``--tf32`` for TF32 on both).
Numbers go to build/bench/tract_bench.json (or --out).
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
