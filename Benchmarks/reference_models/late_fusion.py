"""late_fusion's forward pass (Docs/model.md, "Late fusion") in straightforward NumPy, float32.

    q = tanh(E_q^T x_q + b_q)                   the whole query's trigram bag (the sum of its words' bags)
    v_i = tanh(W_v r_i + b_v),  v = mean_i v_i
    k_l = tanh(E_k^T x_l + b_k), k = mean_l k_l
    [beta_v, beta_k] = softmax(G q + g)         per query
    u = beta_v v + beta_k k                     (u = k without regions, u = v without keywords)
    s = q.u / (sqrt(q.q + eps) sqrt(u.u + eps))

The catalog's means v and k are the query-independent part (encode_images); score gathers the candidates' means.
Interface: Benchmarks/reference_score_model.py.
"""
import numpy as np

F = np.float32
NORM_EPS = F(1e-8)


def _embed(table, bias, indices, counts):
    """tanh(sum_b count_b * table[b, :] + bias) over a trigram bag."""
    return np.tanh(counts @ table[indices] + bias)


def encode_images(w, hp, images):
    """Each image's mean region and keyword vectors, and which modalities it has."""
    W_v, b_v = w["W_v"], w["b_v"][:, 0]
    E_k, b_k = w["E_k"], w["b_k"][:, 0]
    n, d = len(images), W_v.shape[0]
    visual = np.zeros((n, d), dtype=F)
    keyword = np.zeros((n, d), dtype=F)
    has_regions = np.zeros(n, dtype=bool)
    has_keywords = np.zeros(n, dtype=bool)
    for i, (regions, keywords) in enumerate(images):
        if len(regions):
            visual[i] = np.tanh(regions @ W_v.T + b_v).mean(axis=0)
            has_regions[i] = True
        if keywords:
            keyword[i] = np.mean([_embed(E_k, b_k, indices, counts) for indices, counts in keywords], axis=0)
            has_keywords[i] = True
    return dict(visual=visual, keyword=keyword, has_regions=has_regions, has_keywords=has_keywords)


def score(w, hp, cache, query_words, candidates):
    """cos(q, beta_v v + beta_k k) of each candidate."""
    if query_words:
        indices = np.concatenate([indices for indices, _ in query_words])
        counts = np.concatenate([counts for _, counts in query_words])
    else:
        indices, counts = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=F)
    q = _embed(w["E_q"], w["b_q"][:, 0], indices, counts)
    z = w["G"] @ q + w["g"][:, 0]
    e = np.exp(z - z.max())
    beta_v = e[0] / e.sum()
    beta_k = F(1) - beta_v
    v, k = cache["visual"][candidates], cache["keyword"][candidates]
    has_v, has_k = cache["has_regions"][candidates], cache["has_keywords"][candidates]
    both = has_v & has_k
    mix_v = np.where(both, beta_v, np.where(has_k, F(0), F(1))).astype(F)
    mix_k = np.where(both, beta_k, np.where(has_k, F(1), F(0))).astype(F)
    u = mix_v[:, None] * v + mix_k[:, None] * k
    nu = np.sqrt(np.einsum("cd,cd->c", u, u) + NORM_EPS)
    nq = np.sqrt(q @ q + NORM_EPS)
    return ((u @ q) / (nq * nu)).astype(F)
