"""MaxSim scoring throughput (documents per second): lib/colbert's MaxSimScores on a GoMLX backend against PyTorch
on the same machine, in one run: 32 queries × 32 tokens against documents of up to 180 tokens (random lengths,
padding masked), k = 128, scored chunk by chunk with the scores read back to the host; embeddings made on the device
before timing; the best of a few passes.

CPU (``make bench-maxsim``): Debian's python3-torch against ours on xla:cpu, 4 000 documents.
GPU: ``--device cuda --backend xla:cuda --nd 100000`` (the issue's anchor on an H100: 0.97 M docs/s fp16, 0.41 M fp32).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def torch_docs_per_s(device, dtype, nq, lq, nd, ld, k, chunk, reps):
    import torch
    g = torch.Generator(device=device).manual_seed(1)
    dt = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    q = torch.nn.functional.normalize(torch.randn(nq, lq, k, device=device, generator=g), dim=-1).to(dt)
    chunks = (nd + chunk - 1) // chunk
    docs, masks = [], []
    for _ in range(chunks):
        d = torch.nn.functional.normalize(torch.randn(chunk, ld, k, device=device, generator=g), dim=-1).to(dt)
        lengths = ld // 2 + (torch.rand(chunk, device=device, generator=g) * (ld - ld // 2)).long()
        docs.append(d)
        masks.append(torch.arange(ld, device=device)[None, :] < lengths[:, None])

    neg = torch.tensor(float("-inf"), device=device, dtype=dt)

    def score(d, m):
        # One matrix product [nq·Lq, k] × [k, chunk·Ld] (faster than einsum here), masked max over the
        # document's tokens, sum over the query's.
        s = (q.reshape(nq * lq, k) @ d.reshape(-1, k).T).view(nq, lq, d.shape[0], ld)
        s = torch.where(m[None, None, :, :], s, neg)
        return s.amax(dim=-1).sum(dim=1)

    with torch.no_grad():
        score(docs[0], masks[0]).float().cpu()
        best = float("inf")
        for _ in range(reps):
            start = time.perf_counter()
            for d, m in zip(docs, masks):
                score(d, m).float().cpu()
            best = min(best, time.perf_counter() - start)
    return chunks * chunk / best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backend", default="xla:cpu")
    ap.add_argument("--dtypes", default=None, help="comma-separated (default: float32 on cpu; float16,float32 on cuda)")
    ap.add_argument("--nd", type=int, default=None, help="documents (default 4000 on cpu, 100000 on cuda)")
    ap.add_argument("--chunk", type=int, default=None, help="documents per call (default 250 on cpu, 2000 on cuda)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--binary", default=None)
    ap.add_argument("--out", default=str(ROOT / "build" / "bench" / "maxsim_bench.json"))
    args = ap.parse_args()
    import torch
    on_gpu = args.device.startswith("cuda")
    nd = args.nd or (100000 if on_gpu else 4000)
    chunk = args.chunk or (2000 if on_gpu else 250)
    dtypes = (args.dtypes or ("float16,float32" if on_gpu else "float32")).split(",")
    if not on_gpu:
        torch.set_num_threads(os.cpu_count())
    torch.backends.cuda.matmul.allow_tf32 = False
    binary = args.binary
    if binary is None:
        binary = str(ROOT / "build" / "bench" / "maxsim-bench")
        subprocess.run(["go", "build", "-o", binary, "./tests/bench/maxsim"], cwd=ROOT, check=True)
    rows = []
    print(f"MaxSim: 32 queries × 32 tokens vs {nd} documents × ≤180 tokens, k = 128, chunks of {chunk}; "
          f"torch {torch.__version__} on {args.device}, ours on {args.backend}")
    print(f"{'dtype':>9} {'ours docs/s':>12} {'torch docs/s':>13} {'ours/torch':>10}")
    for dt in dtypes:
        res = subprocess.run([binary, "-backend", args.backend, "-dtype", dt, "-nd", str(nd), "-chunk", str(chunk),
                              "-reps", str(args.reps)], stdout=subprocess.PIPE, text=True)
        if res.returncode != 0:
            print(f"{dt:>9} our bench failed (its errors are above)")
            continue
        ours = json.loads(res.stdout)
        theirs = torch_docs_per_s(args.device, dt, 32, 32, nd, 180, 128, chunk, args.reps)
        row = {"dtype": dt, "ours_docs_per_s": ours["docs_per_s"], "torch_docs_per_s": theirs, "ratio": ours["docs_per_s"] / theirs,
               "ours": ours}
        rows.append(row)
        print(f"{dt:>9} {ours['docs_per_s']:>12,.0f} {theirs:>13,.0f} {row['ratio']:>9.2f}×")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": args.device, "backend": args.backend, "nd": nd, "chunk": chunk, "torch": torch.__version__,
                               "cpu_count": os.cpu_count(), "rows": rows}, indent=1))
    print(f"numbers in {out}")
    if not rows:
        sys.exit(1)


if __name__ == "__main__":
    main()
