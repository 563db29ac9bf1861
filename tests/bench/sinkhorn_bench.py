"""Log-domain Sinkhorn and SNS on the CPU: lib/ot against JAX and POT, interleaved in one run.

Problem families (BENCH_PROBLEMS, default "points,assignment"), float64, n x n:

- points: n points uniform in [0,1]^2 on each side, random weights, squared
  Euclidean cost normalised to max 1;
- assignment: the SNS paper's random assignment problem, C_ij iid uniform on
  [0,1], uniform marginals 1/n.

eps = BENCH_EPS (default 1e-3), tolerance BENCH_TOL on ||P1-a||_1 + ||P^T 1-b||_1
(default 1e-6), n in BENCH_SIZES (default 200,500,1000; add 2000 through the
variable). Every timing is repeated BENCH_REPEATS times (default 3), the
repetitions interleaved (ours, JAX, ours, JAX, ...), and the median is
reported; everything is compiled first.

- ours: tests/bench/sinkhorn, one process per backend that keeps the compiled
  graphs: lib/ot's Solver.Sinkhorn (the device-resident loop: one graph.While
  that checks the error every 10 iterations inside the graph) and
  SinkhornNewtonSparse with the paper's KeepTotal = 2n given explicitly (10
  Sinkhorn steps per call in the warm start and the fallbacks, each Newton
  step one device call with CG and the line search as graph.While loops), on
  xla:cpu for every n and on the pure-Go backend for n <= GO_MAX_N (default
  200) and the families in GO_PROBLEMS (default points);
- JAX (jax 0.10.2, x64), written here for the same iteration:
  Sinkhorn as one jitted lax.while_loop that checks the error every 10
  iterations (a lax.fori_loop of 10 steps per pass) and keeps the same trace
  buffers of the error and the dual objective ("JAX while"); the older host loop of 10 iterations per jitted call
  ("JAX fori10"); and SNS: the same warm start (N1 = 20 Sinkhorn steps in calls
  of 10), then Newton steps, each one jitted call: the same sparsified Hessian
  (the rule our solver reports: global top-k of the flattened P with
  jax.lax.top_k, or per row), exact diagonal with the Levenberg-Marquardt
  factor 1 + 0.1 min(1, error), Jacobi-preconditioned CG in a lax.while_loop
  (the residual checked every iteration, forcing term max(1e-12, min(0.1,
  sqrt(error))), at most 500 iterations), the Armijo backtracking line search
  (c = 1e-4, up to 40 halvings, Delta L = alpha slope - eps sum P(e^delta - 1 -
  delta)) in a lax.while_loop, and 10 Sinkhorn steps where a step fails
  (SNS runs where BENCH_SNS says, default "assignment,points:200": every
  assignment problem, points problems up to n = 200);
  every JAX time includes moving the inputs to the device and the plan back,
  as ours does;
- POT (0.9.7.post1) ot.bregman.sinkhorn_log, the same algorithm, timed per
  iteration over min(our iterations, POT_ITERS) iterations (default 200).

Ratios (ours over the reference; < 1 = ours faster) are printed and all
numbers written to build/bench/sinkhorn_bench.json. With BENCH_HLO_DIR set,
both XLAs dump their HLO there (ours/ and jax/). Run it through
`make bench-sinkhorn` (a venv of its own under build/ with the pinned JAX and POT).

With --hlo-cross it instead separates the graphs from the compilers: it takes
the Sinkhorn While graph each side builds (ours from an XLA dump of the bench
binary, as an HloModule proto converted to StableHLO; JAX's lowered), loads our
XLA CPU plugin (lammps-jax-pjrt-cpu, the XLA of jaxlib 0.11.2) into this
process beside jaxlib's own CPU client, compiles both graphs on both, and
times the four combinations interleaved (median and min of BENCH_REPEATS
runs, each moving the inputs in and reading the result back), writing
build/bench/sinkhorn_hlo_cross.json.
"""

