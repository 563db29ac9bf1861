"""Reference values from scipy for lib/stats's tests.

Reads one JSON object from stdin:
  {"t": [{"x": [...], "level": L}, ...],
   "perm": [{"a": [...], "b": [...]}, ...],
   "boot": [{"d": [...], "level": L, "rounds": B, "seed": S}, ...],
   "quantile": [{"x": [...], "p": [...]}, ...]}
and writes one JSON object to stdout with, in the same order:
  "t":        scipy.stats.t.interval(L, n-1, loc=mean, scale=sem), mean, std (ddof=1)
  "perm":     the exact two-sided p-value of scipy.stats.permutation_test of
              the mean paired difference (all 2^n sign flips: n_resamples=inf)
  "boot":     scipy.stats.bootstrap percentile interval of mean(d) and its
              standard error (std of the bootstrap distribution)
  "quantile": scipy.stats.quantile (linear interpolation) of x at each p
"""
import json
import sys

import numpy as np
import scipy
import scipy.stats as st


def t_case(c):
    x = np.asarray(c["x"], dtype=np.float64)
    n = x.size
    mean = float(np.mean(x))
    std = float(np.std(x, ddof=1))
    sem = float(st.sem(x))
    lo, hi = st.t.interval(c["level"], n - 1, loc=mean, scale=sem)
    return {"mean": mean, "std": std, "lo": float(lo), "hi": float(hi)}


def mean_diff(x, y, axis):
    return np.mean(x - y, axis=axis)


def perm_case(c):
    a = np.asarray(c["a"], dtype=np.float64)
    b = np.asarray(c["b"], dtype=np.float64)
    res = st.permutation_test((a, b), mean_diff, permutation_type="samples",
                              vectorized=True, n_resamples=np.inf,
                              alternative="two-sided")
    # n_resamples=inf enumerates every sign vector: the test is exact.
    assert res.null_distribution.size == 2 ** a.size, res.null_distribution.size
    return float(res.pvalue)


def boot_case(c):
    d = np.asarray(c["d"], dtype=np.float64)
    res = st.bootstrap((d,), np.mean, confidence_level=c["level"],
                       method="percentile", n_resamples=c["rounds"],
                       vectorized=True, rng=np.random.default_rng(c["seed"]))
    ci = res.confidence_interval
    return {"lo": float(ci.low), "hi": float(ci.high),
            "se": float(res.standard_error)}


def quantile_case(c):
    x = np.asarray(c["x"], dtype=np.float64)
    p = np.asarray(c["p"], dtype=np.float64)
    return [float(v) for v in st.quantile(x, p)]


def main():
    req = json.load(sys.stdin)
    out = {
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "t": [t_case(c) for c in req.get("t", [])],
        "perm": [perm_case(c) for c in req.get("perm", [])],
        "boot": [boot_case(c) for c in req.get("boot", [])],
        "quantile": [quantile_case(c) for c in req.get("quantile", [])],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
