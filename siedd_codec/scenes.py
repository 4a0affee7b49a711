"""Scene cuts: the frames where a new shot starts, so that no group of frames straddles two
shots. A group's shared planes (and SIEDD's group decoders) model what its frames have in
common; across a cut they have little, and the group pays for two pictures.

A frame is a cut when its mean absolute luma difference to the frame before (on the picture
averaged over 4x4 blocks, 0..255) is at least CUT_DIFF and at least CUT_RATIO times the median
difference around it (motion raises every difference of a stretch, a cut only one)."""
from __future__ import annotations

import numpy as np

BLOCK = 4
CUT_DIFF = 24.0
CUT_RATIO = 2.5
WINDOW = 8           # frames on each side whose differences give the local median


def _small_luma(frame: np.ndarray) -> np.ndarray:
    h, w = (frame.shape[0] // BLOCK) * BLOCK, (frame.shape[1] // BLOCK) * BLOCK
    rgb = frame[:max(h, 1), :max(w, 1)].astype(np.float32)
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    if h and w:
        luma = luma.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).mean(axis=(1, 3))
    return luma


def frame_differences(frames) -> np.ndarray:
    """d[i] = mean |luma(i) - luma(i - 1)| of the 4x4-averaged pictures (d[0] = 0), from one
    pass over `frames` (an iterable of (H, W, 3) uint8, e.g. a video_io.Video)."""
    diffs, previous = [], None
    for frame in frames:
        luma = _small_luma(frame)
        diffs.append(0.0 if previous is None else float(np.abs(luma - previous).mean()))
        previous = luma
    return np.asarray(diffs, dtype=np.float64)


def cuts_from_differences(diffs: np.ndarray) -> list[int]:
    """The frames (>= 1) that start a new shot."""
    cuts = []
    for i in range(1, len(diffs)):
        around = np.concatenate([diffs[max(1, i - WINDOW):i], diffs[i + 1:i + 1 + WINDOW]])
        local = float(np.median(around)) if around.size else 0.0
        if diffs[i] >= CUT_DIFF and diffs[i] >= CUT_RATIO * local:
            cuts.append(i)
    return cuts


def scene_cuts(frames) -> list[int]:
    return cuts_from_differences(frame_differences(frames))
