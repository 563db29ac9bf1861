"""Independent reference for lib/hfencoder: token ids from Hugging Face's Rust
`tokenizers` (padding and truncation off) and a float64 numpy forward pass of a
BERT encoder read directly from model.safetensors (its header parsed here, no
safetensors or torch package).

stdin: {"dir": checkpoint directory, "texts": [...], "maxlen": N, "vectors": bool,
        "sequences": [{"ids": [...], "keys": K}, ...] (optional)}
stdout: {"ids": [[...]...], "vectors": [[[...]...]...]} (last layer, real tokens only)
        and, for "sequences", "seq_vectors": the last layer of every position of
        each given id sequence, whose attention keys are its first K positions
        only (every position is computed as a query; K = len(ids) attends to all,
        as Hugging Face BERT does with attention_mask = [1]*K + [0]*(len-K)).
"""
import json
import math
import struct
import sys

import numpy as np
from scipy.special import erf
from tokenizers import Tokenizer


def load_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    kinds = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=kinds[meta["dtype"]]).reshape(meta["shape"]).astype(np.float64)
    return out


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def forward(w, cfg, ids, keys=None):
    p = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
    eps = cfg["layer_norm_eps"]
    heads = cfg["num_attention_heads"]
    t = len(ids)
    x = w[p + "embeddings.word_embeddings.weight"][ids]
    x = x + w[p + "embeddings.position_embeddings.weight"][:t]
    x = x + w[p + "embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w[p + "embeddings.LayerNorm.weight"], w[p + "embeddings.LayerNorm.bias"], eps)
    d = x.shape[-1]
    hd = d // heads
    for i in range(cfg["num_hidden_layers"]):
        L = lambda s: w[f"{p}encoder.layer.{i}.{s}"]
        lin = lambda h, s: h @ L(s + ".weight").T + L(s + ".bias")
        q = lin(x, "attention.self.query").reshape(t, heads, hd).transpose(1, 0, 2)
        k = lin(x, "attention.self.key").reshape(t, heads, hd).transpose(1, 0, 2)
        v = lin(x, "attention.self.value").reshape(t, heads, hd).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        if keys is not None and keys < t:
            s[:, :, keys:] = -np.inf  # masked keys get weight exactly 0
        s = s - s.max(-1, keepdims=True)
        a = np.exp(s)
        a = a / a.sum(-1, keepdims=True)
        ctx = (a @ v).transpose(1, 0, 2).reshape(t, d)
        x = layer_norm(lin(ctx, "attention.output.dense") + x, L("attention.output.LayerNorm.weight"), L("attention.output.LayerNorm.bias"), eps)
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1 + erf(h / math.sqrt(2)))  # exact GELU ("gelu" in config.json)
        x = layer_norm(lin(h, "output.dense") + x, L("output.LayerNorm.weight"), L("output.LayerNorm.bias"), eps)
    return x


def main():
    req = json.load(sys.stdin)
    d = req["dir"]
    tok = Tokenizer.from_file(d + "/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(max_length=req["maxlen"])
    ids = [tok.encode(t).ids for t in req.get("texts") or []]
    out = {"ids": ids}
    if req.get("vectors") or req.get("sequences"):
        cfg = json.load(open(d + "/config.json"))
        w = load_safetensors(d + "/model.safetensors")
    if req.get("vectors"):
        out["vectors"] = [forward(w, cfg, np.array(i)).tolist() for i in ids]
    if req.get("sequences"):
        out["seq_vectors"] = [forward(w, cfg, np.array(q["ids"]), q["keys"]).tolist() for q in req["sequences"]]
    json.dump(out, sys.stdout)


main()
