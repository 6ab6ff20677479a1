#!/usr/bin/env python3
"""Writes tests/data/encoder_fixture.safetensors: weights of a tiny W1 encoder
(SPEC.md's names), an input and PyTorch's output for it, computed in float64
from the float32 weights. tests/test_encoder.cpp checks rill against it.

Usage: python3 scripts/make-encoder-fixture.py [OUT]
(needs torch; on Debian: apt-get install python3-torch, then /usr/bin/python3)
"""
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F

B, S, D, H, L = 2, 8, 32, 4, 2
NAMES = ["ln1.weight", "ln1.bias", "qkv.weight", "qkv.bias", "out.weight", "out.bias",
         "ln2.weight", "ln2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
SHAPES = [(D,), (D,), (3 * D, D), (3 * D,), (D, D), (D,), (D,), (D,), (4 * D, D), (4 * D,),
          (D, 4 * D), (D,)]


def forward(x, layers):
    dh = D // H
    for w in layers:
        h = F.layer_norm(x, (D,), w["ln1.weight"], w["ln1.bias"], 1e-5)
        qkv = F.linear(h, w["qkv.weight"], w["qkv.bias"]).view(B, S, 3, H, dh)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, S, D)
        x = x + F.linear(o, w["out.weight"], w["out.bias"])
        h = F.layer_norm(x, (D,), w["ln2.weight"], w["ln2.bias"], 1e-5)
        h = F.gelu(F.linear(h, w["fc1.weight"], w["fc1.bias"]))  # exact (erf)
        x = x + F.linear(h, w["fc2.weight"], w["fc2.bias"])
    return x


def save(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    codes = {torch.float32: ("F32", "f"), torch.float64: ("F64", "d")}
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        code, fmt = codes[t.dtype]
        data = struct.pack("<%d%s" % (t.numel(), fmt), *t.flatten().tolist())
        header[name] = {"dtype": code, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for b in blobs:
            f.write(b)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/encoder_fixture.safetensors"
    g = torch.Generator().manual_seed(1234)
    tensors, layers = {}, []
    for i in range(L):
        w = {}
        for name, shape in zip(NAMES, SHAPES):
            scale = 0.2 if len(shape) == 2 else 0.1
            t = torch.randn(shape, generator=g) * scale
            if name in ("ln1.weight", "ln2.weight"):
                t = t + 1.0
            t = t.to(torch.float32)
            tensors["layers.%d.%s" % (i, name)] = t
            w[name] = t.to(torch.float64)
        layers.append(w)
    x = torch.randn((B, S, D), generator=g).to(torch.float32)
    tensors["input"] = x
    tensors["output"] = forward(x.to(torch.float64), layers)
    meta = {"batch": str(B), "seq": str(S), "dim": str(D), "heads": str(H), "layers": str(L),
            "torch": torch.__version__}
    save(out, tensors, meta)
    print("wrote", out)


if __name__ == "__main__":
    main()
