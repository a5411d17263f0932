#!/usr/bin/env python3
"""Reference scorer for `amc bench score`, any architecture: runs the straightforward NumPy forward pass of
`reference_models/<architecture id>.py` (beside this file) with the same protocol as reference_score.py.

Each module provides (w: tensor name -> float32 array shaped (rows, columns) exactly as stored, vectors (rows, 1);
hp: hyper-parameter name -> float; an image: (regions float32 R x D, keywords: list of (indices int32, counts
float32)); a query: list of word bags (indices int32, counts float32) in word order, each word of the normalised
query hashed on its own):

    def encode_images(w, hp, images): ...; return cache      # query-independent part, whole catalog, untimed
    def score(w, hp, cache, query_words, candidates): ...    # float32 scores, one per candidate, in order

Like the scoring worker, the catalog is encoded once before timing; each timed query then runs `score` over its
candidates and sorts them. Single process.

It reads the folder `amc bench score` writes for the architecture (raw little-endian files, `numpy.fromfile`):

    manifest.json            format=1, architecture, hyper_parameters, tensors [{name, rows, columns}], images,
                             regions (R), region_dimension (D), hash_buckets (H), queries, candidates
    weights/<name>.f32       each tensor, row-major rows x columns
    image_regions.f32        images x R x D
    image_keywords.i32       images + 1 offsets into the keyword list
    keyword_entries.i32      keywords + 1 offsets into the trigram entries
    keyword_indices.i32      trigram buckets of every keyword, in order
    keyword_counts.f32       their counts
    query_entries.i32        queries + 1 offsets into the whole-query trigram entries (normalised query text)
    query_indices.i32        whole-query trigram buckets
    query_counts.f32         their counts
    query_words.i32          queries + 1 offsets into the word list
    word_entries.i32         words + 1 offsets into the word trigram entries
    word_indices.i32         trigram buckets of every query word
    word_counts.f32          their counts
    candidates.i32           queries x candidates: catalog indices of each query's candidates

usage: reference_score_model.py DIR --architecture ID [--warmup 50]

Writes DIR/scores.f32 (queries x candidates, in candidate order) for the cross-check, and prints
`VERSIONS numpy=<v> python=<v>`, `FIRST <score of candidate 1 of query 1> ...` and
`REFERENCE queries=<n> p50_ms=<x> p99_ms=<x> max_ms=<x>` (nearest-rank percentiles of the per-query time).
"""
import argparse
import importlib.util
import json
import math
import os
import platform
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the repository

try:
    import numpy as np
except ImportError:
    print("NumPy is missing: install python3-numpy", file=sys.stderr)
    sys.exit(3)

F = np.float32


def load(directory):
    """The manifest, the tensors, the hyper-parameters, the catalog's images, the queries' word bags, the candidates."""
    def read(name, dtype):
        return np.fromfile(os.path.join(directory, name), dtype=dtype)

    with open(os.path.join(directory, "manifest.json"), encoding="utf-8") as file:
        manifest = json.load(file)
    if manifest.get("format") != 1:
        sys.exit(f"unsupported data folder format {manifest.get('format')}")
    w = {}
    for tensor in manifest["tensors"]:
        values = read(os.path.join("weights", tensor["name"] + ".f32"), "<f4")
        w[tensor["name"]] = values.reshape(tensor["rows"], tensor["columns"])
    hp = {name: float(value) for name, value in manifest["hyper_parameters"].items()}
    n_images, n_queries = manifest["images"], manifest["queries"]
    regions = read("image_regions.f32", "<f4").reshape(n_images, manifest["regions"], manifest["region_dimension"])
    image_keywords = read("image_keywords.i32", "<i4")
    keyword_entries = read("keyword_entries.i32", "<i4")
    keyword_indices = read("keyword_indices.i32", "<i4")
    keyword_counts = read("keyword_counts.f32", "<f4")
    images = []
    for i in range(n_images):
        keywords = [(keyword_indices[keyword_entries[j]:keyword_entries[j + 1]],
                     keyword_counts[keyword_entries[j]:keyword_entries[j + 1]])
                    for j in range(image_keywords[i], image_keywords[i + 1])]
        images.append((regions[i], keywords))
    query_words = read("query_words.i32", "<i4")
    word_entries = read("word_entries.i32", "<i4")
    word_indices = read("word_indices.i32", "<i4")
    word_counts = read("word_counts.f32", "<f4")
    queries = [[(word_indices[word_entries[j]:word_entries[j + 1]], word_counts[word_entries[j]:word_entries[j + 1]])
                for j in range(query_words[q], query_words[q + 1])]
               for q in range(n_queries)]
    candidates = read("candidates.i32", "<i4").astype(np.intp).reshape(n_queries, manifest["candidates"])
    return manifest, w, hp, images, queries, candidates


def load_module(architecture):
    """reference_models/<architecture>.py beside this file."""
    if not architecture.replace("_", "").isalnum():
        sys.exit(f"not an architecture id: {architecture!r}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_models", architecture + ".py")
    if not os.path.isfile(path):
        sys.exit(f"architecture {architecture} has no NumPy reference: {path} is missing")
    spec = importlib.util.spec_from_file_location(f"reference_models_{architecture}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("encode_images", "score"):
        if not callable(getattr(module, name, None)):
            sys.exit(f"{path} does not define {name}()")
    return module


def percentile(sorted_values, p):
    """Nearest-rank percentile, like `amc bench score`."""
    return sorted_values[max(0, min(len(sorted_values) - 1, math.ceil(p * len(sorted_values)) - 1))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--architecture", required=True)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    module = load_module(args.architecture)
    manifest, w, hp, images, queries, candidates = load(args.directory)
    if manifest["architecture"] != args.architecture:
        sys.exit(f"the folder holds architecture {manifest['architecture']}, not {args.architecture}")
    cache = module.encode_images(w, hp, images)
    n_queries = len(candidates)

    def run(query):
        s = np.asarray(module.score(w, hp, cache, queries[query], candidates[query]), dtype=F)
        order = np.argsort(-s, kind="stable")
        return s, order

    for query in range(min(args.warmup, n_queries)):
        run(query)
    scores = np.zeros(candidates.shape, dtype=F)
    times = []
    for query in range(n_queries):
        started = time.perf_counter()
        s, _ = run(query)
        times.append(time.perf_counter() - started)
        if s.shape != (candidates.shape[1],):
            sys.exit(f"{args.architecture}.score returned shape {s.shape}, expected ({candidates.shape[1]},)")
        scores[query] = s
    scores.astype("<f4").tofile(os.path.join(args.directory, "scores.f32"))
    times.sort()
    print(f"VERSIONS numpy={np.__version__} python={platform.python_version()}")
    print("FIRST " + " ".join(f"{x:.6f}" for x in scores[0]))
    print(f"REFERENCE queries={n_queries} p50_ms={percentile(times, 0.5) * 1e3:.4f} "
          f"p99_ms={percentile(times, 0.99) * 1e3:.4f} max_ms={times[-1] * 1e3:.4f}")


if __name__ == "__main__":
    main()
