"""Quality and rate, computed the way every siedd number is reported.

PSNR: on 8-bit RGB frames (what a viewer sees), MSE over all three channels of a frame,
10 log10(255^2 / MSE); a clip's PSNR is the mean of its frames' PSNRs (capped at 100 dB for
identical frames). bpp: the whole file's bytes x 8 / (frames x width x height)."""
from __future__ import annotations

import numpy as np

PSNR_CAP = 100.0


def frame_psnr(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * np.log10(255.0 ** 2 / mse))


def mean_psnr(frames_a, frames_b) -> float:
    values = [frame_psnr(a, b) for a, b in zip(frames_a, frames_b, strict=True)]
    return float(np.mean(values))


def bpp(file_bytes: int, frames: int, width: int, height: int) -> float:
    return file_bytes * 8.0 / (frames * width * height)
