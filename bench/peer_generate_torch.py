#!/usr/bin/env python3
"""W2's peer: the same Llama-family decoder in Hugging Face transformers.

A random model of a config.json's shape (examples/tinyllama-1.1b.json by
default), greedy `generate` of --max-tokens new tokens after a random prompt of
--prompt-len tokens, at each batch size given, with the dynamic cache (eager)
and the static cache. Prints one line per point:

    peer_generate cache=dynamic batch=1 ttft_ms=... decode_tok_s=...

decode_tok_s counts the tokens after the first, summed over the batch, over
the time after the first (the total time less that of a one-token generate),
as rill-generate's "decode tokens/s (requests summed)" does. Also prints the
device's copy bandwidth and the weight bytes each decoded token reads, so that
scripts/bench-generate can state the memory bound.
"""
import argparse
import json
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="examples/tinyllama-1.1b.json")
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--batch", default="1")
    ap.add_argument("--caches", default="dynamic,static")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default=None, help="bfloat16 on the GPU, float32 on the CPU")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (CPU)")
    args = ap.parse_args()

    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    dtype = getattr(torch, args.dtype) if args.dtype else (
        torch.bfloat16 if dev.type == "cuda" else torch.float32)
    with open(args.config) as f:
        cfg = json.load(f)
    cfg.pop("architectures", None)
    cfg.pop("torch_dtype", None)
    config = LlamaConfig(**cfg)
    torch.manual_seed(0)
    if hasattr(torch.device, "__enter__"):  # made on the device (torch 2)
        with torch.device(dev):
            model = LlamaForCausalLM(config).to(dtype)
    else:
        model = LlamaForCausalLM(config).to(dtype).to(dev)
    model.eval()
    print(f"peer_info transformers={transformers.__version__} torch={torch.__version__} "
          f"device={dev} dtype={dtype}")

    emb = config.vocab_size * config.hidden_size
    params = sum(p.numel() for p in model.parameters())
    elt = torch.finfo(dtype).bits // 8
    print(f"peer_weight_bytes_per_token {(params - emb) * elt}")
    if dev.type == "cuda":
        x = torch.empty(1 << 28, dtype=torch.uint8, device=dev)
        y = torch.empty_like(x)
        for _ in range(3):
            y.copy_(x)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(20):
            y.copy_(x)
        torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / 20
        print(f"peer_copy_GBps {2 * x.numel() / dt / 1e9:.1f}")
        del x, y

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    g = torch.Generator(device="cpu").manual_seed(1)
    for cache in args.caches.split(","):
        for b in [int(v) for v in args.batch.split(",")]:
            ids = torch.randint(3, config.vocab_size, (b, args.prompt_len), generator=g).to(dev)
            mask = torch.ones_like(ids)
            kw = dict(do_sample=False, pad_token_id=0, eos_token_id=None,
                      attention_mask=mask)
            if cache == "static":
                kw["cache_implementation"] = "static"

            def run(n):
                sync()
                t0 = time.perf_counter()
                with torch.inference_mode():
                    out = model.generate(ids, max_new_tokens=n, min_new_tokens=n, **kw)
                sync()
                assert out.shape[1] == args.prompt_len + n, out.shape
                return time.perf_counter() - t0

            run(2)  # warm-up (kernels, the static cache's allocation)
            first = min(run(1) for _ in range(2))
            peak = ""
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            total = run(args.max_tokens)
            if dev.type == "cuda":
                peak = f" peak_MiB={torch.cuda.max_memory_allocated() / 2**20:.0f}"
            decode = (args.max_tokens - 1) * b / max(total - first, 1e-9)
            print(f"peer_generate cache={cache} batch={b} ttft_ms={first * 1e3:.1f} "
                  f"decode_tok_s={decode:.1f}{peak}", flush=True)


if __name__ == "__main__":
    main()
