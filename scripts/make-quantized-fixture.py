"""Writes tests/data/quantized_mlx.safetensors: MLX's quantize and dequantize
outputs (and quantized_matmul products) for fixed inputs, every mode, bits and
group size, in float32, float16 and bfloat16, for tests/test_quantized.cpp to
compare rill's with (codes, scales and biases byte for byte).
Needs MLX's Python package:  python3 scripts/make-quantized-fixture.py"""
import os

import mlx.core as mx

ROWS, COLS = 4, 256


def inputs():
    # Deterministic values with groups of one sign, mixed signs, a zero group
    # and a wide range of magnitudes.
    i = mx.arange(ROWS * COLS, dtype=mx.float32)
    w = mx.sin(i * 0.37) * (1.0 + (i % 7)) + mx.cos(i * 0.011) * 0.25
    w = w.reshape(ROWS, COLS)
    w[1, 64:128] = mx.abs(w[1, 64:128]) + 0.5      # all positive groups
    w[2, :32] = 0.0                               # a zero group
    w[3, 128:] = w[3, 128:] * 1e-3                # small values
    x = mx.cos(mx.arange(3 * COLS, dtype=mx.float32) * 0.13).reshape(3, COLS)
    return w, x


def main():
    w32, x32 = inputs()
    out = {"w_float32": w32, "x_float32": x32}
    cases = [("affine", b, g) for b in (2, 3, 4, 5, 6, 8) for g in (32, 64, 128)]
    cases += [("mxfp4", 4, 32), ("mxfp8", 8, 32), ("nvfp4", 4, 16)]
    for dt in (mx.float32, mx.float16, mx.bfloat16):
        dn = str(dt).split(".")[-1]
        w = w32.astype(dt)
        x = x32.astype(dt)
        for mode, bits, gs in cases:
            tag = f"{mode}_b{bits}_g{gs}_{dn}"
            q = mx.quantize(w, group_size=gs, bits=bits, mode=mode, stream=mx.cpu)
            out[tag + "_codes"] = q[0]
            out[tag + "_scales"] = q[1]
            biases = q[2] if mode == "affine" else None
            if biases is not None:
                out[tag + "_biases"] = biases
            out[tag + "_deq"] = mx.dequantize(q[0], q[1], biases, group_size=gs, bits=bits,
                                              mode=mode, stream=mx.cpu)
            if mode != "nvfp4":
                out[tag + "_qmm"] = mx.quantized_matmul(x, q[0], q[1], biases, transpose=True,
                                                        group_size=gs, bits=bits, mode=mode,
                                                        stream=mx.cpu)
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "quantized_mlx.safetensors")
    mx.save_safetensors(path, out, metadata={"mlx": mx.__version__})
    print(f"wrote {len(out)} arrays to {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
