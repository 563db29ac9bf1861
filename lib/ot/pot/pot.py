# Runs POT (Python Optimal Transport) on one problem for gorepro's lib/ot/pot:
# a JSON request on stdin, a JSON answer on stdout. Arrays travel as base64
# of little-endian float64 so that nothing is lost in decimal.
import base64, json, sys, time, warnings

import numpy as np
import ot


def arr(s, shape):
    return np.frombuffer(base64.b64decode(s), dtype="<f8").reshape(shape).copy()


def enc(x):
    return base64.b64encode(np.ascontiguousarray(x, dtype="<f8").tobytes()).decode()


req = json.load(sys.stdin)
n, m = req["n"], req["m"]
a, b, M = arr(req["a"], (n,)), arr(req["b"], (m,)), arr(req["cost"], (n, m))
out = {"version": ot.__version__}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    t0 = time.perf_counter()
    if req["method"] == "emd":
        G = ot.emd(a, b, M, numItermax=req.get("max_iter") or 10_000_000)
        out["iterations"] = 0
    else:
        G, log = ot.bregman.sinkhorn_log(a, b, M, req["reg"], numItermax=req["max_iter"],
                                         stopThr=req["tol"], log=True)
        out["iterations"] = int(log["niter"]) + 1  # niter is the 0-based index of the last iteration
    out["seconds"] = time.perf_counter() - t0
out["warnings"] = [str(w.message) for w in caught]
out["plan"] = enc(G)
out["cost"] = float(np.sum(G * M))
json.dump(out, sys.stdout)
