#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_safetensors into fuzz/corpus: a few tiny
valid safetensors files (every dtype, metadata, empty and scalar tensors, data
misaligned for its dtype) and a few invalid ones (each breaking one rule)."""
import json
import os
import struct

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def file(header, data=b"", length=None, pad=True):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    n = len(h) if length is None else length
    return struct.pack("<Q", n) + h + data


def tensors(specs, metadata=None):
    """specs: (name, dtype, shape, bytes) in data order."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in specs:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    return header, data


seeds = {}
h, d = tensors([("w", "F32", [2, 2], struct.pack("<4f", 1, -2, 3.5, 0))])
seeds["valid_f32"] = file(h, d)
h, d = tensors(
    [
        ("b", "BOOL", [3], bytes([1, 0, 1])),
        ("u8", "U8", [2], bytes([7, 255])),
        ("u32", "U32", [1], struct.pack("<I", 4000000000)),
        ("i32", "I32", [2], struct.pack("<2i", -1, 2)),
        ("i64", "I64", [1], struct.pack("<q", -(2**40))),
        ("f16", "F16", [2], struct.pack("<2e", 1.5, -0.25)),
        ("bf16", "BF16", [1], bytes([0x80, 0x3F])),
        ("f64", "F64", [1, 1], struct.pack("<d", 3.25)),
    ],
    {"format": "pt", "note": "q\"uote"},
)
seeds["valid_dtypes"] = file(h, d)
seeds["valid_nothing"] = file({})
seeds["valid_metadata_only"] = file({"__metadata__": {"k": "v"}})
h, d = tensors([("s", "F64", [], struct.pack("<d", 2.0)), ("e", "F32", [0, 3], b"")])
seeds["valid_scalar_empty"] = file(h, d)
h, d = tensors([("m", "F32", [2], struct.pack("<2f", 1, 2))])
seeds["valid_misaligned"] = file(h, d, pad=False)  # data at an odd offset
h, d = tensors([("x", "I32", [2], struct.pack("<2i", 1, 2))])
seeds["bad_truncated"] = file(h, d)[:-3]
seeds["bad_json"] = file(b'{"a":{"dtype":"F32",')
seeds["bad_header_length"] = file({}, length=1 << 40)
seeds["bad_overlap"] = file(
    {
        "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
        "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]},
    },
    bytes(6),
)
seeds["bad_count"] = file({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8))
seeds["bad_short"] = b"\x02\x00\x00"
# Regressions: inputs that once crashed or were accepted wrongly (tests/test_io.cpp).
seeds["regress_bool_byte"] = file({"b": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}},
                                  bytes([1, 32, 0]))
seeds["regress_empty_large_axes"] = file(
    {"a": {"dtype": "F16", "shape": [8, 21474836, 47, 0, 135136584], "data_offsets": [0, 0]}})
seeds["regress_empty_huge_shape"] = file(
    {"a": {"dtype": "F64", "shape": [0, 2147483647, 2147483647, 2147483647], "data_offsets": [0, 0]}})

os.makedirs(here, exist_ok=True)
for name, blob in seeds.items():
    with open(os.path.join(here, name + ".safetensors"), "wb") as f:
        f.write(blob)
print(f"{len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes, in {here}")