import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
EPS = float(os.environ.get("BENCH_EPS", "1e-3"))
TOL = float(os.environ.get("BENCH_TOL", "1e-6"))
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "200,500,1000").split(",")]
PROBLEMS = os.environ.get("BENCH_PROBLEMS", "points,assignment").split(",")
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
GO_MAX_N = int(os.environ.get("GO_MAX_N", "200"))
GO_PROBLEMS = os.environ.get("GO_PROBLEMS", "points").split(",")
POT_ITERS = int(os.environ.get("POT_ITERS", "200"))
HLO_DIR = os.environ.get("BENCH_HLO_DIR", "")
# Where SNS runs: "family" (every n) or "family:max_n". With the paper's KeepTotal = 2n, points problems take
# hundreds of Newton steps, and jax.lax.top_k over n^2 entries costs ~0.6 s at n = 1000 (2 cores), so by
# default SNS runs on the points problems at n = 200 only.
SNS_WHERE = dict((e.split(":") + [str(1 << 30)])[:2] for e in os.environ.get("BENCH_SNS", "assignment,points:200").split(","))
MAX_ITERS = 200_000
K = 10  # Sinkhorn iterations between error checks (ours: Options.ItersPerCall's default)
MAX_CG, LM_RIDGE, ARMIJO, LINE_STEPS, WARM = 500, 0.1, 1e-4, 40, 20


def problem(family, n, seed=1):
    rng = np.random.default_rng(seed)
    if family == "assignment":
        return np.full(n, 1 / n), np.full(n, 1 / n), rng.random((n, n))
    if family != "points":
        raise SystemExit(f"BENCH_PROBLEMS: unknown family {family!r} (want points or assignment)")
    x, y = rng.random((n, 2)), rng.random((n, 2))
    a, b = 0.2 + rng.random(n), 0.2 + rng.random(n)
    a, b = a / a.sum(), b / b.sum()
    c = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return a, b, c / c.max()


