"""CAAN's forward pass (Docs/model.md, "CAAN") in straightforward NumPy: the reference of the `caan` architecture.

float32 throughout. `encode_images` runs the query-independent part once for the whole catalog (the fragment
encoders, as the scoring worker caches them); `score` runs the rest for one query and its candidates, one candidate
at a time. The context term uses the same factorised form as the Swift code:
Σ_k (1 + Ĥ_i·Ĥ_k) φ_k = Φ + Ĥ_i·T and Σ_k (1 + Ĥ_i·Ĥ_k) = m + Ĥ_i·S with S = Σ_k Ĥ_k, T = Σ_k φ_k Ĥ_k.

    w: dict tensor name -> np.float32 array shaped (rows, columns) exactly as stored (NamedTensor row-major);
       vectors are (rows, 1). hp: dict hyper-parameter name -> float.
    An image: (regions: float32 array R x D, keywords: list of (indices int32 array, counts float32 array)).
    A query: list of word bags (indices int32, counts float32), in word order.
"""
import numpy as np

F = np.float32
NORM_EPS = F(1e-8)


def _vector(w, name):
    return np.asarray(w[name], dtype=F).reshape(-1)


def _normalize_rows(x):
    return (x / np.sqrt((x * x).sum(axis=1, keepdims=True) + NORM_EPS)).astype(F)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(F)


def _encode_text(table, bias, bags):
    """norm(tanh(E^T x + b)) for each trigram bag: one row per bag."""
    rows = []
    for indices, counts in bags:
        indices = np.asarray(indices, dtype=np.int64)
        counts = np.asarray(counts, dtype=F)
        rows.append(np.tanh(bias + (counts[:, None] * table[indices]).sum(axis=0, dtype=F)))
    return _normalize_rows(np.stack(rows).astype(F))


def encode_images(w, hp, images):
    """The fragments x_i of every image (regions, then keywords), with its region count."""
    d = int(hp["d"])
    region_weight = np.asarray(w["W_v"], dtype=F)
    region_bias = _vector(w, "b_v")
    keyword_table = np.asarray(w["E_k"], dtype=F)
    keyword_bias = _vector(w, "b_k")
    cache = []
    for regions, keywords in images:
        regions = np.asarray(regions, dtype=F).reshape(-1, region_weight.shape[1])
        parts = [np.zeros((0, d), dtype=F)]
        if len(regions):
            parts.append(_normalize_rows(regions @ region_weight.T + region_bias))
        if len(keywords):
            parts.append(_encode_text(keyword_table, keyword_bias, keywords))
        cache.append((np.concatenate(parts).astype(F), len(regions)))
    return cache


def score(w, hp, cache, query_words, candidates):
    """cos(y, z) of every candidate; 0 for a query without words or an image without fragments."""
    scores = np.zeros(len(candidates), dtype=F)
    if len(query_words) == 0:
        return scores
    e = _encode_text(np.asarray(w["E_q"], dtype=F), _vector(w, "b_q"), query_words)  # Q x d
    y = _softmax(e @ _vector(w, "u")) @ e
    y_norm = np.sqrt(y @ y + NORM_EPS)
    omega = e @ _vector(w, "w_2")  # w_2·e_j
    w1, w3 = _vector(w, "w_1"), _vector(w, "w_3")
    region_type, keyword_type = _vector(w, "t_v"), _vector(w, "t_k")
    temperature = F(np.asarray(w["lambda"]).reshape(-1)[0])
    for n, candidate in enumerate(candidates):
        x, region_count = cache[int(candidate)]
        m = len(x)
        if m == 0:
            continue
        f = x + np.where((np.arange(m) < region_count)[:, None], region_type, keyword_type).astype(F)
        h = f @ e.T  # m x Q: H_ij = f_i·e_j
        p = _softmax(temperature * h, axis=0)  # each word's attention over the fragments
        h_hat = _normalize_rows(h)
        phi = f @ w3
        s, t = h_hat.sum(axis=0), phi @ h_hat
        context = (phi.sum() + h_hat @ t) / (F(m) + h_hat @ s)
        attention = _softmax(f @ w1 + p @ omega + context)
        z = attention @ f
        scores[n] = (y @ z) / (y_norm * np.sqrt(z @ z + NORM_EPS))
    return scores
