#!/usr/bin/env python3
"""Cross-check driver of the AMS NumPy reference (ams.py) against the Swift model (Tests/ModelTests).

usage: check_ams.py CASE.json

CASE.json: {"hyper_parameters": {name: value}, "tensors": {name: {"rows", "columns", "values"}},
            "images": [{"regions": [R*D floats], "region_count": R, "keywords": [{"indices", "counts"}]}],
            "queries": [{"words": [{"indices", "counts"}], "candidates": [catalog indices]}]}

Prints one line per query: its candidates' scores, space-separated, in candidate order. Exits 2 when NumPy is
missing.
"""
import json
import os
import sys

try:
    import numpy as np
except ImportError:
    print("NumPy is missing: install python3-numpy", file=sys.stderr)
    sys.exit(2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ams  # noqa: E402


def bag(entry):
    return np.asarray(entry["indices"], np.int32), np.asarray(entry["counts"], np.float32)


def main():
    with open(sys.argv[1]) as f:
        case = json.load(f)
    w = {
        name: np.asarray(t["values"], np.float32).reshape(t["rows"], t["columns"])
        for name, t in case["tensors"].items()
    }
    hp = {name: float(value) for name, value in case["hyper_parameters"].items()}
    dim = w["W_r"].shape[1]
    images = [
        (
            np.asarray(image["regions"], np.float32).reshape(image["region_count"], dim),
            [bag(k) for k in image["keywords"]],
        )
        for image in case["images"]
    ]
    cache = ams.encode_images(w, hp, images)
    for query in case["queries"]:
        scores = ams.score(w, hp, cache, [bag(word) for word in query["words"]], np.asarray(query["candidates"]))
        print(" ".join(repr(float(s)) for s in scores))


if __name__ == "__main__":
    main()
