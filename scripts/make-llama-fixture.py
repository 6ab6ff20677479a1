#!/usr/bin/env python3
"""Writes tiny random decoders made by Hugging Face `transformers` into
tests/data/<name>/, for tests/test_llm.cpp:

  config.json, model.safetensors   as save_pretrained writes them (float32)
  prompt_ids.npy                   int32 [P], the prompt
  logits.npy                       float32 [P, V], the model's logits of the prompt
  greedy_ids.npy                   int32 [N], N greedy tokens after the prompt
                                   (argmax of each step's logits, no end token)

tiny-llama also gets a SentencePiece tokenizer.model of its vocabulary size
(256 pieces, trained on CORPUS below) and text_ids.npy, the ids of
TOKENIZER_TEXT as sentencepiece encodes it, after the BOS id.

Fixtures:
  tiny-llama          Llama, untied embeddings, rope_theta 10000
  tiny-llama3-tied    Llama, tied embeddings, "llama3" rope scaling, biases in
                      attention and MLP
  tiny-llama-linear   Llama, "linear" rope scaling, rope_theta 500000, one KV head
  tiny-qwen2          Qwen2 (q/k/v biases), tied embeddings

Weights are drawn with a wider spread than transformers' default so that the
logits are of order one and the greedy steps are far from ties; a seed whose
prompt or steps come within 1e-3 of a tie is skipped.

Usage: python3 scripts/make-llama-fixture.py [OUT_DIR]   (default tests/data)
(needs torch, transformers and sentencepiece; on Debian: apt-get install
python3-torch, then pip install --break-system-packages transformers
sentencepiece for /usr/bin/python3)
"""
import json
import os
import sys

import io

import numpy as np
import sentencepiece as spm
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

PROMPT_LEN = 12
NEW_TOKENS = 10

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             intermediate_size=64, vocab_size=128, max_position_embeddings=256,
             rms_norm_eps=1e-6)

FIXTURES = {
    "tiny-llama": (LlamaConfig, LlamaForCausalLM, dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=128, vocab_size=256, max_position_embeddings=256, rope_theta=10000.0,
        rms_norm_eps=1e-5, tie_word_embeddings=False)),
    "tiny-llama3-tied": (LlamaConfig, LlamaForCausalLM, dict(
        SMALL, tie_word_embeddings=True, attention_bias=True, mlp_bias=True,
        rope_theta=10000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 64})),
    "tiny-llama-linear": (LlamaConfig, LlamaForCausalLM, dict(
        SMALL, num_key_value_heads=1, tie_word_embeddings=False, rope_theta=500000.0,
        rope_scaling={"type": "linear", "factor": 4.0})),
    "tiny-qwen2": (Qwen2Config, Qwen2ForCausalLM, dict(SMALL, tie_word_embeddings=True)),
}


def top_gap(row):
    top = torch.topk(row, 2).values
    return float(top[0] - top[1])


def make(name, config_cls, model_cls, kwargs, out_root):
    for seed in range(100):
        torch.manual_seed(seed)
        config = config_cls(initializer_range=0.15, torch_dtype="float32", **kwargs)
        model = model_cls(config).eval()
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "norm" in n:
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                elif n.endswith("bias"):
                    p.copy_(0.1 * torch.randn_like(p))
            g = torch.Generator().manual_seed(1000 + seed)
            prompt = torch.randint(0, config.vocab_size, (1, PROMPT_LEN), generator=g)
            out = model(prompt, use_cache=True)
            logits = out.logits[0]
            gaps = [top_gap(r) for r in logits]
            past, ids = out.past_key_values, []
            nxt = int(torch.argmax(logits[-1]))
            for _ in range(NEW_TOKENS):
                ids.append(nxt)
                step = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past = step.past_key_values
                gaps.append(top_gap(step.logits[0, -1]))
                nxt = int(torch.argmax(step.logits[0, -1]))
        if min(gaps) > 1e-3:
            break
    else:
        raise SystemExit("%s: no seed without near-ties" % name)
    out_dir = os.path.join(out_root, name)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    gen = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    np.save(os.path.join(out_dir, "prompt_ids.npy"), prompt[0].numpy().astype(np.int32))
    np.save(os.path.join(out_dir, "logits.npy"), logits.numpy().astype(np.float32))
    np.save(os.path.join(out_dir, "greedy_ids.npy"), np.array(ids, dtype=np.int32))
    print("wrote %s (seed %d, smallest top-2 gap %.4f, max |logit| %.3f)" %
          (out_dir, seed, min(gaps), float(logits.abs().max())))


CORPUS = """\
The quick brown fox jumps over the lazy dog. A stream is an ordered queue of work on a device.
Threads submit work to their own streams, and the runtime runs them side by side.
Once upon a time there was a little model that predicted the next token of a story.
It read the prompt, kept the keys and values of every layer, and wrote one token at a time.
Hello world! Numbers like 1, 2, 3 and 42 appear in text too; so do questions?
"""
TOKENIZER_TEXT = "Once upon a time, the quick brown fox wrote one token at a time."


def make_tokenizer(out_dir, vocab_size):
    model = io.BytesIO()
    lines = CORPUS.splitlines() * 20
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size,
        model_type="bpe", character_coverage=1.0, num_threads=1,
        normalization_rule_name="identity",
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    with open(os.path.join(out_dir, "tokenizer.model"), "wb") as f:
        f.write(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    ids = [sp.bos_id()] + sp.encode(TOKENIZER_TEXT)
    assert sp.decode(ids[1:]) == TOKENIZER_TEXT
    np.save(os.path.join(out_dir, "text_ids.npy"), np.array(ids, dtype=np.int32))
    print("wrote %s/tokenizer.model (%d pieces; the text is %d ids)" %
          (out_dir, sp.get_piece_size(), len(ids)))


def main():
    out_root = sys.argv[1] if len(sys.argv) > 1 else "tests/data"
    for name, (config_cls, model_cls, kwargs) in FIXTURES.items():
        make(name, config_cls, model_cls, kwargs, out_root)
    make_tokenizer(os.path.join(out_root, "tiny-llama"), FIXTURES["tiny-llama"][2]["vocab_size"])


if __name__ == "__main__":
    main()
