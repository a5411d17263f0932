"""AMS (attention-based multiscale matching) forward pass in straightforward NumPy, the reference the Swift
`AMSModel` is checked and benchmarked against (equations: Docs/model.md, "AMS").

Interface (shared by every architecture's reference):

    w:  dict tensor name -> np.float32 array shaped (rows, columns) exactly as stored (NamedTensor row-major);
        vectors are (rows, 1).  hp: dict hyper-parameter name -> float.
    An image: (regions: float32 array R x D, keywords: list of (indices int32 array, counts float32 array)).
    A query: list of word bags (indices int32, counts float32), in word order.

    encode_images(w, hp, images) -> cache          query-independent part, once for the catalog
    score(w, hp, cache, query_words, candidates)   -> float32 scores, one per candidate, in candidate order

float32 throughout; only numpy.
"""
import numpy as np

EPSILON = np.float32(1e-8)
SCALES = ("regions", "grid2x2", "global", "keywords")


def _normalise(x):
    """Each row divided by sqrt(row . row + eps)."""
    return (x / np.sqrt((x * x).sum(axis=-1, keepdims=True) + EPSILON)).astype(np.float32)


def _embed(table, bias, bag):
    """tanh(E^T x + b) for one trigram bag (E stored bucket-major, H x d)."""
    indices, counts = bag
    h = bias.reshape(-1).copy()
    if len(indices):
        h = h + (np.asarray(counts, np.float32)[:, None] * table[np.asarray(indices, np.int64)]).sum(axis=0)
    return np.tanh(h).astype(np.float32)


def _grid_side(r):
    """n for an n x n grid of r cells, 0 when r is not a perfect square."""
    n = int(np.floor(np.sqrt(r)))
    while n * n > r:
        n -= 1
    while (n + 1) * (n + 1) <= r:
        n += 1
    return n if n * n == r else 0


def _pooled_grid(regions):
    """The 2x2 grid of block means (rows and columns split at ceil(n/2)); none unless the grid is n x n, n >= 2."""
    r, dim = regions.shape
    n = _grid_side(r)
    if n < 2:
        return np.zeros((0, dim), np.float32)
    half = (n + 1) // 2
    cells = regions.reshape(n, n, dim)
    blocks = [cells[:half, :half], cells[:half, half:], cells[half:, :half], cells[half:, half:]]
    return np.stack([b.reshape(-1, dim).mean(axis=0) for b in blocks]).astype(np.float32)


def _project(weight, bias, inputs):
    """norm(W u + b) for each row u of inputs."""
    if inputs.shape[0] == 0:
        return np.zeros((0, weight.shape[0]), np.float32)
    return _normalise(inputs @ weight.T + bias.reshape(1, -1))


def encode_images(w, hp, images):
    """Per image the four scales' fragments: regions (R x d), grid2x2 (4 x d or 0), global (1 x d or 0),
    keywords (K x d), each fragment L2-normalised."""
    d = w["b_q"].shape[0]
    cache = []
    for regions, keywords in images:
        regions = np.asarray(regions, np.float32).reshape(-1, w["W_r"].shape[1])
        fragments = [
            _project(w["W_r"], w["b_r"], regions),
            _project(w["W_g"], w["b_g"], _pooled_grid(regions)),
            _project(w["W_m"], w["b_m"], regions.mean(axis=0, keepdims=True) if len(regions) else regions),
        ]
        if keywords:
            hidden = np.stack([_embed(w["E_k"], w["b_k"], bag) for bag in keywords])
            fragments.append(_normalise(hidden))
        else:
            fragments.append(np.zeros((0, d), np.float32))
        cache.append(fragments)
    return cache


def _scale_score(fragments, words, word_norms, t, lam):
    """NAAF-style score of one scale: mean over words of negative + positive + relevance-weighted parts
    (the positive part measured from the threshold, its weights vanishing at it: Docs/model.md)."""
    if fragments.shape[0] == 0 or words.shape[0] == 0:
        return np.float32(0)
    s = words @ fragments.T  # Q x n
    top = s.max(axis=1)
    negative = np.minimum(np.float32(0), top - t)
    a = np.exp(lam * s - (lam * top)[:, None])
    relevance = ((a / a.sum(axis=1, keepdims=True)) * s).sum(axis=1)
    above = s > t
    # Positive weights a (s - t) over the fragments above t (they vanish at the threshold).
    positive_weights = np.where(above, a * (s - t), np.float32(0))
    positive = np.zeros(words.shape[0], np.float32)
    for j in range(words.shape[0]):
        if above[j].any() and positive_weights[j].sum() >= np.finfo(np.float32).tiny:
            c = (positive_weights[j] / positive_weights[j].sum()) @ fragments
            positive[j] = c @ words[j] / (np.sqrt(c @ c + EPSILON) * word_norms[j]) - t
    return np.float32((negative + positive + relevance).mean())


def score(w, hp, cache, query_words, candidates):
    """S = sum_s b~_s S_s for each candidate, b~ the softmax of the query's scale logits over the scales it has."""
    lam = np.float32(hp.get("lambda_softmax", 20.0))
    if query_words:
        words = _normalise(np.stack([_embed(w["E_q"], w["b_q"], bag) for bag in query_words]))
    else:
        words = np.zeros((0, w["b_q"].shape[0]), np.float32)
    word_norms = np.sqrt((words * words).sum(axis=1) + EPSILON)
    # The query's scale logits z = Z mean_j(e_j) + c (c alone without words).
    mean = words.mean(axis=0) if len(words) else np.zeros(words.shape[1], np.float32)
    logits = w["scale_gate"] @ mean + w["scale_logits"].reshape(-1)
    thresholds = w["t"].reshape(-1)
    scores = np.zeros(len(candidates), np.float32)
    for position, candidate in enumerate(candidates):
        fragments = cache[int(candidate)]
        present = np.array([f.shape[0] > 0 for f in fragments])
        if not present.any():
            present[:] = True
        z = np.where(present, logits, -np.inf)
        b = np.exp(z - z.max())
        b = b / b.sum()
        scales = [_scale_score(f, words, word_norms, thresholds[s], lam) for s, f in enumerate(fragments)]
        scores[position] = np.float32(sum(b[s] * scales[s] for s in range(len(SCALES))))
    return scores
