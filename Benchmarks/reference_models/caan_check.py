#!/usr/bin/env python3
"""Scores a tiny CAAN model and catalog with the NumPy reference (caan.py), for the Swift cross-check.

usage: caan_check.py INPUT.json

INPUT.json: {"hyper_parameters": {name: value}, "tensors": [{"name", "rows", "columns", "values"}],
"images": [{"regions": [R x D floats, row-major], "region_count": R, "keywords": [{"indices", "counts"}]}],
"queries": [[{"indices", "counts"} per word]], "candidates": [catalog indices]}.
Prints {"scores": [[score per candidate] per query]} as JSON. Exits 3 when NumPy is missing.
"""
import json
import os
import sys

try:
    import numpy as np
except ImportError:
    print("NumPy is missing: install python3-numpy", file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import caan  # noqa: E402


def bag(entry):
    return (np.asarray(entry["indices"], dtype=np.int32), np.asarray(entry["counts"], dtype=np.float32))


def main():
    with open(sys.argv[1]) as handle:
        data = json.load(handle)
    w = {t["name"]: np.asarray(t["values"], dtype=np.float32).reshape(t["rows"], t["columns"]) for t in data["tensors"]}
    hp = data["hyper_parameters"]
    dimension = int(hp["D"])
    images = [
        (np.asarray(i["regions"], dtype=np.float32).reshape(i["region_count"], dimension),
         [bag(k) for k in i["keywords"]])
        for i in data["images"]
    ]
    cache = caan.encode_images(w, hp, images)
    candidates = np.asarray(data["candidates"], dtype=np.int64)
    scores = [caan.score(w, hp, cache, [bag(word) for word in query], candidates) for query in data["queries"]]
    json.dump({"scores": [[float(v) for v in s] for s in scores]}, sys.stdout)


if __name__ == "__main__":
    main()
