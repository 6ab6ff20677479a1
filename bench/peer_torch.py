#!/usr/bin/env python3
"""PyTorch peer of bench_runtime.cpp: an eager chain of 1,000 `x = x + 1` on a
one-element float32 tensor on the CPU, microseconds per op (the counterpart of
rill's build + eval), plain and under torch.inference_mode().

Writes Google Benchmark's JSON layout so that bench/report.py reads it like the
C++ programs' output:  peer_torch.py [--out FILE] [--seconds S]
"""
import argparse
import contextlib
import json
import platform
import statistics
import sys
import time

import torch

CHAIN = 1000


def chain(x):
    for _ in range(CHAIN):
        x = x + 1
    return x


def measure(name, seconds, repetitions, inference):
    """One entry per repetition plus their median, as Google Benchmark writes
    them with --benchmark_repetitions."""
    x = torch.zeros(1, dtype=torch.float32)
    runs = []
    with torch.inference_mode() if inference else contextlib.nullcontext():
        for _ in range(3):  # warm-up
            chain(x)
        if chain(x).item() != float(CHAIN):
            raise SystemExit(f"{name}: wrong result")
        for _ in range(repetitions):
            iters = 0
            start = time.perf_counter()
            while True:
                chain(x)
                iters += 1
                elapsed = time.perf_counter() - start
                if elapsed >= seconds:
                    break
            runs.append((elapsed / iters * 1e9, iters, iters * CHAIN / elapsed))

    def entry(run_type, ns, iters, rate, **extra):
        return dict(name=f"{name}/real_time" + (f"_{extra['aggregate_name']}" if extra else ""),
                    run_name=f"{name}/real_time", run_type=run_type, iterations=iters,
                    real_time=ns, cpu_time=ns, time_unit="ns", items_per_second=rate, **extra)

    out = [entry("iteration", *r) for r in runs]
    out.append(entry("aggregate", statistics.median(r[0] for r in runs), len(runs),
                     statistics.median(r[2] for r in runs), aggregate_name="median"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the JSON here (default: stdout)")
    ap.add_argument("--seconds", type=float, default=0.5, help="time per repetition")
    ap.add_argument("--repetitions", type=int, default=3)
    args = ap.parse_args()

    results = {
        "context": {
            "executable": f"python {platform.python_version()}, torch {torch.__version__}",
            "torch_threads": torch.get_num_threads(),
        },
        "benchmarks": (
            measure("BM_PyTorchChainEager", args.seconds, args.repetitions, inference=False)
            + measure("BM_PyTorchChainInference", args.seconds, args.repetitions,
                      inference=True)),
    }
    for b in results["benchmarks"]:
        what = "median" if b["run_type"] == "aggregate" else f"{b['iterations']} chains of {CHAIN}"
        print(f"{b['name']:<44} {1e6 / b['items_per_second']:8.3f} us/op ({what})",
              file=sys.stderr)
    text = json.dumps(results, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
