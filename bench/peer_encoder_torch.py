#!/usr/bin/env python3
"""PyTorch peer of rill-encoder: workload W1 (a pre-norm transformer encoder)
run by T Python threads at once, printing forwards/s and mean latency per T in
rill-encoder's table format.

--mode eager: each thread runs the model under inference mode on its own CUDA
stream, synchronising that stream after every forward.
--mode graphs (CUDA only): one CUDA graph of the forward per thread, captured
up front in the main thread, each on its own stream; a forward copies the input
into the graph's static input, replays the graph and synchronises the stream.

Defaults: on CUDA B=4 S=128 D=512 H=8 L=4 bfloat16, on the CPU B=1 S=128 D=256
H=4 L=2 float32; T = 1,2,4,8,16; 2 s per T.

    python3 bench/peer_encoder_torch.py [--mode eager|graphs] [--device cuda|cpu]
        [--batch B] [--seq S] [--dim D] [--heads H] [--layers L]
        [--dtype bfloat16|float16|float32] [--seconds N] [--threads 1,2,4]
"""
import argparse
import contextlib
import sys
import threading
import time
from typing import NamedTuple

import torch
import torch.nn.functional as F

NAME = "peer_encoder_torch"
WARMUP = 3  # forwards per thread before timing (and before a graph's capture)


class Layer(NamedTuple):
    ln1_w: torch.Tensor
    ln1_b: torch.Tensor
    qkv_w: torch.Tensor
    qkv_b: torch.Tensor
    out_w: torch.Tensor
    out_b: torch.Tensor
    ln2_w: torch.Tensor
    ln2_b: torch.Tensor
    fc1_w: torch.Tensor
    fc1_b: torch.Tensor
    fc2_w: torch.Tensor
    fc2_b: torch.Tensor


