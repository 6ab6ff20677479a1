"""Writes tests/data/tiny-llama-mlx-q4: tests/data/tiny-llama's model as an
MLX-quantized checkpoint (every linear layer and the embedding quantized by
MLX's quantize, 4 bits in groups of 32; weights stored as MLX-LM stores them:
`.weight` codes, `.scales`, `.biases`; config.json with "quantization"), for
tests/test_llm.cpp to load. Needs MLX's Python package:
    python3 scripts/make-mlx-quantized-fixture.py"""
import json
import os
import shutil

import mlx.core as mx

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "tests", "data", "tiny-llama")
DST = os.path.join(HERE, "..", "tests", "data", "tiny-llama-mlx-q4")
GROUP, BITS = 32, 4


def main():
    os.makedirs(DST, exist_ok=True)
    weights = mx.load(os.path.join(SRC, "model.safetensors"))
    out = {}
    for name, w in weights.items():
        layer = name[: -len(".weight")] if name.endswith(".weight") else None
        if layer and (layer.endswith("_proj") or layer in ("lm_head", "model.embed_tokens")):
            q, scales, biases = mx.quantize(w.astype(mx.bfloat16), group_size=GROUP, bits=BITS,
                                            stream=mx.cpu)
            out[layer + ".weight"], out[layer + ".scales"], out[layer + ".biases"] = q, scales, biases
        else:
            out[name] = w.astype(mx.bfloat16)
    mx.save_safetensors(os.path.join(DST, "model.safetensors"), out, metadata={"format": "mlx"})
    with open(os.path.join(SRC, "config.json")) as f:
        config = json.load(f)
    config["quantization"] = {"group_size": GROUP, "bits": BITS}
    config["torch_dtype"] = "bfloat16"
    with open(os.path.join(DST, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    shutil.copy(os.path.join(SRC, "prompt_ids.npy"), DST)
    print(f"wrote {len(out)} tensors to {os.path.normpath(DST)}")


if __name__ == "__main__":
    main()
