"""Grokking epoch on the CPU: our lib/train against JAX, in one run.

One full-batch epoch at the paper's size (p = 113, train fraction 0.4: 5 107
examples; MLP 226 -> 200 -> 200 -> 113, ReLU, no biases; softmax cross-entropy
in float32; AdamW with beta1 0.9, beta2 0.99, eps 1e-25, lr 0.01). JAX runs the
same step under jit (the whole step one XLA computation, parameters donated),
one call per step and, like lib/train's K steps per call, 50 steps per call
inside one jitted fori_loop. Ours is `go test -bench Epoch/xla:cpu` (lib/train
with 1 and 50 steps per call, and a raw one-graph step). The two alternate for
ROUNDS rounds; the medians and their ratios are printed and written to
build/bench/grokking_bench.json.

Run through `make bench-grokking`, which makes a separate venv with the pinned
JAX (jax==0.10.2, jaxlib==0.10.2): JAX is not a dependency of gorepro.
"""

import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
EPOCHS = int(os.environ.get("BENCH_EPOCHS", "100"))
P, FRACTION, WIDTH, LR, BETA1, BETA2, EPS = 113, 0.4, 200, 0.01, 0.9, 0.99, 1e-25


def jax_epoch_ms(k):
    """Median ms per epoch of the jitted AdamW step, k steps per call."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_platforms", "cpu")
    rng = np.random.default_rng(1)
    pairs = np.array([(a, b) for a in range(P) for b in range(P)])
    rng.shuffle(pairs)
    train = pairs[: int(FRACTION * len(pairs))]
    x = np.zeros((len(train), 2 * P), np.float32)
    x[np.arange(len(train)), train[:, 0]] = 1
    x[np.arange(len(train)), P + train[:, 1]] = 1
    y = ((train[:, 0] + train[:, 1]) % P).astype(np.int32)
    x, y = jnp.asarray(x), jnp.asarray(y)

    def init(shape):
        return jnp.asarray(rng.standard_normal(shape).astype(np.float32) / np.sqrt(shape[0]))

    params = [init((2 * P, WIDTH)), init((WIDTH, WIDTH)), init((WIDTH, P))]
    state = (jnp.zeros((), jnp.float32), params, [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params])

    def loss_fn(ps):
        h = jax.nn.relu(x @ ps[0])
        h = jax.nn.relu(h @ ps[1])
        logits = h @ ps[2]
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))

    def step(s):
        t, ps, m, v = s
        grads = jax.grad(loss_fn)(ps)
        t = t + 1
        m = [BETA1 * mi + (1 - BETA1) * g for mi, g in zip(m, grads)]
        v = [BETA2 * vi + (1 - BETA2) * g * g for vi, g in zip(v, grads)]
        c1, c2 = 1 - BETA1**t, 1 - BETA2**t
        ps = [p - LR * (mi / c1) / (jnp.sqrt(vi / c2) + EPS) for p, mi, vi in zip(ps, m, v)]
        return t, ps, m, v

    if k == 1:
        run = jax.jit(step, donate_argnums=0)
    else:
        run = jax.jit(lambda s: jax.lax.fori_loop(0, k, lambda _, s: step(s), s), donate_argnums=0)
    state = run(state)  # compile
    jax.block_until_ready(state)
    calls = max(1, EPOCHS // k)
    start = time.perf_counter()
    for _ in range(calls):
        state = run(state)
    jax.block_until_ready(state)
    return (time.perf_counter() - start) * 1000 / (calls * k)


def ours_epoch_ms():
    """ms per epoch of lib/train (K = 1, 50) and the raw step, from one go test -bench run."""
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOMLX_NO_AUTO_INSTALL": "1", "GOREPRO_ROOT": str(ROOT)}
    out = subprocess.run(
        ["go", "test", "-run", "XXX", "-bench", "Epoch/xla:cpu/", "-benchtime", f"{EPOCHS}x", "./lib/stablemax/experiment"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout
    got = {}
    for name, ns in re.findall(r"BenchmarkEpoch/xla:cpu/(\S+?)(?:-\d+)?\s+\d+\s+\d+ ns/op\s+(\d+) ns/epoch", out):
        got[name] = int(ns) / 1e6
    if not got:
        raise SystemExit("no xla:cpu results from go test -bench (is the XLA CPU plugin installed? make setup):\n" + out)
    return got


def main():
    import jax

    rounds = []
    for r in range(ROUNDS):
        ours = ours_epoch_ms()
        theirs = {"jax-K1": jax_epoch_ms(1), "jax-K50": jax_epoch_ms(50)}
        rounds.append({**ours, **theirs})
        print(f"round {r + 1}/{ROUNDS}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in rounds[-1].items()), flush=True)
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    ratios = {
        "trainer-K1 / jax-K1": med["trainer-K1"] / med["jax-K1"],
        "trainer-K50 / jax-K50": med["trainer-K50"] / med["jax-K50"],
        "trainer-K50 / jax-K1": med["trainer-K50"] / med["jax-K1"],
        "raw / jax-K1": med["raw"] / med["jax-K1"],
    }
    print(f"\nmedian ms per epoch over {ROUNDS} rounds ({EPOCHS} epochs each; {os.cpu_count()} CPUs; jax {jax.__version__}):")
    for k, v in med.items():
        print(f"  {k:12s} {v:8.2f}")
    print("ratios (target: lib/train <= 1.0x JAX):")
    for k, v in ratios.items():
        print(f"  {k:24s} {v:5.2f}x")
    outdir = ROOT / "build" / "bench"
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "grokking_bench.json").write_text(json.dumps(
        {"rounds": rounds, "median_ms": med, "ratios": ratios, "jax": jax.__version__, "cpus": os.cpu_count()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
