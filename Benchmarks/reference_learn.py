#!/usr/bin/env python3
"""Reference trainer for `amc bench learn`: the AMC forward and backward pass in straightforward NumPy.

The same equations as `Sources/Model` (Docs/model.md): letter-trigram encoders, VAN, LAN, MTN, cosine score,
ranking hinge loss, minibatch-mean gradient and Adam (dense for the small tensors, lazy -- only the touched
rows -- for the embedding tables W_q and W_k, which are kept here as H x d, one row per trigram bucket). Each
example is one vectorised pass over its 1 + T images stacked (regions as an n x R x D array, keywords as
segments); float32 throughout. Expects every image to have regions and keywords (the synthetic set does).

It reads the folder `amc bench learn` writes (all files raw little-endian, `numpy.fromfile`):

    dims.i32                 version=1, H, d, a, h, D, R, T, examples, images, batch
    hyper.f32                margin, learning rate, beta1, beta2, epsilon
    weights/<name>.f32       the 18 initial tensors, row-major rows x columns (W_q is d x H, vectors n x 1)
    image_regions.f32        images x R x D
    image_keywords.i32       images + 1 offsets into the keyword list
    keyword_entries.i32      keywords + 1 offsets into the trigram entries
    keyword_indices.i32      trigram buckets of every keyword, in order
    keyword_counts.f32       their counts
    query_entries.i32        examples + 1 offsets into the query trigram entries
    query_indices.i32        query trigram buckets
    query_counts.f32         their counts
    example_images.i32       examples x (1 + T): the clicked image, then the negatives

usage: reference_learn.py DIR --scope mtn|all [--seconds 5] [--check-steps 10]

Prints `VERSIONS numpy=<v> python=<v>`, then `CHECK <loss per pair of step 1> ...` for the first --check-steps minibatches from the initial weights
(and writes the trained tensors in scope to DIR/check-<scope>/<name>.f32), then times whole epochs from the
initial weights for at least --seconds and prints `REFERENCE pairs=<n> seconds=<s> pairs_per_s=<n>`.
"""
import argparse
import os
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
MTN = ["M_v", "c_v", "m_v", "M_k", "c_k", "m_k"]
NORM_EPS = F(1e-8)


