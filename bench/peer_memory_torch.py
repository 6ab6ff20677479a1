"""PyTorch's peak memory for bench/bench_memory.cpp's three cases (M5), printed
as "memory_<case> <peak / output> x (peak P MiB, output O MiB)".

Same computations, same sizes, same holding: the inputs are made and kept
before the peak is reset, the program's variable is rebound at every step.
On CUDA the peak is torch.cuda.max_memory_allocated. On the CPU PyTorch has
no such counter, so each case runs in a child process whose peak resident
set (ru_maxrss) is measured against the same process's resident set just
before the case starts, with malloc told to map every block of 64 KiB or more
on its own (MALLOC_MMAP_THRESHOLD_) so that freed memory leaves the resident
set at once, as rill's figure leaves its active bytes.

    python3 bench/peer_memory_torch.py [--device cpu|cuda] [--scale K]
"""
import argparse
import os
import resource
import subprocess
import sys


def case_chain(torch, dev, scale):
    n = (64 << 20) // scale
    g = torch.Generator(device=dev).manual_seed(1)
    z = torch.rand(n, generator=g, device=dev)
    c = 0.25
    yield
    for _ in range(10):
        z = torch.exp(z + c)
    yield z


def case_normal(torch, dev, scale):
    n = (64 << 20) // scale
    g = torch.Generator(device=dev).manual_seed(2)
    yield
    x = torch.randn(n, generator=g, device=dev)
    yield x


def case_mlp(torch, dev, scale):
    rows = 4096 // scale
    g = torch.Generator(device=dev).manual_seed(3)
    w1 = torch.randn(1024, 4096, generator=g, device=dev) * 0.02
    w2 = torch.randn(4096, 1024, generator=g, device=dev) * 0.02
    y = torch.randn(rows, 1024, generator=g, device=dev)
    gelu = torch.nn.functional.gelu
    yield
    for _ in range(8):
        y = y + gelu(y @ w1) @ w2
    yield y


CASES = {"chain": case_chain, "normal": case_normal, "mlp": case_mlp}


def statm_rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_case(name, device, scale):
    """Runs one case in this process; returns (peak bytes, output bytes)."""
    import torch
    torch.set_grad_enabled(False)
    steps = CASES[name](torch, device, scale)
    if device == "cuda":
        next(steps)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        out = next(steps)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated(), out.nelement() * out.element_size()
    next(steps)
    # Everything live now (the inputs, the interpreter, torch itself) is in
    # the resident set; the peak above it is what the case added. The inputs
    # count too, as in rill's figure: add them back.
    held = sum(getattr(v, "nbytes", 0) for v in steps.gi_frame.f_locals.values()
               if isinstance(v, torch.Tensor))
    base = statm_rss_bytes()
    out = next(steps)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return peak - base + held, out.nelement() * out.element_size()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--scale", type=int, default=1)
    p.add_argument("--case", help=argparse.SUPPRESS)  # a child's one case
    a = p.parse_args()
    if a.case:
        peak, out = run_case(a.case, a.device, a.scale)
        print(peak, out)
        return
    if a.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            print("peer_memory_torch: no CUDA device")
            return
    for name in CASES:
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
        r = subprocess.run([sys.executable, __file__, "--device", a.device, "--scale",
                            str(a.scale), "--case", name], env=env, capture_output=True,
                           text=True, check=True)
        peak, out = (int(v) for v in r.stdout.split()[-2:])
        print(f"memory_{name} {peak / out:.2f} x (peak {peak / 2**20:.1f} MiB, "
              f"output {out / 2**20:.1f} MiB)", flush=True)


if __name__ == "__main__":
    main()
