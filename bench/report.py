#!/usr/bin/env python3
"""Prints the side-by-side table of scripts/bench from Google Benchmark JSON
files: rill's (bench_runtime) and the peers' (peer_libtorch, peer_torch.py).

  report.py RILL_JSON [PEER_JSON ...]

Ratio = peer time / rill time: above 1 means rill is faster.
"""
import json
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f).get("benchmarks", [])
    except (OSError, ValueError) as e:
        print(f"report: skipping {path}: {e}", file=sys.stderr)
        return []


def index(benchmarks):
    """{(base name, threads): entry}: the median of repetitions where there
    are several, else the single run."""
    out, medians = {}, {}
    for b in benchmarks:
        key = (b["name"].split("/")[0], int(b.get("threads", 1)))
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[key] = b
        else:
            out[key] = b
    out.update(medians)
    return out


def ns_per_call(b):
    """Per-thread CPU ns per call: the cost each caller pays."""
    if b is None or b.get("error_occurred"):
        return None
    scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
    return b["cpu_time"] * scale


def real_ns(b):
    if b is None or b.get("error_occurred"):
        return None
    scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
    return b["real_time"] * scale


def us_per_op(b):
    """Wall µs per op of a 1,000-op chain (items = ops)."""
    if b is None or b.get("error_occurred") or not b.get("items_per_second"):
        return None
    return 1e6 / b["items_per_second"]


def fmt(v):
    if v is None:
        return "—"
    if v < 10:
        return f"{v:.2f}"
    return f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    rill = index(load(argv[1]))
    peers = {}
    for p in argv[2:]:
        peers.update(index(load(p)))

    # (figure, rill value, peer name, peer value); a peer name in parentheses
    # says why there is no peer value.
    rows = []
    for t in (1, 2, 4, 8, 16):
        rows.append((f"M1 default_stream, ns/call/thread, T={t}",
                     ns_per_call(rill.get(("BM_DefaultStream", t))),
                     "LibTorch getCurrentCUDAStream",
                     ns_per_call(peers.get(("BM_TorchCurrentStream", t)))))
    for t in (1, 16):
        rows.append((f"M1 control: noinline thread-local read, ns/call/thread, T={t}",
                     ns_per_call(rill.get(("BM_ThreadLocalControl", t))),
                     "(the machine's floor for a per-thread lookup)", None))
    rows.append(("new_stream, ns/call", real_ns(rill.get(("BM_NewStream", 1))),
                 "LibTorch getStreamFromPool",
                 real_ns(peers.get(("BM_TorchStreamFromPool", 1)))))
    rows.append(("M2 chain of 1,000 x + 1, build only, µs/op",
                 us_per_op(rill.get(("BM_ChainBuild", 1))), "(eager peers have no build step)",
                 None))
    build_eval = us_per_op(rill.get(("BM_ChainBuildEval", 1)))
    for key, name in (("BM_TorchChainEager", "LibTorch eager"),
                      ("BM_TorchChainInference", "LibTorch eager, InferenceMode"),
                      ("BM_PyTorchChainEager", "PyTorch eager"),
                      ("BM_PyTorchChainInference", "PyTorch eager, inference_mode")):
        rows.append(("M2 chain of 1,000 x + 1, build + eval, µs/op", build_eval, name,
                     us_per_op(peers.get((key, 1)))))

    print("| figure | rill | peer | peer value | ratio (peer/rill) |")
    print("|---|---|---|---|---|")
    for figure, r, name, p in rows:
        if p is None and not name.startswith("("):
            cuda = "Stream" in name
            name += " (needs LibTorch with CUDA)" if cuda else " (not measured)"
        ratio = f"{p / r:.2f}" if (r and p) else "—"
        print(f"| {figure} | {fmt(r)} | {name} | {fmt(p)} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
