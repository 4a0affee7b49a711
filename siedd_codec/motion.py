"""Global motion of a group of frames, for the encoders of both families: each frame's
translation against the group's middle frame, so that what a group shares across its frames
(the grid family's shared levels, a SIEDD group's shared layers), read at the pixel moved by the
frame's translation, holds the scene where a camera pans instead of a blur of it.

Estimated by Lucas-Kanade for one translation per frame, coarse to fine over a pyramid of
halvings: frame f at pixel p looks like the middle frame at p + d_f."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

ITERATIONS = 8
MIN_SIDE = 24          # the pyramid's coarsest level keeps at least this many pixels a side
MARGIN = 16            # pixels left out at the edges when errors are compared
# A group moves only if at least MOVED_OVER times as many pixels come closer to the middle frame
# by more than TOLERANCE as go further from it, and at least MIN_CLOSER of them: one object
# crossing a still background (bikes' bus) comes closer too, but the background then moves
# away. The share of the squared error left told the two apart worse (measured, both kinds of
# group trained with and without: bench/results/grid_dev_round6.json).
MOVED_OVER = 2.0
MIN_CLOSER = 0.05
TOLERANCE = 4 / 255


def _gray(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).float().mean(-1) / 255.0          # (K, H, W)


def _warp(img: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """img (H, W) read at p + d (bilinear, border values beyond the edges)."""
    h, w = img.shape
    ys = torch.arange(h, dtype=torch.float32) + d[0]
    xs = torch.arange(w, dtype=torch.float32) + d[1]
    gy, gx = torch.meshgrid(2 * ys / max(h - 1, 1) - 1, 2 * xs / max(w - 1, 1) - 1,
                            indexing="ij")
    grid = torch.stack((gx, gy), -1)[None]
    return F.grid_sample(img[None, None], grid, mode="bilinear", padding_mode="border",
                         align_corners=True)[0, 0]


def _refine(ref: torch.Tensor, img: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    h, w = img.shape
    for _ in range(ITERATIONS):
        warped = _warp(ref, d)
        gy = torch.zeros_like(warped)
        gx = torch.zeros_like(warped)
        gy[1:-1] = 0.5 * (warped[2:] - warped[:-2])
        gx[:, 1:-1] = 0.5 * (warped[:, 2:] - warped[:, :-2])
        # only pixels whose moved position lies inside the picture (no border smear)
        ys = torch.arange(h, dtype=torch.float32)[:, None] + d[0]
        xs = torch.arange(w, dtype=torch.float32)[None, :] + d[1]
        valid = ((ys >= 1) & (ys <= h - 2) & (xs >= 1) & (xs <= w - 2)).float()
        e = (warped - img) * valid
        gy, gx = gy * valid, gx * valid
        a = torch.tensor([[float((gy * gy).sum()), float((gy * gx).sum())],
                          [float((gy * gx).sum()), float((gx * gx).sum())]], dtype=torch.float64)
        b = -torch.tensor([float((gy * e).sum()), float((gx * e).sum())], dtype=torch.float64)
        if torch.linalg.det(a).abs() < 1e-9:
            break
        step = torch.linalg.solve(a, b).float()
        d = d + step
        if float(step.abs().max()) < 1e-3:
            break
    return d


def _difference(ref: torch.Tensor, img: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    m = MARGIN if min(img.shape) > 4 * MARGIN else 0
    diff = (_warp(ref, d) - img).abs()
    return diff[m:diff.shape[0] - m, m:diff.shape[1] - m]


@dataclass
class MotionEstimate:
    shifts: np.ndarray     # (K, 2) float32: (dy, dx) of each frame against the middle frame
    closer: float          # share of pixels the moves bring closer to it (by > TOLERANCE)
    further: float         # share they take further from it

    def pays(self) -> bool:
        return self.closer >= max(MIN_CLOSER, MOVED_OVER * self.further)


def global_shifts(frames: np.ndarray) -> MotionEstimate:
    """frames (K, H, W, 3) uint8 -> each frame's translation in source pixels against the
    middle frame (0 for it, and for a frame the estimate does not bring closer to it), and how
    much closer the moves bring the frames to it."""
    gray = _gray(frames)
    k = gray.shape[0]
    pyramid = [gray]
    while min(pyramid[-1].shape[1:]) >= 2 * MIN_SIDE:
        pyramid.append(F.avg_pool2d(pyramid[-1][:, None], 2)[:, 0])
    mid = k // 2
    out = torch.zeros(k, 2)
    closer = further = pixels = 0
    # outwards from the middle frame, each frame starting from its neighbour's estimate
    order = [(f, f - 1) for f in range(mid + 1, k)] + [(f, f + 1) for f in range(mid - 1, -1, -1)]
    with torch.no_grad():
        for f, start in order:
            d = out[start].clone() / 2 ** (len(pyramid) - 1)
            for level in range(len(pyramid) - 1, -1, -1):
                d = _refine(pyramid[level][mid], pyramid[level][f], d)
                if level:
                    d = d * 2
            still, moved = (_difference(gray[mid], gray[f], v) for v in (torch.zeros(2), d))
            pixels += still.numel()
            if float((moved ** 2).mean()) < float((still ** 2).mean()):
                out[f] = d           # else a diverged estimate (no single move fits): stay put
                closer += int((moved + TOLERANCE < still).sum())
                further += int((still + TOLERANCE < moved).sum())
    return MotionEstimate(out.numpy().astype(np.float32), closer / max(pixels, 1),
                          further / max(pixels, 1))


def integer_shifts(frames: np.ndarray) -> np.ndarray | None:
    """A SIEDD group's motion: global_shifts rounded to whole source pixels, (K, 2) int16, or
    None where the moves do not pay (MotionEstimate.pays) or round to nothing."""
    estimate = global_shifts(frames)
    if not estimate.pays():
        return None
    shifts = np.round(estimate.shifts).astype(np.int16)
    return shifts if shifts.any() else None
