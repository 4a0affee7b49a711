"""Entropy coding of integer symbols with an ANS coder (constriction, Rust core).

Two models, the encoder keeps whichever gives fewer bytes:
  0  histogram: the array's own symbol counts travel with it (LEB128 varints), and the ANS
     coder uses counts / sum(counts). Best for large tensors (weights).
  1  uniform over [sym_min, sym_max]: no side information. Best for small tensors with wide
     alphabets (biases at 10 bits), where a histogram would cost more than it saves.
Both are exact integer models, so encoder and decoder agree bit for bit on any machine.

Bitstream of one coded array (little-endian):
    u8   model              0 or 1
    i32  sym_min, i32 sym_max   (inclusive; sym_max - sym_min < 65536)
    model 0: varint counts[sym_max - sym_min + 1], summing to the array's element count
    u32  n_words            ANS stream length in 32-bit words (0 when sym_min == sym_max)
    u32  words[n_words]
"""
from __future__ import annotations

import numpy as np
import constriction

from .binio import ByteReader, ByteWriter
from .errors import SieddFormatError

MAX_ALPHABET = 1 << 16
HISTOGRAM, UNIFORM = 0, 1


def _varints(values: np.ndarray) -> bytes:
    out = bytearray()
    for v in values.tolist():
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out)


def _read_varints(src: ByteReader, count: int) -> np.ndarray:
    values = np.zeros(count, dtype=np.int64)
    for i in range(count):
        value = shift = 0
        while True:
            byte = src.u8()
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift > 35:
                raise SieddFormatError(f"{src.what}: malformed histogram")
        values[i] = value
    return values


def _model(kind: int, alphabet: int, counts: np.ndarray | None):
    if kind == HISTOGRAM:
        probabilities = counts.astype(np.float64) / float(counts.sum())
        return constriction.stream.model.Categorical(probabilities, perfect=False)
    return constriction.stream.model.Uniform(alphabet)


def _stream(symbols: np.ndarray, model) -> np.ndarray:
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(symbols, model)
    return coder.get_compressed()


def encode_symbols(values: np.ndarray, out: ByteWriter) -> None:
    flat = np.asarray(values, dtype=np.int64).ravel()
    if flat.size == 0:
        raise ValueError("nothing to encode")
    lo, hi = int(flat.min()), int(flat.max())
    alphabet = hi - lo + 1
    if alphabet > MAX_ALPHABET:
        raise ValueError(f"alphabet of {alphabet} symbols is too large")
    symbols = (flat - lo).astype(np.int32)
    if alphabet == 1:                      # a constant array needs no stream
        out.pack("Bii", UNIFORM, lo, hi)
        out.pack("I", 0)
        return
    counts = np.bincount(symbols, minlength=alphabet)
    side = _varints(counts)
    hist_words = _stream(symbols, _model(HISTOGRAM, alphabet, counts))
    uni_words = _stream(symbols, _model(UNIFORM, alphabet, None))
    if len(side) + 4 * len(hist_words) < 4 * len(uni_words):
        out.pack("Bii", HISTOGRAM, lo, hi)
        out.raw(side)
        words = hist_words
    else:
        out.pack("Bii", UNIFORM, lo, hi)
        words = uni_words
    out.pack("I", len(words))
    out.array(words, "u4")


def decode_symbols(src: ByteReader, count: int) -> np.ndarray:
    kind, lo, hi = src.unpack("Bii")
    alphabet = hi - lo + 1
    if kind not in (HISTOGRAM, UNIFORM) or not 1 <= alphabet <= MAX_ALPHABET:
        raise SieddFormatError(f"{src.what}: bad entropy model ({kind}, {alphabet} symbols)")
    counts = None
    if kind == HISTOGRAM:
        counts = _read_varints(src, alphabet)
        if int(counts.sum()) != count:
            raise SieddFormatError(
                f"{src.what}: histogram sums to {int(counts.sum())}, expected {count}")
    n_words = src.u32()
    if n_words * 4 > src.remaining:
        raise SieddFormatError(f"{src.what}: ANS stream of {n_words} words runs past the data")
    words = src.array("u4", n_words)
    if alphabet == 1:
        return np.full(count, lo, dtype=np.int32)
    if n_words == 0:
        raise SieddFormatError(f"{src.what}: empty ANS stream")
    try:
        coder = constriction.stream.stack.AnsCoder(words)
        symbols = coder.decode(_model(kind, alphabet, counts), count)
    except (ValueError, RuntimeError) as exc:
        raise SieddFormatError(f"{src.what}: corrupt ANS stream ({exc})") from None
    return symbols.astype(np.int32) + np.int32(lo)
