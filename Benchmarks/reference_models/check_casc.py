#!/usr/bin/env python3
"""Cross-check driver of the CASC NumPy reference (casc.py beside this file).

usage: check_casc.py INPUT.json

INPUT: {"hyper_parameters": {name: value}, "tensors": [{"name", "rows", "columns", "values"}],
        "images": [{"regions": [R x D floats, row-major], "region_count": R,
                    "keywords": [{"indices": [...], "counts": [...]}]}],
        "queries": [[{"indices": [...], "counts": [...]} per word]], "candidates": [catalog indices]}
Prints {"scores": [[one score per candidate] per query]} as JSON on stdout; exits 3 if NumPy is missing.
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
import casc  # noqa: E402


def bag(entry):
    return np.asarray(entry["indices"], np.int32), np.asarray(entry["counts"], np.float32)


def main():
    with open(sys.argv[1]) as file:
        data = json.load(file)
    w = {t["name"]: np.asarray(t["values"], np.float32).reshape(t["rows"], t["columns"]) for t in data["tensors"]}
    hp = {name: float(value) for name, value in data["hyper_parameters"].items()}
    dimension = int(hp["D"])
    images = [
        (np.asarray(image["regions"], np.float32).reshape(image["region_count"], dimension),
         [bag(keyword) for keyword in image["keywords"]])
        for image in data["images"]
    ]
    cache = casc.encode_images(w, hp, images)
    candidates = np.asarray(data["candidates"], np.int64)
    scores = [casc.score(w, hp, cache, [bag(word) for word in query], candidates).tolist() for query in data["queries"]]
    json.dump({"scores": scores}, sys.stdout)


if __name__ == "__main__":
    main()