def load(directory):
    def read(name, dtype):
        return np.fromfile(os.path.join(directory, name), dtype=dtype)

    dims = read("dims.i32", "<i4")
    version, H, d, a, h, D, R, T, n_examples, n_images, batch = (int(x) for x in dims)
    assert version == 1, "unsupported data version"
    margin, lr, beta1, beta2, eps = (F(x) for x in read("hyper.f32", "<f4"))
    shapes = {"W_q": (d, H), "b_q": (d,), "W_k": (d, H), "b_k": (d,), "W_v": (d, D), "b_v": (d,),
              "A_v": (a, d), "A_q": (a, d), "w_a": (a,), "B_k": (a, d), "B_q": (a, d), "w_l": (a,),
              "M_v": (h, 2 * d), "c_v": (h,), "m_v": (h,), "M_k": (h, 2 * d), "c_k": (h,), "m_k": (h,)}
    weights = {n: read(os.path.join("weights", n + ".f32"), "<f4").reshape(shapes[n]) for n in NAMES}
    # Embedding tables as H x d (one row per bucket), like an embedding layer.
    weights["W_q"] = np.ascontiguousarray(weights["W_q"].T)
    weights["W_k"] = np.ascontiguousarray(weights["W_k"].T)

    regions = read("image_regions.f32", "<f4").reshape(n_images, R, D)
    image_keywords = read("image_keywords.i32", "<i4")
    keyword_entries = read("keyword_entries.i32", "<i4")
    keyword_indices = read("keyword_indices.i32", "<i4").astype(np.intp)
    keyword_counts = read("keyword_counts.f32", "<f4")
    if R == 0 or np.any(np.diff(image_keywords) == 0):
        sys.exit("reference_learn.py expects every image to have regions and keywords")
    query_entries = read("query_entries.i32", "<i4")
    query_indices = read("query_indices.i32", "<i4").astype(np.intp)
    query_counts = read("query_counts.f32", "<f4")
    example_images = read("example_images.i32", "<i4").reshape(n_examples, 1 + T)

    # Each example as stacked arrays over its 1 + T images: what a data loader would hand the training step.
    examples = []
    for e in range(n_examples):
        ids = example_images[e]
        bags = [np.arange(image_keywords[i], image_keywords[i + 1]) for i in ids]
        bag_image = np.concatenate([np.full(len(b), j) for j, b in enumerate(bags)])
        bags = np.concatenate(bags)
        entries = [np.arange(keyword_entries[b], keyword_entries[b + 1]) for b in bags]
        entry_bag = np.concatenate([np.full(len(x), j) for j, x in enumerate(entries)])
        entries = np.concatenate(entries)
        bag_starts = np.concatenate([[0], np.cumsum([keyword_entries[b + 1] - keyword_entries[b] for b in bags])[:-1]])
        image_starts = np.searchsorted(bag_image, np.arange(len(ids)))
        q0, q1 = query_entries[e], query_entries[e + 1]
        examples.append(dict(
            q_idx=query_indices[q0:q1], q_cnt=query_counts[q0:q1], regions=regions[ids],
            k_idx=keyword_indices[entries], k_cnt=keyword_counts[entries], entry_bag=entry_bag,
            entry_image=bag_image[entry_bag], bag_starts=bag_starts.astype(np.intp), bag_image=bag_image,
            image_starts=image_starts.astype(np.intp)))
    config = dict(H=H, d=d, a=a, h=h, D=D, batch=batch, margin=margin, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    return config, weights, examples


def segment_softmax(x, starts, segment):
    """Softmax within each segment of x (segments start at `starts`; `segment` maps entries to segments)."""
    e = np.exp(x - np.maximum.reduceat(x, starts)[segment])
    return e / np.add.reduceat(e, starts)[segment]


def example_step(w, grads, touched, ex, config, full):
    """Forward and backward of one example (its 1 + T images stacked), accumulating into grads; returns its loss."""
    d = config["d"]
    n = len(ex["image_starts"])
    # Query.
    q = np.tanh(ex["q_cnt"] @ w["W_q"][ex["q_idx"]] + w["b_q"])
    nq = np.sqrt(q @ q + NORM_EPS)
    # VAN over the stacked regions (n x R x D).
    regions = ex["regions"]
    v = np.tanh(regions @ w["W_v"].T + w["b_v"])
    hv = np.tanh(v @ w["A_v"].T + w["A_q"] @ q)
    e = hv @ w["w_a"]
    alpha = np.exp(e - e.max(axis=1, keepdims=True))
    alpha /= alpha.sum(axis=1, keepdims=True)
    visual = np.einsum("nr,nrd->nd", alpha, v)
    # LAN over every keyword of every image (segments).
    bag_image, image_starts = ex["bag_image"], ex["image_starts"]
    k = np.tanh(np.add.reduceat(w["W_k"][ex["k_idx"]] * ex["k_cnt"][:, None], ex["bag_starts"], axis=0) + w["b_k"])
    hk = np.tanh(k @ w["B_k"].T + w["B_q"] @ q)
    lam = segment_softmax(hk @ w["w_l"], image_starts, bag_image)
    keyword = np.add.reduceat(lam[:, None] * k, image_starts, axis=0)
    # MTN.
    qs = np.broadcast_to(q, (n, d))
    xv = np.concatenate([qs, visual], axis=1)
    xk = np.concatenate([qs, keyword], axis=1)
    tv = np.tanh(xv @ w["M_v"].T + w["c_v"])
    tk = np.tanh(xk @ w["M_k"].T + w["c_k"])
    zv, zk = tv @ w["m_v"], tk @ w["m_k"]
    top = np.maximum(zv, zk)
    ev, ek = np.exp(zv - top), np.exp(zk - top)
    beta_v = ev / (ev + ek)
    beta_k = 1 - beta_v
    # Cosine scores and the hinge loss.
    u = beta_v[:, None] * visual + beta_k[:, None] * keyword
    nu = np.sqrt(np.einsum("nd,nd->n", u, u) + NORM_EPS)
    s = (u @ q) / (nq * nu)
    terms = config["margin"] - s[0] + s[1:]
    active = terms > 0
    loss = terms[active].sum(dtype=F)
    if not active.any():
        return loss
    ds = np.concatenate([[-active.sum()], active]).astype(F)

    # Backward: cosine, then the modality softmax and the MTN.
    du = ds[:, None] * (q / (nq * nu)[:, None] - (s / (nu * nu))[:, None] * u)
    dz = beta_v * beta_k * (np.einsum("nd,nd->n", du, visual) - np.einsum("nd,nd->n", du, keyword))
    pre_v = dz[:, None] * w["m_v"] * (1 - tv * tv)
    pre_k = -dz[:, None] * w["m_k"] * (1 - tk * tk)
    grads["m_v"] += dz @ tv
    grads["m_k"] -= dz @ tk
    grads["c_v"] += pre_v.sum(axis=0)
    grads["c_k"] += pre_k.sum(axis=0)
    grads["M_v"] += pre_v.T @ xv
    grads["M_k"] += pre_k.T @ xk
    if not full:
        return loss

    dxv = pre_v @ w["M_v"]
    dxk = pre_k @ w["M_k"]
    dq = (ds[:, None] * (u / (nq * nu)[:, None] - s[:, None] * q / (nq * nq))).sum(axis=0)
    dq += dxv[:, :d].sum(axis=0) + dxk[:, :d].sum(axis=0)
    d_visual = beta_v[:, None] * du + dxv[:, d:]
    d_keyword = beta_k[:, None] * du + dxk[:, d:]
    # VAN and the region encoder.
    d_alpha = np.einsum("nrd,nd->nr", v, d_visual)
    de = alpha * (d_alpha - (alpha * d_alpha).sum(axis=1, keepdims=True))
    grads["w_a"] += np.einsum("nr,nra->a", de, hv)
    pre = de[:, :, None] * w["w_a"] * (1 - hv * hv)
    d_vterm = pre.sum(axis=(0, 1))
    grads["A_v"] += pre.reshape(-1, pre.shape[2]).T @ v.reshape(-1, d)
    dv = (alpha[:, :, None] * d_visual[:, None, :] + pre @ w["A_v"]) * (1 - v * v)
    grads["b_v"] += dv.sum(axis=(0, 1))
    grads["W_v"] += dv.reshape(-1, d).T @ regions.reshape(-1, regions.shape[2])
    # LAN and the keyword encoder (only the keywords of images that received a gradient).
    d_lam = np.einsum("kd,kd->k", k, d_keyword[bag_image])
    de = lam * (d_lam - np.add.reduceat(lam * d_lam, image_starts)[bag_image])
    grads["w_l"] += de @ hk
    pre = de[:, None] * w["w_l"] * (1 - hk * hk)
    d_kterm = pre.sum(axis=0)
    grads["B_k"] += pre.T @ k
    dk = (lam[:, None] * d_keyword[bag_image] + pre @ w["B_k"]) * (1 - k * k)
    grads["b_k"] += dk.sum(axis=0)
    used = ds[ex["entry_image"]] != 0
    k_idx = ex["k_idx"][used]
    np.add.at(grads["W_k"], k_idx, ex["k_cnt"][used, None] * dk[ex["entry_bag"][used]])
    touched["W_k"].append(k_idx)
    # The query side.
    dq += w["A_q"].T @ d_vterm + w["B_q"].T @ d_kterm
    grads["A_q"] += np.outer(d_vterm, q)
    grads["B_q"] += np.outer(d_kterm, q)
    dq *= 1 - q * q
    grads["b_q"] += dq
    grads["W_q"][ex["q_idx"]] += ex["q_cnt"][:, None] * dq
    touched["W_q"].append(ex["q_idx"])
    return loss


class Trainer:
    def __init__(self, weights, config, full):
        self.w = {n: x.copy() for n, x in weights.items()}
        self.config = config
        self.full = full
        self.names = NAMES if full else MTN
        self.m = {n: np.zeros_like(self.w[n]) for n in self.names}
        self.v = {n: np.zeros_like(self.w[n]) for n in self.names}
        self.b1_power = F(1)
        self.b2_power = F(1)

    def step(self, batch):
        c = self.config
        grads = {n: np.zeros_like(self.w[n]) for n in self.names}
        touched = {"W_q": [], "W_k": []}
        loss = F(0)
        for example in batch:
            loss += example_step(self.w, grads, touched, example, c, self.full)
        b1, b2, lr, eps = c["beta1"], c["beta2"], c["lr"], c["eps"]
        self.b1_power *= b1
        self.b2_power *= b2
        c1, c2 = F(1) - self.b1_power, F(1) - self.b2_power
        n = F(len(batch))
        for name in self.names:
            w, m, v, g = self.w[name], self.m[name], self.v[name], grads[name]
            if name in touched:  # lazy Adam: only the rows (buckets) that received a gradient
                if not touched[name]:
                    continue
                rows = np.unique(np.concatenate(touched[name]))
                w, m, v, g = w[rows], m[rows], v[rows], g[rows]
            g = g / n
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            w = w - lr * (m / c1) / (np.sqrt(v / c2) + eps)
            if name in touched:
                self.w[name][rows], self.m[name][rows], self.v[name][rows] = w, m, v
            else:
                self.w[name], self.m[name], self.v[name] = w, m, v
        return loss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--scope", choices=["mtn", "all"], required=True)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--check-steps", type=int, default=10)
    args = parser.parse_args()

    print("VERSIONS numpy=%s python=%s" % (np.__version__, sys.version.split()[0]), flush=True)
    config, weights, examples = load(args.directory)
    full = args.scope == "all"
    batch = config["batch"]
    batches = [examples[i:i + batch] for i in range(0, len(examples), batch)]

    trainer = Trainer(weights, config, full)
    losses = [trainer.step(b) / F(len(b)) for b in batches[:args.check_steps]]
    print("CHECK " + " ".join(repr(float(x)) for x in losses), flush=True)
    out = os.path.join(args.directory, "check-" + args.scope)
    os.makedirs(out, exist_ok=True)
    for name in trainer.names:
        tensor = trainer.w[name]
        if name in ("W_q", "W_k"):
            tensor = tensor.T  # back to d x H, the layout of the weights files
        np.ascontiguousarray(tensor, dtype="<f4").tofile(os.path.join(out, name + ".f32"))

    pairs = 0
    elapsed = 0.0
    while elapsed < args.seconds:
        trainer = Trainer(weights, config, full)
        started = time.perf_counter()
        for b in batches:
            trainer.step(b)
        elapsed += time.perf_counter() - started
        pairs += len(examples)
    print("REFERENCE pairs=%d seconds=%.3f pairs_per_s=%.1f" % (pairs, elapsed, pairs / elapsed), flush=True)


if __name__ == "__main__":
    main()
