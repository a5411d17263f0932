#!/usr/bin/env python3
"""Reference scorer for `amc bench score`: the AMC forward pass (Docs/model.md) in straightforward NumPy.

Like the scoring worker, the query-independent image encoders (v_i = tanh(W_v r_i + b_v), k_j = tanh(W_k x_kj +
b_k)) run once for the whole catalog before timing; each timed query then encodes the query, runs VAN, LAN, MTN
and the cosine over its candidates (stacked: regions as C x R x d, keywords padded to the longest bag list with
a mask) and sorts them by score. float32 throughout; single process. Expects every image to have regions and
keywords (the synthetic catalog does).

It reads the folder `amc bench score` writes (all files raw little-endian, `numpy.fromfile`):

    dims.i32                 version=1, H, d, a, h, D, R, images, queries, candidates per query
    weights/<name>.f32       the 18 tensors of the served version, row-major rows x columns (W_q is d x H)
    image_regions.f32        images x R x D
    image_keywords.i32       images + 1 offsets into the keyword list
    keyword_entries.i32      keywords + 1 offsets into the trigram entries
    keyword_indices.i32      trigram buckets of every keyword, in order
    keyword_counts.f32       their counts
    query_entries.i32        queries + 1 offsets into the query trigram entries (normalised query text)
    query_indices.i32        query trigram buckets
    query_counts.f32         their counts
    candidates.i32           queries x candidates: catalog indices of each query's candidates

usage: reference_score.py DIR [--warmup 50]

Writes DIR/scores.f32 and DIR/visual_weights.f32 (queries x candidates, in candidate order) for the cross-check,
and prints `VERSIONS numpy=<v> python=<v>`, `FIRST <score of candidate 1 of query 1> ...` and
`REFERENCE queries=<n> p50_ms=<x> p99_ms=<x> max_ms=<x>` (nearest-rank percentiles of the per-query time).
"""
import argparse
import math
import os
import platform
import sys
import time

try:
    import numpy as np
except ImportError:
    print("NumPy is missing: install python3-numpy", file=sys.stderr)
    sys.exit(3)

F = np.float32
NAMES = ["W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "A_v", "A_q", "w_a", "B_k", "B_q", "w_l",
         "M_v", "c_v", "m_v", "M_k", "c_k", "m_k"]
NORM_EPS = F(1e-8)


def load(directory):
    def read(name, dtype):
        return np.fromfile(os.path.join(directory, name), dtype=dtype)

    version, H, d, a, h, D, R, n_images, n_queries, n_candidates = (int(x) for x in read("dims.i32", "<i4"))
    assert version == 1, "unsupported data version"
    shapes = {"W_q": (d, H), "b_q": (d,), "W_k": (d, H), "b_k": (d,), "W_v": (d, D), "b_v": (d,),
              "A_v": (a, d), "A_q": (a, d), "w_a": (a,), "B_k": (a, d), "B_q": (a, d), "w_l": (a,),
              "M_v": (h, 2 * d), "c_v": (h,), "m_v": (h,), "M_k": (h, 2 * d), "c_k": (h,), "m_k": (h,)}
    w = {n: read(os.path.join("weights", n + ".f32"), "<f4").reshape(shapes[n]) for n in NAMES}
    # Embedding tables as H x d (one row per bucket), like an embedding layer.
    w["W_q"] = np.ascontiguousarray(w["W_q"].T)
    w["W_k"] = np.ascontiguousarray(w["W_k"].T)
    data = dict(
        d=d, R=R,
        regions=read("image_regions.f32", "<f4").reshape(n_images, R, D),
        image_keywords=read("image_keywords.i32", "<i4"),
        keyword_entries=read("keyword_entries.i32", "<i4"),
        keyword_indices=read("keyword_indices.i32", "<i4").astype(np.intp),
        keyword_counts=read("keyword_counts.f32", "<f4"),
        query_entries=read("query_entries.i32", "<i4"),
        query_indices=read("query_indices.i32", "<i4").astype(np.intp),
        query_counts=read("query_counts.f32", "<f4"),
        candidates=read("candidates.i32", "<i4").astype(np.intp).reshape(n_queries, n_candidates),
    )
    if R == 0 or np.any(np.diff(data["image_keywords"]) == 0):
        sys.exit("reference_score.py expects every image to have regions and keywords")
    return w, data