def unfused_attention(q, k, v):
    """softmax(q k^T / sqrt(dh)) v, for torch before 2.0 (no fused attention)."""
    scores = torch.matmul(q, k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    return torch.matmul(scores.softmax(-1), v)


attention = getattr(F, "scaled_dot_product_attention", unfused_attention)


def random_layers(dim, layers, dtype, device, seed=0):
    """Seeded random weights as rill-encoder makes them: normal * 0.02 for the
    linear weights ([out, in]), normal * 0.1 for biases, LayerNorm weights
    1 + normal * 0.1."""
    gen = torch.Generator().manual_seed(seed)

    def normal(shape, scale, mean=0.0):
        w = torch.randn(shape, generator=gen) * scale + mean
        return w.to(device=device, dtype=dtype)

    d = dim
    return [
        Layer(
            ln1_w=normal((d,), 0.1, 1.0), ln1_b=normal((d,), 0.1),
            qkv_w=normal((3 * d, d), 0.02), qkv_b=normal((3 * d,), 0.1),
            out_w=normal((d, d), 0.02), out_b=normal((d,), 0.1),
            ln2_w=normal((d,), 0.1, 1.0), ln2_b=normal((d,), 0.1),
            fc1_w=normal((4 * d, d), 0.02), fc1_b=normal((4 * d,), 0.1),
            fc2_w=normal((d, 4 * d), 0.02), fc2_b=normal((d,), 0.1),
        )
        for _ in range(layers)
    ]


def encoder_forward(layers, x, heads):
    """W1: per layer, x += out(attention(qkv(LN1(x)))); x += fc2(gelu(fc1(LN2(x))))."""
    b, s, d = x.shape
    dh = d // heads
    for w in layers:
        h = F.layer_norm(x, (d,), w.ln1_w, w.ln1_b, 1e-5)
        qkv = F.linear(h, w.qkv_w, w.qkv_b).view(b, s, 3, heads, dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each [B, H, S, dh]
        o = attention(q, k, v).transpose(1, 2).reshape(b, s, d)
        x = x + F.linear(o, w.out_w, w.out_b)
        h = F.layer_norm(x, (d,), w.ln2_w, w.ln2_b, 1e-5)
        h = F.gelu(F.linear(h, w.fc1_w, w.fc1_b), approximate="none")
        x = x + F.linear(h, w.fc2_w, w.fc2_b)
    return x


class Worker:
    """One thread's forward: `run()` does one forward and waits for its result."""

    def __init__(self, layers, x, heads, device, graphed):
        self.layers, self.x, self.heads = layers, x, heads
        self.cuda = device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.cuda else None
        self.graph = None
        if graphed:
            self._capture()

    def stream_context(self):
        return torch.cuda.stream(self.stream) if self.cuda else contextlib.nullcontext()

    def _capture(self):
        """Warm up on this worker's stream, then capture one forward as a graph.
        Called from the main thread only: concurrent captures abort."""
        with torch.inference_mode(), self.stream_context():
            self.static_in = self.x.clone()
            for _ in range(WARMUP):
                encoder_forward(self.layers, self.static_in, self.heads)
            self.stream.synchronize()
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, stream=self.stream):
                self.static_out = encoder_forward(self.layers, self.static_in, self.heads)
        self.stream.synchronize()

    def run(self):
        if self.graph is not None:
            self.static_in.copy_(self.x)
            self.graph.replay()
            y = self.static_out
        else:
            y = encoder_forward(self.layers, self.x, self.heads)
        if self.cuda:
            self.stream.synchronize()
        return y


def measure(workers, seconds):
    """Runs len(workers) threads, each doing forwards back to back for `seconds`
    from a common start; returns (forwards/s summed, mean latency in s)."""
    n = len(workers)
    counts, busy, errors = [0] * n, [0.0] * n, []
    window = {}

    def start_clock():  # runs once, as the last thread reaches the barrier
        window["end"] = time.perf_counter() + seconds

    barrier = threading.Barrier(n, action=start_clock)

    def loop(i):
        worker = workers[i]
        try:
            with torch.inference_mode(), worker.stream_context():
                for _ in range(WARMUP):
                    worker.run()
                barrier.wait()
                end = window["end"]
                while True:
                    t0 = time.perf_counter()
                    worker.run()
                    t1 = time.perf_counter()
                    if t1 > end:
                        break
                    counts[i] += 1
                    busy[i] += t1 - t0
        except BaseException as e:  # reported by the main thread
            errors.append(f"thread {i}: {type(e).__name__}: {e}")
            barrier.abort()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("; ".join(errors))
    total = sum(counts)
    return total / seconds, (sum(busy) / total if total else float("nan"))


def parse_threads(text):
    try:
        ts = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        ts = []
    if not ts or min(ts) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,2,4, got {text!r}")
    return ts


def parse_args():
    ap = argparse.ArgumentParser(description="PyTorch peer of rill-encoder (workload W1).")
    ap.add_argument("--mode", choices=("eager", "graphs"), default="eager")
    ap.add_argument("--device", choices=("cuda", "cpu"),
                    default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, help="default 4 on CUDA, 1 on the CPU")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--dim", type=int, help="default 512 on CUDA, 256 on the CPU")
    ap.add_argument("--heads", type=int, help="default 8 on CUDA, 4 on the CPU")
    ap.add_argument("--layers", type=int, help="default 4 on CUDA, 2 on the CPU")
    ap.add_argument("--dtype", choices=("bfloat16", "float16", "float32"),
                    help="default bfloat16 on CUDA, float32 on the CPU")
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per T")
    ap.add_argument("--threads", type=parse_threads, default=[1, 2, 4, 8, 16],
                    help="comma-separated thread counts T (default 1,2,4,8,16)")
    args = ap.parse_args()

    cuda = args.device == "cuda"
    defaults = dict(batch=4, dim=512, heads=8, layers=4, dtype="bfloat16") if cuda else \
        dict(batch=1, dim=256, heads=4, layers=2, dtype="float32")
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.batch, args.seq, args.dim, args.heads, args.layers) < 1 or args.dim % args.heads:
        ap.error("sizes must be positive and --dim a multiple of --heads")
    if args.seconds <= 0:
        ap.error("--seconds must be positive")
    if args.mode == "graphs" and not cuda:
        print(f"{NAME}: --mode graphs needs CUDA graphs; run it with --device cuda",
              file=sys.stderr)
        sys.exit(2)
    if cuda and not torch.cuda.is_available():
        print(f"{NAME}: --device cuda, but this torch sees no CUDA device", file=sys.stderr)
        sys.exit(2)
    return args


def main():
    args = parse_args()
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    layers = random_layers(args.dim, args.layers, dtype, device, seed=0)
    x = torch.randn(args.batch, args.seq, args.dim, generator=torch.Generator().manual_seed(1))
    x = x.to(device=device, dtype=dtype)

    with torch.inference_mode():
        y = encoder_forward(layers, x, args.heads)
    if y.shape != x.shape or not torch.isfinite(y).all():
        print(f"{NAME}: the forward gave shape {tuple(y.shape)} or non-finite values",
              file=sys.stderr)
        sys.exit(1)
    if device.type == "cuda":
        torch.cuda.synchronize()

    graphed = args.mode == "graphs"
    workers = [Worker(layers, x, args.heads, device, graphed) for _ in range(max(args.threads))]

    note = "" if attention is not unfused_attention else ", unfused attention (torch < 2.0)"
    print(f"{NAME}: W1 mode={args.mode} on {args.device}, B={args.batch} S={args.seq} "
          f"D={args.dim} H={args.heads} L={args.layers} {args.dtype}, torch {torch.__version__}"
          f"{note}, {args.seconds:.1f} s per T")
    print(f"{'threads':>8} {'forwards/s':>14} {'latency ms':>13}", flush=True)
    for T in args.threads:
        rate, latency = measure(workers[:T], args.seconds)
        print(f"{T:8d} {rate:14.1f} {latency * 1e3:13.2f}", flush=True)
    if device.type == "cuda":
        print(f"peak_memory_mib {torch.cuda.max_memory_allocated(device) / 2**20:.1f}")


if __name__ == "__main__":
    main()
