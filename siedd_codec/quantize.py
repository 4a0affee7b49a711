"""Scalar quantisation of weight tensors: one uniform step per output row, rounding to nearest.

A tensor of shape (..., cols) is seen as rows x cols. Each row r gets the step
    step_r = max|w_r| / (2**(bits-1) - 1)
stored as float16; codes are round(w / step_r) in [-(2**(bits-1)-1), 2**(bits-1)-1]. The step is
rounded to float16 *before* the codes are computed, so the decoder's step is the encoder's step.
No zero point: trained SIREN weights are centred on zero. Symbols are entropy-coded afterwards
(entropy.py), so fine steps cost bits only where values really spread."""
from __future__ import annotations

import numpy as np


def as_rows(shape: tuple[int, ...]) -> tuple[int, int]:
    cols = shape[-1] if shape else 1
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return rows, cols


def quantize_rows(weights: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """-> (codes int32 with the tensor's shape, steps float16 of shape (rows,))."""
    w = np.asarray(weights, dtype=np.float32)
    rows, cols = as_rows(w.shape)
    flat = w.reshape(rows, cols)
    qmax = 2 ** (bits - 1) - 1
    peak = np.abs(flat).max(axis=1)
    steps = (peak / qmax).astype(np.float16)
    # A zero row, or one whose step underflows float16, gets step 1 and all-zero codes... unless
    # its values are not tiny: then use the smallest normal float16 step.
    tiny = np.float16(np.finfo(np.float16).tiny)
    steps = np.where(peak == 0, np.float16(1), np.maximum(steps, tiny)).astype(np.float16)
    # Rounding up to float16 can shrink the step below peak/qmax: clip keeps codes in range.
    codes = np.clip(np.rint(flat / steps.astype(np.float32)[:, None]), -qmax, qmax).astype(np.int32)
    return codes.reshape(w.shape), steps


def dequantize_rows(codes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    rows, cols = as_rows(codes.shape)
    flat = codes.reshape(rows, cols).astype(np.float32) * steps.astype(np.float32)[:, None]
    return flat.reshape(codes.shape)


def fake_quantize(weights: np.ndarray, bits: int) -> np.ndarray:
    """The float32 values the decoder will see."""
    return dequantize_rows(*quantize_rows(weights, bits))
