"""amc's forward pass for the generic runner: Benchmarks/reference_score.py's (the reference `amc bench score` runs
for AMC itself) behind the interface of Benchmarks/reference_score_model.py, so the runner can be checked against
a known forward pass. Expects every image to have R regions and at least one keyword.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import reference_score as ref  # noqa: E402  (the AMC forward pass)

F = np.float32


def _weights(w):
    """The layout reference_score.load makes: embedding tables as H x d, vectors 1-D."""
    out = {name: (values[:, 0] if values.shape[1] == 1 else values) for name, values in w.items()}
    out["W_q"] = np.ascontiguousarray(w["W_q"].T)
    out["W_k"] = np.ascontiguousarray(w["W_k"].T)
    return out


def encode_images(w, hp, images):
    """Region encodings and padded keyword encodings of the catalog (reference_score.encode_catalog)."""
    weights = _weights(w)
    offsets, entries, indices, counts = [0], [0], [], []
    for _, keywords in images:
        for keyword_indices, keyword_counts in keywords:
            indices.append(keyword_indices)
            counts.append(keyword_counts)
            entries.append(entries[-1] + len(keyword_indices))
        offsets.append(len(entries) - 1)
    data = dict(
        d=weights["W_v"].shape[0],
        regions=np.stack([regions for regions, _ in images]),
        image_keywords=np.array(offsets, dtype=np.int32),
        keyword_entries=np.array(entries, dtype=np.int32),
        keyword_indices=np.concatenate(indices).astype(np.intp),
        keyword_counts=np.concatenate(counts).astype(F),
    )
    v, k, mask = ref.encode_catalog(weights, data)
    return dict(w=weights, v=v, k=k, mask=mask)


def score(w, hp, cache, query_words, candidates):
    """VAN, LAN, MTN and the cosine over the candidates (reference_score.score), the query as one bag."""
    indices = np.concatenate([indices for indices, _ in query_words] + [np.zeros(0, np.int32)]).astype(np.intp)
    counts = np.concatenate([counts for _, counts in query_words] + [np.zeros(0, F)])
    s, _ = ref.score(cache["w"], indices, counts, cache["v"][candidates], cache["k"][candidates],
                     cache["mask"][candidates])
    return s.astype(F)
