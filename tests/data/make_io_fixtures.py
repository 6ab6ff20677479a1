#!/usr/bin/env python3
"""Writes the .npy and GGUF fixtures of tests/test_io_formats.cpp: .npy files
saved by NumPy (every dtype rill reads, big-endian, Fortran order, format
versions 2.0 and 3.0, 0-d and empty, and descrs rill refuses), and io.gguf,
written by the gguf package (pip install gguf numpy): metadata of each kind,
F32/F16/I32/BF16 tensors, Q4_0/Q4_1/Q8_0 tensors, and the float32 values
gguf's own dequantization gives for each quantized tensor ("ref.<name>")."""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
npy = os.path.join(here, "npy")
os.makedirs(npy, exist_ok=True)


def save(name, a, version=None):
    with open(os.path.join(npy, name + ".npy"), "wb") as f:
        np.lib.format.write_array(f, a, version=version, allow_pickle=False)


six = np.arange(6).reshape(2, 3)
save("bool", np.array([True, False, True]))
save("uint8", np.array([0, 7, 255], dtype="u1"))
save("uint32", np.array([1, 4000000000], dtype="<u4"))
save("int32", (six - 3).astype("<i4"))
save("int64", np.array([-(2**40), 5], dtype="<i8"))
save("float16", np.array([1.5, -0.25, 65504], dtype="<f2"))
save("float32", (six / 4).astype("<f4"))
save("float64", np.array([[3.25], [-1e300]], dtype="<f8"))
save("bfloat16_void", np.frombuffer(bytes([0x80, 0x3F, 0x00, 0xC0]), dtype="V2"))  # 1.0, -2.0
save("big_int32", (six - 3).astype(">i4"))
save("big_float64", np.array([1.5, -2.0, 1e-300], dtype=">f8"))
save("fortran", np.asfortranarray((six * 1.5).astype("<f4")))
save("fortran_3d", np.asfortranarray(np.arange(24, dtype="<i8").reshape(2, 3, 4)))
save("scalar", np.array(2.5, dtype="<f8"))
save("empty", np.zeros((0, 3), dtype="<f4"))
save("v2", six.astype("<i4"), version=(2, 0))
save("v3", six.astype("<f4"), version=(3, 0))
save("int8", np.array([1, -1], dtype="i1"))
save("complex64", np.array([1 + 2j], dtype="<c8"))
save("big_complex64", np.array([1 + 2j, -3.5 - 0.25j], dtype=">c8"))
save("complex128", np.array([1 + 2j], dtype="<c16"))
save("uint16", np.array([1, 2], dtype="<u2"))

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as Q  # noqa: E402
from gguf import quants  # noqa: E402

w = gguf.GGUFWriter(os.path.join(here, "io.gguf"), arch="rilltest")
w.add_uint32("test.u32", 7)
w.add_int32("test.i32", -3)
w.add_float32("test.f32", 0.5)
w.add_float64("test.f64", 0.25)
w.add_bool("test.bool", True)
w.add_uint8("test.u8", 200)
w.add_int64("test.i64", -(2**40))
w.add_string("test.string", "héllo")
w.add_array("test.strings", ["a", "bc", ""])
w.add_array("test.ints", [1, -2, 3])
w.add_array("test.floats", [0.5, 1.5])
rng = np.random.default_rng(18)
w.add_tensor("f32", (np.arange(6, dtype=np.float32) - 2.5).reshape(2, 3))
w.add_tensor("f16", np.array([[1.0, -2.0, 0.5, 4.0]], dtype=np.float16))
w.add_tensor("i32", np.array([[1, -2], [3, 4], [5, -6]], dtype=np.int32))
bf = np.array([1.0, -3.5, 0.0078125, 300.0], dtype=np.float32)
w.add_tensor("bf16", quants.quantize(bf, Q.BF16), raw_dtype=Q.BF16)
for name, qt in (("q4_0", Q.Q4_0), ("q4_1", Q.Q4_1), ("q8_0", Q.Q8_0)):
    x = rng.standard_normal((3, 64)).astype(np.float32)
    q = quants.quantize(x, qt)
    w.add_tensor(f"blk.{name}.weight", q, raw_dtype=qt)
    w.add_tensor(f"ref.{name}", quants.dequantize(q, qt).astype(np.float32))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
