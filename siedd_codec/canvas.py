"""A moving SIEDD group's canvas. Where a group's frames follow a camera's translation
(motion.integer_shifts), frame k at pixel p shows the group's shared picture at p + shift_k: the
shared encoder and the group's shared layers are evaluated once over a canvas, the frame's
picture grid grown to hold every frame's moved window, and each frame's head reads its window
of it. Training samples canvas pixels and compares each frame where its window covers them;
rendering computes the group's frames over the canvas and cuts each frame's window out (exact
at the source size, where the shifts are whole pixels; bilinear between the canvas pixels
around the moved position at other sizes)."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


class Box(NamedTuple):
    """The canvas, in the output picture's pixels: its first row and column (<= 0) and size."""
    top: int
    left: int
    rows: int
    cols: int


def scaled_shifts(shifts: np.ndarray, width: int, height: int, source_width: int,
                  source_height: int) -> np.ndarray:
    """Shifts in source pixels -> in the pixels of a width x height picture, float64 (K, 2):
    coordinates are corner aligned, so a source pixel is (n - 1) / (n_source - 1) of them."""
    def scale(n: int, source: int) -> float:
        return (n - 1) / (source - 1) if n > 1 and source > 1 else 0.0
    return shifts.astype(np.float64) * np.array([scale(height, source_height),
                                                 scale(width, source_width)])


def box(shifts: np.ndarray, width: int, height: int) -> Box:
    """The smallest canvas holding every frame's window (shifts in this picture's pixels)."""
    top = min(0, math.floor(float(shifts[:, 0].min())))
    left = min(0, math.floor(float(shifts[:, 1].min())))
    bottom = max(0, math.ceil(float(shifts[:, 0].max()))) + height - 1
    right = max(0, math.ceil(float(shifts[:, 1].max()))) + width - 1
    return Box(top, left, bottom - top + 1, right - left + 1)


def training_maps(shifts: np.ndarray, width: int, height: int, canvas: Box
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For whole-pixel shifts (K, 2): the frame row each canvas row is in each frame, (K, rows)
    int64, and the frame column each canvas column is, (K, cols), both clamped to the picture;
    and whether they lie inside it, (K, rows) and (K, cols) bool. A frame covers a canvas pixel
    where both do."""
    rows = np.arange(canvas.rows)[None, :] + canvas.top - shifts[:, 0, None].astype(np.int64)
    cols = np.arange(canvas.cols)[None, :] + canvas.left - shifts[:, 1, None].astype(np.int64)
    return (np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1),
            (rows >= 0) & (rows < height), (cols >= 0) & (cols < width))


def cut_windows(canvas_frames: np.ndarray, shifts: np.ndarray, canvas: Box, width: int,
                height: int) -> np.ndarray:
    """canvas_frames (K, rows, cols, 3) uint8, the group's frames over the canvas; shifts (K, 2)
    in this picture's pixels -> (K, height, width, 3) uint8: frame k's window, moved by its
    shift (a whole-pixel shift is a plain cut; otherwise bilinear, rounded)."""
    out = np.empty((len(shifts), height, width, 3), np.uint8)
    for k, (dy, dx) in enumerate(shifts):
        y, x = dy - canvas.top, dx - canvas.left
        iy, ix = math.floor(y), math.floor(x)
        fy, fx = y - iy, x - ix
        frame = canvas_frames[k]
        if fy == 0 and fx == 0:
            out[k] = frame[iy:iy + height, ix:ix + width]
            continue
        rows = np.minimum(np.arange(iy, iy + height + 1), canvas.rows - 1)
        cols = np.minimum(np.arange(ix, ix + width + 1), canvas.cols - 1)
        window = frame[rows][:, cols].astype(np.float32)
        top = window[:-1, :-1] * (1 - fx) + window[:-1, 1:] * fx
        bottom = window[1:, :-1] * (1 - fx) + window[1:, 1:] * fx
        out[k] = np.rint(top * (1 - fy) + bottom * fy).astype(np.uint8)
    return out
