#!/usr/bin/env python3
"""Writes the seed corpora of the fuzzers into fuzz/corpus/<format>/: a few
tiny valid files of each format (every dtype, metadata, empty and scalar
arrays, and per format: safetensors data misaligned for its dtype; .npy
big-endian, Fortran-order and version 2.0/3.0 files; GGUF quantized tensors
and every kind of metadata) and a few invalid ones (each breaking one rule).
Standard library only, so that the bytes are exactly these."""
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



def npy(descr, shape, data=b"", fortran=False, version=1, header=None):
    shape_text = "(" + "".join(f"{d}, " for d in shape).rstrip(" ") + ")" if len(shape) != 1 else f"({shape[0]},)"
    h = header or f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_text}, }}"
    h = h.encode()
    prefix = 10 if version == 1 else 12
    h += b" " * (-(prefix + len(h) + 1) % 64) + b"\n"
    size = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + size + h + data


npy_seeds = {
    "valid_f32": npy("<f4", (2, 2), struct.pack("<4f", 1, -2, 3.5, 0)),
    "valid_bool": npy("|b1", (3,), bytes([1, 0, 1])),
    "valid_u8": npy("|u1", (2,), bytes([7, 255])),
    "valid_u32": npy("<u4", (1,), struct.pack("<I", 4000000000)),
    "valid_i64_big": npy(">i8", (2,), struct.pack(">2q", -(2**40), 3)),
    "valid_f16": npy("<f2", (2,), struct.pack("<2e", 1.5, -0.25)),
    "valid_bf16": npy("<V2", (1,), bytes([0x80, 0x3F])),
    "valid_f64_scalar": npy("<f8", (), struct.pack("<d", 3.25)),
    "valid_fortran": npy("<i4", (2, 3), struct.pack("<6i", 0, 3, 1, 4, 2, 5), fortran=True),
    "valid_empty": npy("<f4", (0, 3)),
    "valid_v2": npy("<f4", (1,), struct.pack("<f", 2), version=2),
    "valid_v3": npy("<f8", (1,), struct.pack("<d", 2), version=3),
    "bad_descr": npy("<i1", (1,), b"\x01"),
    "bad_truncated": npy("<f8", (4,), bytes(12)),
    "bad_bool": npy("|b1", (2,), bytes([1, 7])),
    "bad_header": npy("", (), header="{'descr': '<f4', 'shape': (1,)}", data=bytes(4)),
}


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(kvs, tensors, alignment=32):
    """kvs: (key, type, value bytes); tensors: (name, dims innermost first, type, data)."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, vtype, value in kvs:
        out += gguf_str(key) + struct.pack("<I", vtype) + value
    offset, data = 0, b""
    for name, dims, ttype, raw in tensors:
        out += gguf_str(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        out += struct.pack("<IQ", ttype, offset)
        raw += bytes(-len(raw) % alignment)
        data += raw
        offset += len(raw)
    out += bytes(-len(out) % alignment)
    return out + data


q4_0_block = struct.pack("<e", 0.5) + bytes(range(16))
q4_1_block = struct.pack("<ee", 0.25, -1.0) + bytes(range(16, 32))
q8_0_block = struct.pack("<e", 0.125) + bytes(range(0, 256, 8))
kvs = [
    ("general.architecture", 8, gguf_str("llama")),
    ("u32", 4, struct.pack("<I", 7)),
    ("i32", 5, struct.pack("<i", -7)),
    ("f32", 6, struct.pack("<f", 0.5)),
    ("f64", 12, struct.pack("<d", 0.25)),
    ("b", 7, b"\x01"),
    ("u8", 0, b"\x09"),
    ("i64", 11, struct.pack("<q", -5)),
    ("ints", 9, struct.pack("<IQ", 5, 2) + struct.pack("<2i", 1, 2)),
    ("strings", 9, struct.pack("<IQ", 8, 2) + gguf_str("a") + gguf_str("bc")),
]
gguf_seeds = {
    "valid_plain": gguf(kvs, [
        ("f32", [3, 2], 0, struct.pack("<6f", *range(6))),
        ("f16", [2], 1, struct.pack("<2e", 1.5, -2)),
        ("i32", [2], 26, struct.pack("<2i", 3, -4)),
        ("bf16", [1], 30, bytes([0x80, 0x3F])),
        ("scalar", [], 0, struct.pack("<f", 9)),
        ("empty", [0, 3], 0, b""),
    ]),
    "valid_quantized": gguf([], [
        ("a.weight", [32, 2], 2, q4_0_block * 2),
        ("b.weight", [32], 3, q4_1_block),
        ("c.weight", [64], 8, q8_0_block * 2),
    ]),
    "valid_alignment": gguf([("general.alignment", 4, struct.pack("<I", 8))],
                            [("x", [2], 0, struct.pack("<2f", 1, 2))], alignment=8),
    "valid_nothing": gguf([], []),
    "bad_type": gguf([], [("t", [4], 24, bytes(4))]),
    "bad_kquant": gguf([], [("t", [256], 12, bytes(144))]),
    "bad_truncated": gguf(kvs, [("f32", [4], 0, bytes(16))])[:-8],
    "bad_nested": gguf([("n", 9, struct.pack("<IQ", 9, 1))], []),
    "bad_count": b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 0),
}

for folder, seeds_of, ext in (("safetensors", seeds, ".safetensors"), ("npy", npy_seeds, ".npy"),
                              ("gguf", gguf_seeds, ".gguf")):
    path = os.path.join(here, folder)
    os.makedirs(path, exist_ok=True)
    for name, blob in seeds_of.items():
        with open(os.path.join(path, name + ext), "wb") as f:
            f.write(blob)
    print(f"{folder}: {len(seeds_of)} seeds, {sum(map(len, seeds_of.values()))} bytes, in {path}")