def encode_catalog(w, data):
    """The query-independent part, once per catalog: region encodings and padded keyword encodings."""
    v = np.tanh(data["regions"] @ w["W_v"].T + w["b_v"]).astype(F)
    entries = data["keyword_entries"]
    rows = w["W_k"][data["keyword_indices"]] * data["keyword_counts"][:, None]
    k = np.tanh(np.add.reduceat(rows, entries[:-1], axis=0) + w["b_k"]).astype(F)
    offsets = data["image_keywords"]
    counts = np.diff(offsets)
    n, kmax = len(counts), int(counts.max())
    padded = np.zeros((n, kmax, data["d"]), dtype=F)
    mask = np.zeros((n, kmax), dtype=bool)
    for i in range(n):
        padded[i, :counts[i]] = k[offsets[i]:offsets[i + 1]]
        mask[i, :counts[i]] = True
    return v, padded, mask


def score(w, q_idx, q_cnt, v, k, mask):
    """Scores C candidates (v: C x R x d, k: C x K x d with mask C x K) for one query; returns s and beta_v."""
    d = v.shape[2]
    q = np.tanh(q_cnt @ w["W_q"][q_idx] + w["b_q"])
    nq = np.sqrt(q @ q + NORM_EPS)
    # VAN.
    e = np.tanh(v @ w["A_v"].T + w["A_q"] @ q) @ w["w_a"]
    alpha = np.exp(e - e.max(axis=1, keepdims=True))
    alpha /= alpha.sum(axis=1, keepdims=True)
    visual = np.einsum("cr,crd->cd", alpha, v)
    # LAN (padding masked out of the softmax).
    f = np.tanh(k @ w["B_k"].T + w["B_q"] @ q) @ w["w_l"]
    f = np.where(mask, f, F(-np.inf))
    lam = np.exp(f - f.max(axis=1, keepdims=True))
    lam /= lam.sum(axis=1, keepdims=True)
    keyword = np.einsum("ck,ckd->cd", lam, k)
    # MTN.
    qs = np.broadcast_to(q, (len(v), d))
    zv = np.tanh(np.concatenate([qs, visual], axis=1) @ w["M_v"].T + w["c_v"]) @ w["m_v"]
    zk = np.tanh(np.concatenate([qs, keyword], axis=1) @ w["M_k"].T + w["c_k"]) @ w["m_k"]
    top = np.maximum(zv, zk)
    ev, ek = np.exp(zv - top), np.exp(zk - top)
    beta_v = ev / (ev + ek)
    beta_k = 1 - beta_v
    # Cosine.
    u = beta_v[:, None] * visual + beta_k[:, None] * keyword
    nu = np.sqrt(np.einsum("cd,cd->c", u, u) + NORM_EPS)
    return (u @ q) / (nq * nu), beta_v


def percentile(sorted_values, p):
    """Nearest-rank percentile, like `amc bench score`."""
    return sorted_values[max(0, min(len(sorted_values) - 1, math.ceil(p * len(sorted_values)) - 1))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    w, data = load(args.directory)
    v_all, k_all, mask_all = encode_catalog(w, data)
    qe, qi, qc = data["query_entries"], data["query_indices"], data["query_counts"]
    candidates = data["candidates"]
    n_queries = len(candidates)

    def run(query):
        c = candidates[query]
        s, beta_v = score(w, qi[qe[query]:qe[query + 1]], qc[qe[query]:qe[query + 1]], v_all[c], k_all[c],
                          mask_all[c])
        order = np.argsort(-s, kind="stable")
        return s, beta_v, order

    for query in range(min(args.warmup, n_queries)):
        run(query)
    scores = np.zeros(candidates.shape, dtype=F)
    visual_weights = np.zeros(candidates.shape, dtype=F)
    times = []
    for query in range(n_queries):
        started = time.perf_counter()
        s, beta_v, _ = run(query)
        times.append(time.perf_counter() - started)
        scores[query], visual_weights[query] = s, beta_v
    scores.astype("<f4").tofile(os.path.join(args.directory, "scores.f32"))
    visual_weights.astype("<f4").tofile(os.path.join(args.directory, "visual_weights.f32"))
    times.sort()
    print(f"VERSIONS numpy={np.__version__} python={platform.python_version()}")
    print("FIRST " + " ".join(f"{x:.6f}" for x in scores[0]))
    print(f"REFERENCE queries={n_queries} p50_ms={percentile(times, 0.5) * 1e3:.4f} "
          f"p99_ms={percentile(times, 0.99) * 1e3:.4f} max_ms={times[-1] * 1e3:.4f}")


if __name__ == "__main__":
    main()
