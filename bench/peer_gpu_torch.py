"""PyTorch peer of bench/bench_gpu.cpp: the same figures, shapes and timing rule
(median of repeated runs, each synchronised), one per line "name value unit".
Attention is measured with each backend PyTorch has (the best is the peer)."""
import time

import torch
import torch.nn.functional as F


def median(f, reps):
    f()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        start = time.perf_counter()
        f()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - start)
    ts.sort()
    return ts[len(ts) // 2]


def main():
    if not torch.cuda.is_available():
        print("peer_gpu_torch: no GPU")
        return
    dev = "cuda"
    one = torch.zeros(1, device=dev)

    def chain():
        c = one
        for _ in range(1000):
            c = c + 1.0
        return c.item()

    t = median(chain, 20)
    print(f"m2_gpu_chain {1000 / t * 1e-3:.1f} kop/s")
    n = 1 << 28
    x = torch.randn(n, device=dev)
    y = torch.randn(n, device=dev)
    t = median(lambda: x * 1.0, 20)
    print(f"m4_scale {2 * n * 4 / t * 1e-9:.1f} GB/s")
    t = median(lambda: x + y, 20)
    print(f"m4_add {3 * n * 4 / t * 1e-9:.1f} GB/s")
    t = median(lambda: x.sum(), 20)
    print(f"m4_sum {n * 4 / t * 1e-9:.1f} GB/s")
    t = median(lambda: torch.stack([x.sum() for _ in range(10)]), 5) / 10
    print(f"m4_sum_queued {n * 4 / t * 1e-9:.1f} GB/s")
    t = median(lambda: x.clone(), 20)
    print(f"copy {2 * n * 4 / t * 1e-9:.1f} GB/s")
    n4 = 4 * n

    def figure(name, nbytes, f):
        print(f"{name} {nbytes / median(f, 10) * 1e-9:.1f} GB/s", flush=True)

    figure("m4_arctan2", 3 * n4, lambda: torch.atan2(x, y))
    figure("m4_logaddexp", 3 * n4, lambda: torch.logaddexp(x, y))
    figure("m4_clip", 2 * n4, lambda: torch.clamp(x, -0.5, 0.5))
    figure("m4_nan_to_num", 2 * n4, lambda: torch.nan_to_num(x, 0.0))
    figure("m4_isnan", n4 + n, lambda: torch.isnan(x))
    xi, yi = x.view(torch.int32), y.view(torch.int32)
    figure("m4_bitwise_and_int32", 3 * n4, lambda: xi & yi)
    figure("m4_right_shift_int32", 2 * n4, lambda: xi >> 3)
    x8, y8 = x.view(torch.int8), y.view(torch.int8)
    figure("m4_add_int8", 3 * n4, lambda: x8 + y8)
    xc, yc = x.view(torch.complex64), y.view(torch.complex64)
    figure("m4_multiply_complex64", 3 * n4, lambda: xc * yc)
    rows = x.view(n // 4096, 4096)
    figure("m4_var_rows", n4, lambda: torch.var(rows, -1, correction=0))
    figure("m4_count_nonzero_rows", n4, lambda: torch.count_nonzero(rows, -1))
    figure("m4_cumprod_rows", 2 * n4, lambda: torch.cumprod(rows, -1))
    # PyTorch's cummax also writes int64 indices: more bytes than counted here.
    figure("m4_cummax_rows", 2 * n4, lambda: torch.cummax(rows, -1).values)
    figure("m4_logcumsumexp_rows", 2 * n4, lambda: torch.logcumsumexp(rows, -1))
    figure("m4_cumsum_flat", 2 * n4, lambda: torch.cumsum(x, 0))
    del xi, yi, x8, y8, xc, yc, rows
    del x, y
    m = 8192
    a = torch.randn(m, m, device=dev, dtype=torch.bfloat16)
    b = torch.randn(m, m, device=dev, dtype=torch.bfloat16)
    t = median(lambda: a @ b, 20)
    print(f"matmul_bf16_8192 {2 * m ** 3 / t * 1e-12:.1f} TFLOP/s")
    del a, b
    nw, kw = 14336, 4096
    w = torch.randn(nw, kw, device=dev, dtype=torch.bfloat16)
    x1 = torch.randn(1, kw, device=dev, dtype=torch.bfloat16)
    t = median(lambda: x1 @ w.t(), 20)
    print(f"matmul_bf16_m1_14336x4096 {2 * nw * kw / t * 1e-9:.1f} GB/s")
    x512 = torch.randn(512, kw, device=dev, dtype=torch.bfloat16)
    t = median(lambda: x512 @ w.t(), 20)
    print(f"matmul_bf16_m512_14336x4096 {2 * 512 * nw * kw / t * 1e-12:.1f} TFLOP/s")
    del w, x1, x512
    from torch.nn.attention import SDPBackend, sdpa_kernel
    backends = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
                "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
    for (B, H, L, D) in [(8, 16, 4096, 128), (16, 16, 2048, 64)]:
        q, k, v = (torch.randn(B, H, L, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
        for causal in (False, True):
            flops = 4 * B * H * L * L * D / (2 if causal else 1)
            best = 0.0
            for name, be in backends.items():
                if name == "math":
                    continue  # materialises L x L per head: slow and huge
                try:
                    with sdpa_kernel(be):
                        t = median(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal), 5)
                except RuntimeError:
                    continue
                tf = flops / t * 1e-12
                best = max(best, tf)
                print(f"sdpa_{B}_{H}_{L}_{D}{'_causal' if causal else ''}_{name} {tf:.1f} TFLOP/s")
            print(f"sdpa_{B}_{H}_{L}_{D}{'_causal' if causal else ''} {best:.1f} TFLOP/s")
        del q, k, v
    q = torch.randn(32, 32, 1, 128, device=dev, dtype=torch.bfloat16)
    k = torch.randn(32, 32, 8192, 128, device=dev, dtype=torch.bfloat16)
    v = torch.randn(32, 32, 8192, 128, device=dev, dtype=torch.bfloat16)
    t = median(lambda: F.scaled_dot_product_attention(q, k, v), 10)
    print(f"sdpa_decode_32_32_8192_128 {2 * 32 * 32 * 8192 * 128 * 2 / t * 1e-9:.1f} GB/s")
    # Grouped heads: 32 query heads over 8 key/value heads (K and V bytes counted once).
    k = torch.randn(32, 8, 8192, 128, device=dev, dtype=torch.bfloat16)
    v = torch.randn(32, 8, 8192, 128, device=dev, dtype=torch.bfloat16)
    t = median(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True), 10)
    print(f"sdpa_decode_gqa4_32_32_8192_128 {2 * 32 * 8 * 8192 * 128 * 2 / t * 1e-9:.1f} GB/s")


if __name__ == "__main__":
    main()
