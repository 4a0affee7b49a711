"""A set of quantised tensors <-> bytes. This is the contract between the model and the
container: `compress` takes each tensor's integer codes and step and returns bytes; `decompress`
takes bytes and the shapes the model description expects and returns float32 arrays
(value = code x step, computed in float32 exactly as training computed it).

Format 2 layout (little-endian), tensors in the order the model description gives, names and
shapes implied by it:
    per tensor:
        f32  step                      > 0 and finite
        coded symbols                  the codes in C order, see entropy.py
Format 1 (`decompress_v1`, reading only) stored names, shapes, bits and one float16 step per
row: see docs/FORMAT.md.
"""
from __future__ import annotations

import numpy as np

from .binio import ByteReader, ByteWriter
from .entropy import (CausalTensor, decode_symbols_v1, encode_symbols, read_symbols,
                      rebuild_causal)
from .errors import SieddFormatError, shown

MAX_TENSORS = 4096
MAX_ELEMENTS = 1 << 28


def dequantize(codes: np.ndarray, step: float) -> np.ndarray:
    return codes.astype(np.float32) * np.float32(step)


def compress(tensors: dict[str, tuple[np.ndarray, float]]) -> bytes:
    """tensors: name -> (integer codes, step), in the model's order."""
    out = ByteWriter()
    for name, (codes, step) in tensors.items():
        step = np.float32(step)
        if not (np.isfinite(step) and step > 0):
            raise ValueError(f"{name}: step {step} is not a positive number")
        out.pack("f", step)
        encode_symbols(np.asarray(codes), out)
    return out.getvalue()


def ordered(codes: dict, shapes: dict) -> dict[str, tuple[np.ndarray, float]]:
    """codes (name -> (codes, step)) in the order of `shapes`, each checked against its shape."""
    out = {}
    for name, shape in shapes.items():
        c, step = codes[name]
        if tuple(np.shape(c)) != tuple(shape):
            raise ValueError(f"{name}: shape {np.shape(c)}, expected {shape}")
        out[name] = (c, step)
    return out


def _check_shape(what: str, name: str, shape) -> int:
    numel = int(np.prod(shape, dtype=np.int64))
    if numel > MAX_ELEMENTS:
        raise SieddFormatError(f"{what}: tensor {name} is too large")
    return numel


def decompress(data: bytes | memoryview, expected: dict[str, tuple[int, ...]], what: str
               ) -> dict[str, np.ndarray]:
    src = ByteReader(data, what)
    read: dict[str, tuple] = {}
    for name, shape in expected.items():
        numel = _check_shape(what, name, shape)
        (step,) = src.unpack("f")
        if not (np.isfinite(step) and step > 0):
            raise SieddFormatError(f"{what}: tensor {name} has a bad step {step}")
        read[name] = (read_symbols(src, numel, tuple(shape)), step)
    src.expect_end()
    # the model-6 tensors rebuilt together: one wavefront loop for all of them
    causal = [name for name, (codes, _) in read.items() if isinstance(codes, CausalTensor)]
    rebuilt = dict(zip(causal, rebuild_causal([read[name][0] for name in causal])))
    return {name: dequantize(rebuilt.get(name, codes).reshape(expected[name]), step)
            for name, (codes, step) in read.items()}


# -- format 1 (reading only) ---------------------------------------------------------------------
def decompress_v1(data: bytes | memoryview, expected: dict[str, tuple[int, ...]], what: str
                  ) -> dict[str, np.ndarray]:
    """Format 1: u32 tensor_count; per tensor: u8 name length, name, u8 ndim, u32 dims, u8 bits,
    f16 steps (one per row: all dims but the last), coded symbols (entropy.decode_symbols_v1).
    value = code x step of its row."""
    src = ByteReader(data, what)
    count = src.u32()
    if count != len(expected):
        raise SieddFormatError(f"{what}: holds {count} tensors, the model needs {len(expected)}")
    result: dict[str, np.ndarray] = {}
    for _ in range(count):
        name = bytes(src.take(src.u8())).decode("ascii", errors="replace")
        ndim = src.u8()
        if not 1 <= ndim <= 4:
            raise SieddFormatError(f"{what}: tensor {shown(name)} has {ndim} dimensions")
        shape = src.unpack(f"{ndim}I")
        if name not in expected or name in result:
            raise SieddFormatError(f"{what}: unexpected tensor {shown(name)}")
        if tuple(shape) != tuple(expected[name]):
            raise SieddFormatError(
                f"{what}: tensor {name} has shape {tuple(shape)}, the model needs {tuple(expected[name])}")
        numel = _check_shape(what, name, shape)
        bits = src.u8()
        if not 2 <= bits <= 16:
            raise SieddFormatError(f"{what}: tensor {name} has {bits} bits")
        cols = shape[-1]
        rows = numel // cols if cols else 0
        steps = src.array("f2", rows)
        if not np.all(np.isfinite(steps)):
            raise SieddFormatError(f"{what}: tensor {name} has non-finite steps")
        codes = decode_symbols_v1(src, numel)
        qmax = 2 ** (bits - 1) - 1
        if codes.size and (codes.min() < -qmax or codes.max() > qmax):
            raise SieddFormatError(f"{what}: tensor {name} has codes outside {bits} bits")
        flat = codes.reshape(rows, cols).astype(np.float32) * steps.astype(np.float32)[:, None]
        result[name] = flat.reshape(shape)
    src.expect_end()
    return {name: result[name] for name in expected}
