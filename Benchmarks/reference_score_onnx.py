#!/usr/bin/env python3
"""ONNX Runtime reference for `amc bench score`: the per-query AMC graph (Docs/model.md) run by ONNX Runtime on
one thread.

Like the scoring worker, the query-independent work is done once per catalog before timing, in NumPy: the region
and keyword encodings v_i = tanh(W_v r_i + b_v), k_j = tanh(W_k x_kj + b_k) and the attentions' image projections
A_v v_i, B_k k_j (keywords padded to the longest bag list, with an additive mask of 0 / -inf). They become
initializers of one ONNX graph that does, per query, everything the worker does per request: encode the query
(gather of its trigram rows of W_q, tanh), the per-query terms A_q q, B_q q, c_v + M_v[:, :d] q, c_k + M_k[:, :d] q,
the gather of the candidates' stored encodings (~2 MB for 100 candidates at the defaults), VAN, LAN, MTN, the
cosine and the sort (TopK over all candidates). The session runs with intra_op_num_threads=1,
inter_op_num_threads=1, sequential execution and every graph optimisation. float32 throughout.

It reads the folder `amc bench score` writes (layout in Benchmarks/reference_score.py, whose loader it reuses).

usage: reference_score_onnx.py DIR [--warmup 50] [--rounds N] [--round-warmup 20] [--save-model FILE]

With --rounds N (more than 1) it times the queries in N consecutive shares, each when it is told to: it prints `READY`
once the session is built and warmed up, then for each round reads `GO` from standard input, runs the share's first
--round-warmup queries unmeasured (the caches are the other side's after its round), times the share and prints
`ROUND <r>`. `amc bench score` alternates these rounds with its own in-process rounds of the same queries, so
both sides' figures come from the same minutes of a shared machine.

Writes DIR/onnx_scores.f32 and DIR/onnx_visual_weights.f32 (queries x candidates, in candidate order) for the
cross-check, and prints `VERSIONS onnxruntime=<v> onnx=<v> numpy=<v> python=<v>`, `FIRST <score of candidate 1
of query 1> ...` and `REFERENCE queries=<n> p50_ms=<x> p99_ms=<x> max_ms=<x>` (nearest-rank percentiles of the
per-query `session.run` time; the inputs are built before the clock starts).
"""
import argparse
import os
import platform
import sys
import time

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError as error:
    print(f"{error}: install the packages of Benchmarks/requirements.txt (bash Benchmarks/venv.sh)", file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the repository
import reference_score as ref  # noqa: E402  (the shared loader and percentile)

F = np.float32


def encode_catalog(w, data):
    """The query-independent part, once per catalog: encodings and projections, keywords padded with a mask."""
    v, k, mask = ref.encode_catalog(w, data)
    pv = (v @ w["A_v"].T).astype(F)
    pk = (k @ w["B_k"].T).astype(F)
    bias = np.where(mask, F(0), F(-np.inf)).astype(F)
    return v, pv, k, pk, bias


def build_graph(w, catalog, d, candidates):
    """One graph per query: inputs the query's trigram buckets and counts and the candidates' catalog indices."""
    v, pv, k, pk, bias = catalog
    init = {
        "W_qT": w["W_q"],  # already H x d (reference_score.load)
        "b_q": w["b_q"],
        "A_qT": np.ascontiguousarray(w["A_q"].T),
        "B_qT": np.ascontiguousarray(w["B_q"].T),
        "M_vqT": np.ascontiguousarray(w["M_v"][:, :d].T),
        "M_vxT": np.ascontiguousarray(w["M_v"][:, d:].T),
        "M_kqT": np.ascontiguousarray(w["M_k"][:, :d].T),
        "M_kxT": np.ascontiguousarray(w["M_k"][:, d:].T),
        "c_v": w["c_v"], "c_k": w["c_k"], "m_v": w["m_v"], "m_k": w["m_k"],
        # Columns, so the attention scores of all candidates' items are one (C·R) x a by a x 1 product.
        "w_a": w["w_a"].reshape(-1, 1), "w_l": w["w_l"].reshape(-1, 1),
        "regions": v, "region_projections": pv, "keywords": k, "keyword_projections": pk, "keyword_mask": bias,
        "eps": np.array(ref.NORM_EPS, dtype=F),
    }
    ints = {
        "axis0": np.array([0], dtype=np.int64), "axis1": np.array([1], dtype=np.int64),
        "flat_d": np.array([-1, d], dtype=np.int64),
        "flat_a": np.array([-1, w["A_v"].shape[0]], dtype=np.int64),
        "per_candidate": np.array([candidates, -1], dtype=np.int64), "vec_c": np.array([candidates], dtype=np.int64),
        "k_all": np.array([candidates], dtype=np.int64),
        "zero": np.array(0, dtype=np.int64), "one": np.array(1, dtype=np.int64),
    }
    initializers = [numpy_helper.from_array(np.ascontiguousarray(x.astype(F)), name) for name, x in init.items()]
    initializers += [numpy_helper.from_array(x, name) for name, x in ints.items()]
    n = helper.make_node
    nodes = [
        # q = tanh(W_q x_q + b_q), |q|
        n("Gather", ["W_qT", "query_indices"], ["q_rows"], axis=0),
        n("Unsqueeze", ["query_counts", "axis1"], ["q_counts"]),
        n("Mul", ["q_rows", "q_counts"], ["q_scaled"]),
        n("ReduceSum", ["q_scaled", "axis0"], ["q_sum"], keepdims=1),
        n("Add", ["q_sum", "b_q"], ["q_pre"]),
        n("Tanh", ["q_pre"], ["q"]),  # 1 x d
        n("Mul", ["q", "q"], ["qq_terms"]),
        n("ReduceSum", ["qq_terms"], ["qq"], keepdims=0),
        n("Add", ["qq", "eps"], ["qq_eps"]),
        n("Sqrt", ["qq_eps"], ["q_norm"]),
        # The per-query terms.
        n("MatMul", ["q", "A_qT"], ["t_v"]),
        n("MatMul", ["q", "B_qT"], ["t_k"]),
        n("MatMul", ["q", "M_vqT"], ["m_vq"]),
        n("Add", ["m_vq", "c_v"], ["mtn_v"]),
        n("MatMul", ["q", "M_kqT"], ["m_kq"]),
        n("Add", ["m_kq", "c_k"], ["mtn_k"]),
        # The gather of the candidates' stored encodings.
        n("Gather", ["regions", "candidates"], ["v"], axis=0),  # C x R x d
        n("Gather", ["region_projections", "candidates"], ["pv"], axis=0),  # C x R x a
        n("Gather", ["keywords", "candidates"], ["k"], axis=0),  # C x K x d
        n("Gather", ["keyword_projections", "candidates"], ["pk"], axis=0),  # C x K x a
        n("Gather", ["keyword_mask", "candidates"], ["k_mask"], axis=0),  # C x K
        # VAN: e_i = w_a · tanh(A_v v_i + A_q q), α = softmax(e), visual = Σ α_i v_i
        n("Add", ["pv", "t_v"], ["hv_pre"]),
        n("Tanh", ["hv_pre"], ["hv"]),
        n("Reshape", ["hv", "flat_a"], ["hv_rows"]),  # C·R x a
        n("MatMul", ["hv_rows", "w_a"], ["e_col"]),
        n("Reshape", ["e_col", "per_candidate"], ["e"]),  # C x R
        n("Softmax", ["e"], ["alpha"], axis=-1),
        n("Unsqueeze", ["alpha", "axis1"], ["alpha_row"]),  # C x 1 x R
        n("MatMul", ["alpha_row", "v"], ["visual_row"]),  # C x 1 x d
        n("Reshape", ["visual_row", "flat_d"], ["visual"]),
        # LAN (padding masked out of the softmax)
        n("Add", ["pk", "t_k"], ["hk_pre"]),
        n("Tanh", ["hk_pre"], ["hk"]),
        n("Reshape", ["hk", "flat_a"], ["hk_rows"]),
        n("MatMul", ["hk_rows", "w_l"], ["f_col"]),
        n("Reshape", ["f_col", "per_candidate"], ["f_raw"]),  # C x K
        n("Add", ["f_raw", "k_mask"], ["f"]),
        n("Softmax", ["f"], ["lam"], axis=-1),
        n("Unsqueeze", ["lam", "axis1"], ["lam_row"]),
        n("MatMul", ["lam_row", "k"], ["keyword_row"]),
        n("Reshape", ["keyword_row", "flat_d"], ["keyword"]),
        # MTN: z = m · tanh(c + M[:, :d] q + M[:, d:] x), [β_v, β_k] = softmax(z_v, z_k)
        n("MatMul", ["visual", "M_vxT"], ["zv_x"]),
        n("Add", ["zv_x", "mtn_v"], ["zv_pre"]),
        n("Tanh", ["zv_pre"], ["zv_hidden"]),
        n("MatMul", ["zv_hidden", "m_v"], ["zv"]),  # C
        n("MatMul", ["keyword", "M_kxT"], ["zk_x"]),
        n("Add", ["zk_x", "mtn_k"], ["zk_pre"]),
        n("Tanh", ["zk_pre"], ["zk_hidden"]),
        n("MatMul", ["zk_hidden", "m_k"], ["zk"]),
        n("Unsqueeze", ["zv", "axis1"], ["zv_col"]),
        n("Unsqueeze", ["zk", "axis1"], ["zk_col"]),
        n("Concat", ["zv_col", "zk_col"], ["z"], axis=1),  # C x 2
        n("Softmax", ["z"], ["beta"], axis=-1),
        n("Gather", ["beta", "zero"], ["beta_v"], axis=1),  # C
        n("Gather", ["beta", "one"], ["beta_k"], axis=1),
        # u = β_v visual + β_k keyword, s = q·u / (|q| |u|)
        n("Unsqueeze", ["beta_v", "axis1"], ["beta_v_col"]),
        n("Unsqueeze", ["beta_k", "axis1"], ["beta_k_col"]),
        n("Mul", ["beta_v_col", "visual"], ["u_v"]),
        n("Mul", ["beta_k_col", "keyword"], ["u_k"]),
        n("Add", ["u_v", "u_k"], ["u"]),
        n("Mul", ["u", "u"], ["uu_terms"]),
        n("ReduceSum", ["uu_terms", "axis1"], ["uu"], keepdims=0),
        n("Add", ["uu", "eps"], ["uu_eps"]),
        n("Sqrt", ["uu_eps"], ["u_norm"]),
        n("Transpose", ["q"], ["q_col"], perm=[1, 0]),
        n("MatMul", ["u", "q_col"], ["qu_col"]),  # C x 1
        n("Reshape", ["qu_col", "vec_c"], ["qu"]),
        n("Mul", ["u_norm", "q_norm"], ["norms"]),
        n("Div", ["qu", "norms"], ["scores"]),
        # The sort: every candidate, best first.
        n("TopK", ["scores", "k_all"], ["sorted_scores", "order"], axis=0, largest=1, sorted=1),
    ]
    graph = helper.make_graph(
        nodes,
        "amc_score_query",
        [
            helper.make_tensor_value_info("query_indices", TensorProto.INT64, ["n"]),
            helper.make_tensor_value_info("query_counts", TensorProto.FLOAT, ["n"]),
            helper.make_tensor_value_info("candidates", TensorProto.INT64, [candidates]),
        ],
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [candidates]),
            helper.make_tensor_value_info("beta_v", TensorProto.FLOAT, [candidates]),
            helper.make_tensor_value_info("order", TensorProto.INT64, [candidates]),
        ],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="amc bench score")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1, help="time the queries in this many rounds, each on GO")
    parser.add_argument("--round-warmup", type=int, default=20, help="unmeasured queries at the start of a round")
    parser.add_argument("--save-model", help="also write the ONNX graph to this file")
    args = parser.parse_args()
    w, data = ref.load(args.directory)
    d = data["d"]
    candidates = data["candidates"]
    n_queries, n_candidates = candidates.shape
    model = build_graph(w, encode_catalog(w, data), d, n_candidates)
    if args.save_model:
        onnx.save(model, args.save_model)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    qe, qi, qc = data["query_entries"], data["query_indices"], data["query_counts"]
    feeds = [
        {
            "query_indices": np.ascontiguousarray(qi[qe[query]:qe[query + 1]], dtype=np.int64),
            "query_counts": np.ascontiguousarray(qc[qe[query]:qe[query + 1]], dtype=F),
            "candidates": np.ascontiguousarray(candidates[query], dtype=np.int64),
        }
        for query in range(n_queries)
    ]
    outputs = ["scores", "beta_v", "order"]
    for query in range(min(args.warmup, n_queries)):
        session.run(outputs, feeds[query])
    scores = np.zeros(candidates.shape, dtype=F)
    visual_weights = np.zeros(candidates.shape, dtype=F)
    times = []
    rounds = max(1, args.rounds)
    driven = rounds > 1
    if driven:
        print("READY", flush=True)
    for r in range(rounds):
        if driven and sys.stdin.readline().strip() != "GO":
            sys.exit(f"expected GO on standard input before round {r + 1}")
        first, end = n_queries * r // rounds, n_queries * (r + 1) // rounds
        if driven:
            for query in range(first, min(first + args.round_warmup, end)):
                session.run(outputs, feeds[query])
        for query in range(first, end):
            started = time.perf_counter()
            s, beta_v, _ = session.run(outputs, feeds[query])
            times.append(time.perf_counter() - started)
            scores[query], visual_weights[query] = s, beta_v
        if driven:
            print(f"ROUND {r + 1}", flush=True)
    scores.astype("<f4").tofile(os.path.join(args.directory, "onnx_scores.f32"))
    visual_weights.astype("<f4").tofile(os.path.join(args.directory, "onnx_visual_weights.f32"))
    times.sort()
    print(f"VERSIONS onnxruntime={ort.__version__} onnx={onnx.__version__} numpy={np.__version__} "
          f"python={platform.python_version()}")
    print("FIRST " + " ".join(f"{x:.6f}" for x in scores[0]))
    print(f"REFERENCE queries={n_queries} p50_ms={ref.percentile(times, 0.5) * 1e3:.4f} "
          f"p99_ms={ref.percentile(times, 0.99) * 1e3:.4f} max_ms={times[-1] * 1e3:.4f}")


if __name__ == "__main__":
    main()
