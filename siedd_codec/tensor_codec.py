"""A named set of float tensors <-> bytes: quantisation (quantize.py) then entropy coding
(entropy.py). This is the contract between the model and the container: `compress` takes
arrays and returns bytes, `decompress` takes bytes and the shapes the model description
expects and returns float32 arrays.

Layout (little-endian):
    u32 tensor_count
    per tensor, in the order given:
        u8  name_len, name (ASCII)
        u8  ndim (1..4), u32 dims[ndim]
        u8  bits (2..16)
        f16 steps[rows]               rows = product of all dims but the last
        coded symbols                 see entropy.py
"""
from __future__ import annotations

import numpy as np

from .binio import ByteReader, ByteWriter
from .entropy import decode_symbols, encode_symbols
from .errors import SieddFormatError
from .quantize import as_rows, dequantize_rows, quantize_rows

MAX_TENSORS = 4096
MAX_ELEMENTS = 1 << 28


def compress(tensors: dict[str, tuple[np.ndarray, int]]) -> bytes:
    """tensors: name -> (float array, bits)."""
    out = ByteWriter()
    out.pack("I", len(tensors))
    for name, (array, bits) in tensors.items():
        raw_name = name.encode("ascii")
        array = np.asarray(array, dtype=np.float32)
        if not 1 <= array.ndim <= 4 or len(raw_name) > 255:
            raise ValueError(f"cannot code tensor {name} of shape {array.shape}")
        codes, steps = quantize_rows(array, bits)
        out.pack("B", len(raw_name))
        out.raw(raw_name)
        out.pack("B", array.ndim)
        out.pack(f"{array.ndim}I", *array.shape)
        out.pack("B", bits)
        out.array(steps, "f2")
        encode_symbols(codes, out)
    return out.getvalue()


def decompress(data: bytes | memoryview, expected: dict[str, tuple[int, ...]], what: str
               ) -> dict[str, np.ndarray]:
    """Decode and check names and shapes against `expected` (name -> shape)."""
    src = ByteReader(data, what)
    count = src.u32()
    if count != len(expected):
        raise SieddFormatError(f"{what}: holds {count} tensors, the model needs {len(expected)}")
    result: dict[str, np.ndarray] = {}
    for _ in range(count):
        name = bytes(src.take(src.u8())).decode("ascii", errors="replace")
        ndim = src.u8()
        if not 1 <= ndim <= 4:
            raise SieddFormatError(f"{what}: tensor {name!r} has {ndim} dimensions")
        shape = src.unpack(f"{ndim}I")
        if name not in expected or name in result:
            raise SieddFormatError(f"{what}: unexpected tensor {name!r}")
        if tuple(shape) != tuple(expected[name]):
            raise SieddFormatError(
                f"{what}: tensor {name} has shape {tuple(shape)}, the model needs {tuple(expected[name])}")
        numel = int(np.prod(shape, dtype=np.int64))
        if numel > MAX_ELEMENTS:
            raise SieddFormatError(f"{what}: tensor {name} is too large")
        bits = src.u8()
        if not 2 <= bits <= 16:
            raise SieddFormatError(f"{what}: tensor {name} has {bits} bits")
        rows, _ = as_rows(shape)
        steps = src.array("f2", rows)
        if not np.all(np.isfinite(steps)):
            raise SieddFormatError(f"{what}: tensor {name} has non-finite steps")
        codes = decode_symbols(src, numel).reshape(shape)
        qmax = 2 ** (bits - 1) - 1
        if codes.size and (codes.min() < -qmax or codes.max() > qmax):
            raise SieddFormatError(f"{what}: tensor {name} has codes outside {bits} bits")
        result[name] = dequantize_rows(codes, steps)
    src.expect_end()
    return result