class Ours:
    """The Go bench binary on one backend, kept running: one JSON request, one JSON line back."""

    def __init__(self, binary, backend):
        env = {**os.environ, "GOREPRO_ROOT": str(ROOT)}
        if HLO_DIR:
            env["XLA_FLAGS"] = f"--xla_dump_to={HLO_DIR}/ours --xla_dump_hlo_as_text"
        self.backend = backend
        self.proc = subprocess.Popen([binary, "-backend", backend], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)

    def call(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the bench binary (-backend {self.backend}) stopped at {req['Op']} (its error is above)")
        return json.loads(line)

    def load(self, a, b, c):
        return self.call(Op="load", A=a.tolist(), B=b.tolist(), Cost=c.ravel().tolist(), Epsilon=EPS, Tol=TOL,
                         MaxIters=MAX_ITERS)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


class Jax:
    """The JAX peers of our solvers, compiled once per shape."""

    def __init__(self, platforms="cpu"):
        if HLO_DIR:
            os.environ["XLA_FLAGS"] = f"--xla_dump_to={HLO_DIR}/jax --xla_dump_hlo_as_text"
        import jax
        import jax.numpy as jnp
        from jax import lax
        from jax.scipy.special import logsumexp

        jax.config.update("jax_platforms", platforms)
        jax.config.update("jax_enable_x64", True)
        self.jax, self.jnp, self.version = jax, jnp, jax.__version__

        def step(C, loga, logb, f, g):
            f = EPS * loga - EPS * logsumexp((g[None, :] - C) / EPS, axis=1)
            g = EPS * logb - EPS * logsumexp((f[:, None] - C) / EPS, axis=0)
            return f, g

        def k_steps(C, loga, logb, f, g):
            return lax.fori_loop(0, K, lambda _, fg: step(C, loga, logb, *fg), (f, g))

        def error(C, a, b, f, g):
            p = jnp.exp((f[:, None] + g[None, :] - C) / EPS)
            return jnp.abs(p.sum(1) - a).sum() + jnp.abs(p.sum(0) - b).sum()

        @jax.jit
        def ten(C, loga, logb, a, b, f, g):
            f, g = k_steps(C, loga, logb, f, g)
            return f, g, error(C, a, b, f, g)

        @jax.jit
        def resident(C, loga, logb, a, b, f, g, tol, limit, trace, duals):
            # The error and the dual objective L = -eps sum P + <a, f> + <b, g> after each check, as ours keeps.
            slots = jnp.arange(trace.shape[0], dtype=jnp.int32)

            def cond(s):
                i, _, _, err, _, _ = s
                return (i < limit) & (err > tol)

            def body(s):
                i, f, g, _, trace, duals = s
                f, g = k_steps(C, loga, logb, f, g)
                p = jnp.exp((f[:, None] + g[None, :] - C) / EPS)
                err = jnp.abs(p.sum(1) - a).sum() + jnp.abs(p.sum(0) - b).sum()
                dual = -EPS * p.sum() + a @ f + b @ g
                return i + 1, f, g, err, jnp.where(slots == i, err, trace), jnp.where(slots == i, dual, duals)

            return lax.while_loop(cond, body, (jnp.int32(0), f, g, jnp.float64(jnp.inf), trace, duals))

        @jax.jit
        def plan(C, f, g):
            p = jnp.exp((f[:, None] + g[None, :] - C) / EPS)
            return p, (p * C).sum()

        def jacobi(d):
            return jnp.where(d > 0, 1 / jnp.where(d > 0, d, 1), 1)

        def newton(C, a, b, f, g, rule, keep):
            n, m = C.shape
            logp = (f[:, None] + g[None, :] - C) / EPS
            p = jnp.exp(logp)
            r, col = p.sum(1), p.sum(0)
            gf, gg = a - r, b - col
            err = jnp.abs(gf).sum() + jnp.abs(gg).sum()
            scale = 1 + LM_RIDGE * jnp.minimum(err, 1)
            dr, dc = r * scale, col * scale
            bu, bv = EPS * gf, EPS * gg
            if rule == "total":
                vals, e = lax.top_k(p.ravel(), keep)
                rows, cols = e // m, e % m
            else:
                vals, cols = lax.top_k(p, keep)
                rows = jnp.broadcast_to(jnp.arange(n)[:, None], (n, keep)).ravel()
                vals, cols = vals.ravel(), cols.ravel()
            ir, ic = jacobi(dr), jacobi(dc)

            def apply(u, v):
                return (dr * u + jnp.zeros(n).at[rows].add(vals * v[cols]),
                        dc * v + jnp.zeros(m).at[cols].add(vals * u[rows]))

            def cg_iter(_, s):
                du, dv, ru, rv, pu, pv, rz = s
                qu, qv = apply(pu, pv)
                pq = pu @ qu + pv @ qv
                alpha = jnp.where(pq > 0, rz / jnp.where(pq > 0, pq, 1), 0)
                du, dv = du + alpha * pu, dv + alpha * pv
                ru, rv = ru - alpha * qu, rv - alpha * qv
                zu, zv = ir * ru, ic * rv
                rz_new = ru @ zu + rv @ zv
                beta = jnp.where(rz > 0, rz_new / jnp.where(rz > 0, rz, 1), 0)
                return du, dv, ru, rv, zu + beta * pu, zv + beta * pv, rz_new

            def cg_cond(s):
                it, norm = s[0], s[-1]
                return (it < MAX_CG) & (norm > cg_tol * rhs_norm) & jnp.isfinite(norm)

            def cg_body(s):
                st = cg_iter(0, s[1:8])
                ru, rv = st[2], st[3]
                return (s[0] + 1, *st, jnp.sqrt(ru @ ru + rv @ rv))

            rhs_norm = jnp.sqrt(bu @ bu + bv @ bv)
            cg_tol = jnp.maximum(1e-12, jnp.minimum(0.1, jnp.sqrt(err)))
            zu, zv = ir * bu, ic * bv
            s = lax.while_loop(cg_cond, cg_body, (jnp.int32(0), jnp.zeros(n), jnp.zeros(m), bu, bv, zu, zv,
                                                  bu @ zu + bv @ zv, rhs_norm))
            cg_its, du, dv, norm = s[0], s[1], s[2], s[-1]
            cg_ok = jnp.isfinite(norm)
            slope = (bu @ du + bv @ dv) / EPS  # <a - P1, du> + <b - P^T 1, dv>, as ours computes it

            def ls_cond(s):
                j, _, accepted, _ = s
                return (j < LINE_STEPS) & ~accepted & (slope > 0) & cg_ok

            def ls_body(s):
                j, alpha, _, _ = s
                delta = alpha * (du[:, None] + dv[None, :]) / EPS
                pnew = jnp.exp(logp + delta)
                curv = jnp.where(jnp.abs(delta) < 1, p * (jnp.expm1(delta) - delta), pnew - p * (1 + delta))
                dL = alpha * slope - EPS * curv.sum()
                err_new = jnp.abs(pnew.sum(1) - a).sum() + jnp.abs(pnew.sum(0) - b).sum()
                ok = (dL >= ARMIJO * alpha * slope) & ~jnp.isnan(err_new)
                return j + 1, jnp.where(ok, alpha, alpha / 2), ok, err_new

            _, alpha, accepted, err_new = lax.while_loop(ls_cond, ls_body, (jnp.int32(0), jnp.float64(1), False,
                                                                           jnp.float64(jnp.nan)))
            status = jnp.where(~cg_ok, 1, jnp.where(~(slope > 0), 2, jnp.where(accepted, 0, 3)))
            return f + alpha * du, g + alpha * dv, err_new, status, cg_its

        self.ten, self.resident, self.plan = ten, resident, plan
        self.newton = jax.jit(newton, static_argnames=("rule", "keep"))

    def load(self, a, b, c, rule, keep):
        self.np = (a, b, c)
        self.rule, self.keep = rule, keep
        self.checks = (MAX_ITERS + K - 1) // K
        C, la, lb, A, B = self._inputs()
        z = self.jnp.zeros(len(a))
        # Compile every graph on this shape (and run each once).
        self.jax.block_until_ready(self.ten(C, la, lb, A, B, z, z))
        self.jax.block_until_ready(self.resident(C, la, lb, A, B, z, z, TOL, 1, self.jnp.zeros(self.checks),
                                                   self.jnp.zeros(self.checks)))
        self.jax.block_until_ready(self.plan(C, z, z))
        self.jax.block_until_ready(self.newton(C, A, B, z, z, rule=rule, keep=keep))

    def _inputs(self):
        a, b, c = self.np
        jnp = self.jnp
        return jnp.asarray(c), jnp.asarray(np.log(a)), jnp.asarray(np.log(b)), jnp.asarray(a), jnp.asarray(b)

    def _finish(self, t0, C, f, g, out):
        p, cost = self.plan(C, f, g)
        np.asarray(p)
        out.update(seconds=time.perf_counter() - t0, cost=float(cost))
        return out

    def sinkhorn_while(self):
        t0 = time.perf_counter()
        C, la, lb, A, B = self._inputs()
        z = self.jnp.zeros(len(self.np[0]))
        done, f, g, err, trace, duals = self.resident(C, la, lb, A, B, z, z, TOL, self.checks, self.jnp.zeros(self.checks),
                                                      self.jnp.zeros(self.checks))
        done = int(done)
        np.asarray(trace), np.asarray(duals)
        return self._finish(t0, C, f, g, {"iterations": done * K, "marginal_error": float(err)})

    def sinkhorn_fori(self):
        t0 = time.perf_counter()
        C, la, lb, A, B = self._inputs()
        f = g = self.jnp.zeros(len(self.np[0]))
        it, err = 0, float("inf")
        while err > TOL and it < MAX_ITERS:
            f, g, e = self.ten(C, la, lb, A, B, f, g)
            err, it = float(e), it + K
        return self._finish(t0, C, f, g, {"iterations": it, "marginal_error": err})

    def sns(self):
        t0 = time.perf_counter()
        C, la, lb, A, B = self._inputs()
        f = g = self.jnp.zeros(len(self.np[0]))
        it = steps = newton = cg = fallbacks = 0
        err = float("inf")
        while steps < WARM and it < MAX_ITERS and not err <= TOL:
            f, g, e = self.ten(C, la, lb, A, B, f, g)
            err, it, steps = float(e), it + K, steps + K
        while it < MAX_ITERS and not err <= TOL:
            f2, g2, e2, status, cg_its = self.newton(C, A, B, f, g, rule=self.rule, keep=self.keep)
            cg += int(cg_its)
            if int(status) != 0:
                fallbacks += 1
                f, g, e = self.ten(C, la, lb, A, B, f, g)
                err, it, steps = float(e), it + K, steps + K
                continue
            f, g, err, it, newton = f2, g2, float(e2), it + 1, newton + 1
        return self._finish(t0, C, f, g, {"iterations": it, "newton_steps": newton, "cg_iterations": cg,
                                          "fallbacks": fallbacks, "marginal_error": err})


def pot_sinkhorn(a, b, c, iterations):
    import ot

    t0 = time.perf_counter()
    p = ot.bregman.sinkhorn_log(a, b, c, EPS, numItermax=iterations, stopThr=0, warn=False)
    secs = time.perf_counter() - t0
    err = np.abs(p.sum(1) - a).sum() + np.abs(p.sum(0) - b).sum()
    return {"iterations": iterations, "seconds": secs, "marginal_error": float(err), "version": ot.__version__}


def median_of(runs):
    """The run with the median seconds; all runs must agree on the iteration counts."""
    for r in runs[1:]:
        for key in ("iterations", "newton_steps", "cg_iterations"):
            if r.get(key) != runs[0].get(key):
                print(f"  note: {key} differs between repetitions: {[x.get(key) for x in runs]}", flush=True)
    secs = statistics.median(r["seconds"] for r in runs)
    out = dict(min(runs, key=lambda r: abs(r["seconds"] - secs)))
    out["seconds"], out["all_seconds"] = secs, [r["seconds"] for r in runs]
    return out


def ms(s):
    return 1000 * s["seconds"] / max(s["iterations"], 1)


def main():
    binary = ROOT / "build" / "bench" / "sinkhorn-bench"
    subprocess.run(["go", "build", "-o", str(binary), "./tests/bench/sinkhorn"], cwd=ROOT, check=True)
    jx = Jax()
    xla = Ours(str(binary), "xla:cpu")
    gob = Ours(str(binary), "go") if GO_MAX_N > 0 else None
    rows = []
    for family in PROBLEMS:
        for n in SIZES:
            a, b, c = problem(family, n)
            print(f"{family} n = {n}: compiling ...", flush=True)
            info = xla.load(a, b, c)
            jx.load(a, b, c, info["keep_rule"], info["keep"])
            sns = family in SNS_WHERE and n <= int(SNS_WHERE[family])
            runs = {k: [] for k in ("ours", "jax_while", "jax_fori", "pot") + (("ours_sns", "jax_sns") if sns else ())}
            for rep in range(REPEATS):
                print(f"{family} n = {n}: repetition {rep + 1} of {REPEATS} ...", flush=True)
                runs["ours"].append(xla.call(Op="sinkhorn"))
                runs["jax_while"].append(jx.sinkhorn_while())
                if sns:
                    runs["ours_sns"].append(xla.call(Op="sns"))
                    runs["jax_sns"].append(jx.sns())
                runs["jax_fori"].append(jx.sinkhorn_fori())
                runs["pot"].append(pot_sinkhorn(a, b, c, min(runs["ours"][0]["iterations"], POT_ITERS)))
            row = {"family": family, "n": n, "keep_rule": info["keep_rule"], "keep": info["keep"]}
            row.update({k: median_of(v) for k, v in runs.items()})
            if gob is not None and n <= GO_MAX_N and family in GO_PROBLEMS:
                print(f"{family} n = {n}: ours on go ...", flush=True)
                gob.load(a, b, c)
                row["go"] = median_of([gob.call(Op="sinkhorn") for _ in range(REPEATS)])
                if sns:
                    row["go_sns"] = median_of([gob.call(Op="sns") for _ in range(REPEATS)])
            x, jw, jf, p = (row[k] for k in ("ours", "jax_while", "jax_fori", "pot"))
            row["ratios"] = {
                "ours_over_jax_while_per_iter": ms(x) / ms(jw),
                "ours_over_jax_fori_per_iter": ms(x) / ms(jf),
                "ours_over_pot_per_iter": ms(x) / ms(p),
            }
            if sns:
                s, js = row["ours_sns"], row["jax_sns"]
                row["ratios"].update(sns_ours_over_jax_per_iter=ms(s) / ms(js),
                                     sns_ours_over_jax_to_tol=s["seconds"] / js["seconds"],
                                     sns_over_sinkhorn_to_tol=s["seconds"] / x["seconds"])
            rows.append(row)
    xla.close()
    if gob is not None:
        gob.close()

    print(f"\nfloat64, eps = {EPS}, tol = {TOL} (L1 of both marginals), median of {REPEATS} interleaved runs, "
          f"times after compilation; JAX {jx.version}; {os.cpu_count()} CPUs")
    print("Sinkhorn (ours: device-resident While; JAX while: one lax.while_loop; both check every 10 iterations):")
    head = ("problem", "n", "it", "ours ms/it", "JAXw ms/it", "ours/JAXw", "JAXf ms/it", "ours/JAXf",
            "POT ms/it", "ours/POT", "ours s", "go ms/it")
    print(("{:>10} " * len(head)).format(*head))
    for r in rows:
        x, q = r["ours"], r["ratios"]
        print(("{:>10} " * len(head)).format(
            r["family"], r["n"], x["iterations"], f"{ms(x):.3f}", f"{ms(r['jax_while']):.3f}",
            f"{q['ours_over_jax_while_per_iter']:.2f}", f"{ms(r['jax_fori']):.3f}",
            f"{q['ours_over_jax_fori_per_iter']:.2f}", f"{ms(r['pot']):.3f}", f"{q['ours_over_pot_per_iter']:.2f}",
            f"{x['seconds']:.2f}", f"{ms(r['go']):.2f}" if "go" in r else "-"))
    print("SNS (iterations = Sinkhorn steps + Newton steps; Newton steps, CG iterations, fallbacks):")
    head = ("problem", "n", "rule", "ours it", "ours N/CG/fb", "ours s", "JAX it", "JAX N/CG/fb", "JAX s",
            "ours/JAX it", "ours/JAX tol", "SNS/Sink", "go SNS s")
    print(("{:>12} " * len(head)).format(*head))
    for r in (r for r in rows if "ours_sns" in r):
        s, j, q = r["ours_sns"], r["jax_sns"], r["ratios"]
        print(("{:>12} " * len(head)).format(
            r["family"], r["n"], f"{r['keep_rule']}:{r['keep']}", s["iterations"],
            f"{s['newton_steps']}/{s['cg_iterations']}/{s['fallbacks']}", f"{s['seconds']:.3f}", j["iterations"],
            f"{j['newton_steps']}/{j['cg_iterations']}/{j['fallbacks']}", f"{j['seconds']:.3f}",
            f"{q['sns_ours_over_jax_per_iter']:.2f}", f"{q['sns_ours_over_jax_to_tol']:.2f}",
            f"{q['sns_over_sinkhorn_to_tol']:.3f}", f"{r['go_sns']['seconds']:.2f}" if "go_sns" in r else "-"))
    out = ROOT / "build" / "bench" / "sinkhorn_bench.json"
    out.write_text(json.dumps({"eps": EPS, "tol": TOL, "repeats": REPEATS, "cpu_count": os.cpu_count(),
                               "jax": jx.version, "rows": rows}, indent=1))
    print(f"\nnumbers in {out}")


def hlo_module_of(dump):
    """The HloModuleProto (field 1) of an XLA dump's HloProto, read off the protobuf wire format."""
    def varint(i):
        value, shift = 0, 0
        while True:
            byte = dump[i]
            value, shift, i = value | (byte & 0x7F) << shift, shift + 7, i + 1
            if byte < 0x80:
                return value, i

    i = 0
    while i < len(dump):
        key, i = varint(i)
        if key & 7 != 2:
            raise SystemExit(f"unexpected wire type {key & 7} in the HLO dump")
        size, i = varint(i)
        if key >> 3 == 1:
            return dump[i:i + size]
        i += size
    raise SystemExit("the HLO dump has no hlo_module")


def hlo_cross():
    """Both Sinkhorn While graphs on both XLA compilers, in one process (see the module doc)."""
    import glob
    import tempfile

    binary = ROOT / "build" / "bench" / "sinkhorn-bench"
    subprocess.run(["go", "build", "-o", str(binary), "./tests/bench/sinkhorn"], cwd=ROOT, check=True)
    dump = tempfile.mkdtemp(prefix="sinkhorn-hlo-")
    # Our graphs: compiled by the bench binary (load → Solver.Prepare) with XLA dumping the resident loop's module.
    env = {**os.environ, "GOREPRO_ROOT": str(ROOT), "XLA_FLAGS": f"--xla_dump_to={dump} --xla_dump_hlo_as_proto "
           "--xla_dump_hlo_module_re=.*residentSinkhorn.*"}
    ours = subprocess.Popen([str(binary), "-backend", "xla:cpu"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    proto, plugin = {}, None
    for family in PROBLEMS:
        for n in SIZES:
            a, b, c = problem(family, n)
            ours.stdin.write(json.dumps({"Op": "load", "A": a.tolist(), "B": b.tolist(), "Cost": c.ravel().tolist(),
                                         "Epsilon": EPS, "Tol": TOL, "MaxIters": MAX_ITERS}) + "\n")
            ours.stdin.flush()
            line = ours.stdout.readline()
            if not line:
                raise SystemExit("the bench binary stopped (its error is above)")
            plugin = json.loads(line)["plugin"]
            new = sorted(set(glob.glob(f"{dump}/*residentSinkhorn*before_optimizations.hlo.pb")) - set(proto.values()))
            if len(new) != 1:
                raise SystemExit(f"expected one new dump of the resident loop in {dump}, found {new}")
            proto[(family, n)] = new[0]
    ours.stdin.close()
    ours.wait()

    import jax
    from jax._src import xla_bridge

    xla_bridge.register_plugin("gorepro_xla_cpu", library_path=plugin)
    jx = Jax(platforms="cpu,gorepro_xla_cpu")
    from jax._src.lib import _jax

    compilers = {"jaxlib " + jx.version: xla_bridge.get_backend("cpu"), "ours (plugin)": xla_bridge.get_backend("gorepro_xla_cpu")}
    checks = (MAX_ITERS + K - 1) // K
    rows = []
    for (family, n), pb in proto.items():
        a, b, c = problem(family, n)
        z = np.zeros(n)
        ours_mlir = _jax.mlir.hlo_to_stablehlo(hlo_module_of(pathlib.Path(pb).read_bytes()))
        ours_args = [c, np.log(a), np.log(b), z, z, np.float64(TOL), np.int32(checks), np.int32(0), np.float64(np.inf),
                     np.zeros(checks), np.zeros(checks)]
        jax_args = [c, np.log(a), np.log(b), a, b, z, z, np.float64(TOL), np.int32(checks), np.zeros(checks),
                    np.zeros(checks)]
        jax_mlir = jx.resident.lower(*[jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype) for x in jax_args]).as_text()
        runs = {}
        for cname, backend in compilers.items():
            device = backend.devices()[0]
            for gname, text, args, done_at in (("ours", ours_mlir, ours_args, 3), ("JAX", jax_mlir, jax_args, 0)):
                exe = backend.compile_and_load(text, backend.devices()[:1])

                def run(exe=exe, args=args, device=device, done_at=done_at):
                    t0 = time.perf_counter()
                    outs = exe.execute([jax.device_put(np.asarray(x), device) for x in args])
                    done = int(np.asarray(outs[done_at]))
                    return {"iterations": K * done, "seconds": time.perf_counter() - t0}

                run()
                runs[(gname, cname)] = (run, [])
        for _ in range(REPEATS):
            for fn, out in runs.values():
                out.append(fn())
        print(f"\n{family} n = {n}: the Sinkhorn While graph, ms per iteration, median (min) of {REPEATS} interleaved runs")
        row = {"family": family, "n": n, "runs": {}}
        for (gname, cname), (_, out) in runs.items():
            per = [ms(r) for r in out]
            row["runs"][f"{gname} graph on {cname}"] = {"iterations": out[0]["iterations"], "ms_per_iter": per}
            print(f"  {gname:>4} graph on {cname:<14}: {statistics.median(per):.3f} ({min(per):.3f}), "
                  f"{out[0]['iterations']} iterations")
        rows.append(row)
    out = ROOT / "build" / "bench" / "sinkhorn_hlo_cross.json"
    out.write_text(json.dumps({"eps": EPS, "tol": TOL, "repeats": REPEATS, "plugin": plugin, "rows": rows}, indent=1))
    print(f"\nnumbers in {out}")


if __name__ == "__main__":
    sys.exit(hlo_cross() if sys.argv[1:] == ["--hlo-cross"] else main())
