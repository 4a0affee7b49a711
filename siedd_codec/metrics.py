"""Quality and rate, computed the way every siedd number is reported.

PSNR: on 8-bit RGB frames (what a viewer sees), 10 log10(255^2 / MSE) with the MSE over every
pixel and channel of the whole clip, as x265 reports its global PSNR: one perfect (or one black)
frame cannot lift it. The mean of the frames' PSNRs (each capped at 100 dB) is kept beside it,
as `psnr_mean_frames`. SSIM: Wang et al.'s, on each RGB channel of each frame (11x11 Gaussian
window, sigma 1.5, K1 0.01, K2 0.03, over the window positions that fit), averaged over channels
and frames. bpp: the whole file's bytes x 8 / (frames x width x height)."""
from __future__ import annotations

import math

import numpy as np

PSNR_CAP = 100.0
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def psnr_of_mse(mse: float) -> float:
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * math.log10(255.0 ** 2 / mse))


def frame_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr_of_mse(_mse(a, b))


def _gaussian() -> np.ndarray:
    x = np.arange(SSIM_WINDOW) - (SSIM_WINDOW - 1) / 2
    w = np.exp(-x ** 2 / (2 * SSIM_SIGMA ** 2))
    return w / w.sum()


def _blur(x: np.ndarray) -> np.ndarray:
    """Separable Gaussian over axes 0 and 1 of (H, W, C), 'valid' positions only."""
    w = _gaussian()
    n = len(w)
    h = sum(w[k] * x[k:x.shape[0] - n + 1 + k] for k in range(n))
    return sum(w[k] * h[:, k:h.shape[1] - n + 1 + k] for k in range(n))


def frame_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two (H, W, 3) uint8 frames over channels and window positions; frames
    smaller than the window in a dimension use the whole frame as one window."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (SSIM_K1 * 255) ** 2, (SSIM_K2 * 255) ** 2
    if min(x.shape[0], x.shape[1]) < SSIM_WINDOW:
        mx, my = x.mean(axis=(0, 1)), y.mean(axis=(0, 1))
        vx, vy = x.var(axis=(0, 1)), y.var(axis=(0, 1))
        cov = ((x - mx) * (y - my)).mean(axis=(0, 1))
    else:
        mx, my = _blur(x), _blur(y)
        vx = _blur(x * x) - mx * mx
        vy = _blur(y * y) - my * my
        cov = _blur(x * y) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(np.mean(ssim))


class ClipQuality:
    """Frame pairs in, the clip's numbers out, without keeping the frames."""

    def __init__(self, ssim: bool = True):
        self._squared = 0.0
        self._values = 0
        self._psnrs: list[float] = []
        self._ssims: list[float] = []
        self._ssim = ssim

    def add(self, decoded: np.ndarray, source: np.ndarray) -> None:
        mse = _mse(decoded, source)
        self._squared += mse * decoded.size
        self._values += decoded.size
        self._psnrs.append(psnr_of_mse(mse))
        if self._ssim:
            self._ssims.append(frame_ssim(decoded, source))

    def result(self) -> dict:
        if not self._values:
            raise ValueError("no frames measured")
        out = {"psnr": psnr_of_mse(self._squared / self._values),
               "psnr_mean_frames": float(np.mean(self._psnrs)), "frames": len(self._psnrs)}
        if self._ssim:
            out["ssim"] = float(np.mean(self._ssims))
        return out


def clip_quality(frames_a, frames_b, ssim: bool = True) -> dict:
    """{psnr (the clip's MSE), psnr_mean_frames, ssim, frames} of two equally long clips."""
    meter = ClipQuality(ssim)
    for a, b in zip(frames_a, frames_b, strict=True):
        meter.add(a, b)
    return meter.result()


def clip_psnr(frames_a, frames_b) -> float:
    """PSNR of the clip's whole MSE (the reported figure)."""
    return clip_quality(frames_a, frames_b, ssim=False)["psnr"]


def mean_psnr(frames_a, frames_b) -> float:
    """Mean of per-frame PSNRs: how the benchmarks up to siedd 0.2 reported PSNR (their tables
    say so); kept to compare with them."""
    values = [frame_psnr(a, b) for a, b in zip(frames_a, frames_b, strict=True)]
    return float(np.mean(values))


def bpp(file_bytes: int, frames: int, width: int, height: int) -> float:
    return file_bytes * 8.0 / (frames * width * height)
