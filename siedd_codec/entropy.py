"""Entropy coding of integer symbols: an adaptive-free ANS coder (constriction) driven by the
tensor's own histogram, which travels with the data.

Bitstream of one coded array (little-endian):
    i32  sym_min            smallest symbol value
    u32  alphabet           number of symbol values from sym_min (1..65536)
    u32  counts[alphabet]   histogram; must sum to the array's element count
    u32  n_words            length of the ANS stream
    u32  words[n_words]     constriction AnsCoder.get_compressed()
The probabilities are counts / sum(counts) in float64, so encoder and decoder build the same
model bit for bit. constriction gives every symbol in range a non-zero probability."""
from __future__ import annotations

import numpy as np
import constriction

from .binio import ByteReader, ByteWriter
from .errors import SieddFormatError

MAX_ALPHABET = 1 << 16


def _model(counts: np.ndarray):
    probabilities = counts.astype(np.float64) / float(counts.sum())
    return constriction.stream.model.Categorical(probabilities, perfect=False)


def encode_symbols(values: np.ndarray, out: ByteWriter) -> None:
    flat = np.asarray(values, dtype=np.int64).ravel()
    if flat.size == 0:
        raise ValueError("nothing to encode")
    lo, hi = int(flat.min()), int(flat.max())
    alphabet = hi - lo + 1
    if alphabet > MAX_ALPHABET:
        raise ValueError(f"alphabet of {alphabet} symbols is too large")
    symbols = (flat - lo).astype(np.int32)
    counts = np.bincount(symbols, minlength=alphabet).astype(np.uint32)
    out.pack("iI", lo, alphabet)
    out.array(counts, "u4")
    if alphabet == 1:
        words = np.zeros(0, dtype=np.uint32)        # a constant array needs no stream
    else:
        coder = constriction.stream.stack.AnsCoder()
        coder.encode_reverse(symbols, _model(counts))
        words = coder.get_compressed()
    out.pack("I", len(words))
    out.array(words, "u4")


def decode_symbols(src: ByteReader, count: int) -> np.ndarray:
    lo, alphabet = src.unpack("iI")
    if not 1 <= alphabet <= MAX_ALPHABET:
        raise SieddFormatError(f"{src.what}: alphabet size {alphabet} out of range")
    counts = src.array("u4", alphabet)
    if int(counts.sum(dtype=np.uint64)) != count:
        raise SieddFormatError(f"{src.what}: histogram sums to {int(counts.sum())}, expected {count}")
    n_words = src.u32()
    if n_words * 4 > src.remaining:
        raise SieddFormatError(f"{src.what}: ANS stream of {n_words} words runs past the data")
    words = src.array("u4", n_words)
    if alphabet == 1:
        return np.full(count, lo, dtype=np.int32)
    if n_words == 0:
        raise SieddFormatError(f"{src.what}: empty ANS stream")
    coder = constriction.stream.stack.AnsCoder(words)
    symbols = coder.decode(_model(counts), count)
    return symbols.astype(np.int32) + np.int32(lo)
