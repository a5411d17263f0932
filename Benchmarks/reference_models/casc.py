"""A straightforward NumPy reference of CASC's forward pass (`casc`, Docs/model.md "CASC"), for the benchmarks'
comparison and the cross-check of the Swift scorer (Tests/ModelTests/CASCNumPyReferenceTests.swift).

Interface (shared by every architecture's reference in this folder):

    w:  dict tensor name -> np.float32 array shaped (rows, columns) exactly as stored (row-major); vectors (rows, 1)
    hp: dict hyper-parameter name -> float
    an image: (regions: float32 R x D, keywords: list of (indices int32, counts float32))
    a query:  list of word bags (indices int32, counts float32), in word order

    encode_images(w, hp, images) -> cache            query-independent part, once for the catalog
    score(w, hp, cache, query_words, candidates)     float32 scores, one per candidate, in candidate order

Equations (eps = 1e-8, norm(x) = x / sqrt(x.x + eps), cos likewise):
    v_i = norm(W_v r_i + b_v), k_l = norm(tanh(E_k^T x_l + b_k)), e_j = norm(tanh(E_q^T x_j + b_q))
    label head: sigma = sigmoid(W_2 tanh(W_1 mean_i v_i + b_1) + b_2), cached as sigma / |sigma|
    each branch (regions, keywords): SCAN's t2i and i2t (leaky ReLU 0.1, the two normalisations, softmaxes with
    temperatures exp(log_lambda), LogSumExp pooling), S = (S_t2i + S_i2t) / 2
    gate: z = m . tanh(M [mean_j e_j; mean_j a_j] + c), [beta_v, beta_k] = softmax(z_v, z_k)
    S = alpha (beta_v S^V + beta_k S^K) + (1 - alpha) sum_{l in y_q} sigma_hat_l / sqrt|y_q|, alpha = sigmoid(alpha_logit)
    y_q: each word's label, FNV-1a over its bag's (index uint32, count float32 bits) little-endian, modulo L.
An image without keywords (regions) uses the other branch alone; without either, the local score is 0; a query
without words scores 0.
"""
import numpy as np

F = np.float32
EPS = F(1e-8)
SLOPE = F(0.1)


def _vector(w, name):
    return w[name].reshape(-1)


def _normalise_rows(x):
    return x / np.sqrt((x * x).sum(axis=1, keepdims=True) + EPS)


def _embed(table, bias, bag):
    indices, counts = bag
    t = np.tanh(bias + np.asarray(counts, F) @ table[np.asarray(indices, np.int64)])
    return t / np.sqrt(t @ t + EPS)


def _fnv1a(data):
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def label(bag, buckets):
    """A word's label: FNV-1a over (bucket index, count bits) pairs, little-endian uint32 each, modulo L."""
    indices, counts = bag
    pairs = np.empty((len(indices), 2), dtype="<u4")
    pairs[:, 0] = np.asarray(indices, "<i4").view("<u4")
    pairs[:, 1] = np.asarray(counts, "<f4").view("<u4")
    return _fnv1a(pairs.tobytes()) % buckets


def encode_images(w, hp, images):
    d = int(hp["d"])
    W_v, b_v = w["W_v"], _vector(w, "b_v")
    E_k, b_k = w["E_k"], _vector(w, "b_k")
    W_1, b_1, W_2, b_2 = w["W_1"], _vector(w, "b_1"), w["W_2"], _vector(w, "b_2")
    cache = []
    for regions, keywords in images:
        regions = np.asarray(regions, F).reshape(-1, W_v.shape[1])
        v = _normalise_rows(regions @ W_v.T + b_v) if len(regions) else np.zeros((0, d), F)
        k = np.stack([_embed(E_k, b_k, bag) for bag in keywords]) if len(keywords) else np.zeros((0, d), F)
        mean = v.mean(axis=0) if len(v) else np.zeros(d, F)
        sigma = F(1) / (F(1) + np.exp(-(W_2 @ np.tanh(W_1 @ mean + b_1) + b_2)))
        cache.append((v, k, sigma / np.sqrt(sigma @ sigma + EPS)))
    return cache


def _cos_rows(x, y):
    return (x * y).sum(axis=1) / (np.sqrt((x * x).sum(axis=1) + EPS) * np.sqrt((y * y).sum(axis=1) + EPS))


def _softmax_rows(z):
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _branch(f, e, temperatures):
    """SCAN over fragments f (n x d) and words e (Q x d): (S_t2i + S_i2t) / 2 and mean_j a_j."""
    t2i_lambda, i2t_lambda, pooling = temperatures
    s = f @ e.T
    leaky = np.where(s > 0, s, SLOPE * s)
    # text-to-image: normalised over words per fragment; each word attends over the fragments
    u = leaky / np.sqrt((leaky * leaky).sum(axis=1, keepdims=True) + EPS)
    attended = _softmax_rows(t2i_lambda * u.T) @ f
    t2i = _cos_rows(e, attended).mean()
    # image-to-text: normalised over fragments per word; each fragment attends over the words
    normalised = leaky / np.sqrt((leaky * leaky).sum(axis=0, keepdims=True) + EPS)
    relevance = _cos_rows(f, _softmax_rows(i2t_lambda * normalised) @ e)
    top = (pooling * relevance).max()
    i2t = (top + np.log(np.exp(pooling * relevance - top).sum())) / pooling
    return F(0.5) * (t2i + i2t), attended.mean(axis=0)


def _gate_logit(w, suffix, ebar, attended):
    M, c, m = w["M_" + suffix], _vector(w, "c_" + suffix), _vector(w, "m_" + suffix)
    return m @ np.tanh(M @ np.concatenate([ebar, attended]) + c)


def score(w, hp, cache, query_words, candidates):
    scores = np.zeros(len(candidates), F)
    if len(query_words) == 0:
        return scores
    e = np.stack([_embed(w["E_q"], _vector(w, "b_q"), bag) for bag in query_words])
    ebar = e.mean(axis=0)
    labels = sorted({label(bag, int(hp["L"])) for bag in query_words})
    temperatures = np.exp(w["log_lambda"])
    alpha = F(1) / (F(1) + np.exp(-w["alpha_logit"][0, 0]))
    for n, candidate in enumerate(candidates):
        v, k, sigma_hat = cache[int(candidate)]
        visual = _branch(v, e, temperatures[0]) if len(v) else None
        keyword = _branch(k, e, temperatures[1]) if len(k) else None
        if visual is not None and keyword is not None:
            z_v = _gate_logit(w, "v", ebar, visual[1])
            z_k = _gate_logit(w, "k", ebar, keyword[1])
            top = max(z_v, z_k)
            beta_v = np.exp(z_v - top) / (np.exp(z_v - top) + np.exp(z_k - top))
            local = beta_v * visual[0] + (1 - beta_v) * keyword[0]
        elif visual is not None or keyword is not None:
            local = (visual or keyword)[0]
        else:
            local = F(0)
        agreement = sigma_hat[labels].sum() / np.sqrt(F(len(labels)))
        scores[n] = alpha * local + (1 - alpha) * agreement
    return scores
