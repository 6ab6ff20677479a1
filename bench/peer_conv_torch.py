"""PyTorch peer of bench/bench_conv.cpp: the same convolutions (bfloat16,
channels-last memory format, cuDNN), the same timing rule (median of repeated
runs, each synchronised), one per line "name value unit". Each is timed with
cuDNN's heuristics (PyTorch's default) and with cudnn.benchmark (trying every
algorithm, as rill does); the faster is the peer, both are printed."""

import torch
import torch.nn.functional as F

from peer_gpu_torch import median  # the same timing rule as the other GPU peers


def main():
    if not torch.cuda.is_available():
        print("peer_conv_torch: no GPU")
        return
    dev, dt = "cuda", torch.bfloat16
    cases = [
        ("conv2d_r50_56x56x64", (32, 56, 56, 64), (64, 3, 3, 64), 1, 1),
        ("conv2d_r50_28x28x128", (32, 28, 28, 128), (128, 3, 3, 128), 1, 1),
        ("conv2d_r50_14x14x256", (32, 14, 14, 256), (256, 3, 3, 256), 1, 1),
        ("conv2d_r50_7x7x512", (32, 7, 7, 512), (512, 3, 3, 512), 1, 1),
    ]
    for n in (1, 8):
        for c in (384, 1280):
            tag = f"_n{n}_{c}"
            cases.append(("conv1d_whisper1" + tag, (n, 3000, 80), (c, 3, 80), 1, 1))
            cases.append(("conv1d_whisper2" + tag, (n, 3000, c), (c, 3, c), 2, 1))
    for name, xs, ws, stride, padding in cases:
        # rill's layouts ([N, spatial..., C], [O, k..., C]) as PyTorch's
        # channels-first views of channels-last memory.
        nd = len(xs) - 2
        perm = (0, nd + 1) + tuple(range(1, nd + 1))
        x = (torch.rand(xs, device=dev, dtype=dt) * 2 - 1).permute(perm)
        w = (torch.rand(ws, device=dev, dtype=dt) * 2 - 1).permute(perm)
        if nd == 1:  # PyTorch's conv1d has no channels-last path: its own layout
            x, w = x.contiguous(), w.contiguous()
        conv = F.conv2d if nd == 2 else F.conv1d
        y = conv(x, w, stride=stride, padding=padding)
        flops = 2.0 * y.numel()
        for k in ws[1:]:
            flops *= k
        best = 0.0
        for mode, bench in (("heuristic", False), ("benchmark", True)):
            torch.backends.cudnn.benchmark = bench
            t = median(lambda: conv(x, w, stride=stride, padding=padding), 20)
            print(f"{name}_{mode} {flops / t * 1e-12:.1f} TFLOP/s")
            best = max(best, flops / t * 1e-12)
        print(f"{name} {best:.1f} TFLOP/s", flush=True)


if __name__ == "__main__":
    main()
