"""The latent-grid model's description, shared by training, export, the container and the
reader. Pure Python (numpy only): the decoder imports it.

A group of K frames is a set of latent grids plus a small synthesis network:

    level i: scale s_i (a power of two), knots k_i
        grid   (k_i, h_i, w_i) integer codes, h_i = ceil((H - 1) / s_i) + 1 (W alike), over the
               picture corner to corner, so a grid value sits on every s_i-th source pixel
        knots  k_i = 1: one plane shared by every frame of the group;
               k_i = 0: one plane per frame (the group's K);
               else k_i planes spread over the group's frames corner to corner, linear in time
    a pixel at (y, x) of an output picture of H' x W' reads every level bilinearly at
        (y (h_i - 1) / (H' - 1), x (w_i - 1) / (W' - 1))           (0 where H' or W' is 1)
    synthesis: the C level values -> Linear + ReLU -> ... -> Linear(3) -> RGB in [0, 1]
    global motion (model "motion": 1): the group stores each frame's translation (dy, dx) in
        source pixels (tensor "motion", (K, 2)); a shared level is read at frame f where the
        pixel lies moved by (dy_f, dx_f): the grid position gains the offset
        float32(d_f x float32((h_i - 1) / (H - 1))) (per axis, see axis_taps), so the shared
        planes hold the scene a panning camera sees, not a blur of it

The shared levels' values and their share of the first layer are computed once per group and
output size; the per-frame ones per frame.
"""
from __future__ import annotations

import math

import numpy as np

MAX_LEVELS = 32
MAX_KNOTS = 1000
MAX_SCALE = 1 << 12
MAX_WIDTH = 256          # synthesis layer width
MAX_LAYERS = 8
OPSET = 17
MOTION_STEP = 1.0 / 64   # the encoder's step for global motion (source pixels; the file says)


def parse_levels(text: str) -> list[tuple[int, int]]:
    """'1:1,2:0' -> [(1, 1), (2, 0)] (scale:knots)."""
    levels = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        scale, _, knots = item.partition(":")
        try:
            levels.append((int(scale), int(knots or 1)))
        except ValueError:
            raise ValueError(f"bad level {item!r}: expected SCALE:KNOTS, e.g. 4:0") from None
    check_levels(levels)
    return levels


def check_levels(levels) -> None:
    if not 1 <= len(levels) <= MAX_LEVELS:
        raise ValueError(f"1..{MAX_LEVELS} levels needed, got {len(levels)}")
    for scale, knots in levels:
        if not (1 <= scale <= MAX_SCALE and scale & (scale - 1) == 0):
            raise ValueError(f"level scale {scale} is not a power of two in 1..{MAX_SCALE}")
        if not 0 <= knots <= MAX_KNOTS:
            raise ValueError(f"level knots {knots} not in 0..{MAX_KNOTS}")


def check_synthesis(widths) -> None:
    if not (1 <= len(widths) <= MAX_LAYERS - 1
            and all(isinstance(w, int) and 1 <= w <= MAX_WIDTH for w in widths)):
        raise ValueError(f"synthesis widths must be 1..{MAX_LAYERS - 1} integers in 1..{MAX_WIDTH}")


def grid_dims(width: int, height: int, scale: int) -> tuple[int, int]:
    """(h, w) of a level over a width x height picture."""
    return math.ceil((height - 1) / scale) + 1, math.ceil((width - 1) / scale) + 1


def level_knots(knots: int, frames: int) -> int:
    """Planes a level holds in a group of `frames` frames."""
    return frames if knots == 0 else min(knots, frames)


def is_shared(knots: int, frames: int) -> bool:
    return level_knots(knots, frames) == 1


def group_shapes(levels, synthesis, width: int, height: int, frames: int, motion: bool = False
                 ) -> dict[str, tuple[int, ...]]:
    """The tensors a group stores, in the order the file stores them."""
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (scale, knots) in enumerate(levels):
        shapes[f"lat{i}"] = (level_knots(knots, frames), *grid_dims(width, height, scale))
    widths = [len(levels), *synthesis, 3]
    for j in range(len(widths) - 1):
        shapes[f"syn.w{j}"] = (widths[j], widths[j + 1])
        shapes[f"syn.b{j}"] = (widths[j + 1],)
    if motion:
        shapes["motion"] = (frames, 2)
    return shapes


def latent_count(levels, width: int, height: int, frames: int) -> int:
    return sum(math.prod(s) for n, s in group_shapes(levels, [1], width, height, frames).items()
               if n.startswith("lat"))


def macs_per_pixel(levels, synthesis, frames: int) -> dict[str, float]:
    """Multiply-accumulates per output pixel and frame: bilinear reads (3 per level and
    pixel), the synthesis; shared levels' share divided over the group's frames (a group with
    global motion reads them anew for every frame: frames 1)."""
    shared = sum(1 for _, k in levels if is_shared(k, frames))
    per_frame = len(levels) - shared
    widths = [len(levels), *synthesis, 3]
    first = widths[1]
    rest = sum(widths[j] * widths[j + 1] for j in range(1, len(widths) - 1))
    return {"interpolation": 3.0 * per_frame + 3.0 * shared / frames,
            "synthesis": float(per_frame * first + shared * first / frames + rest)}


def time_weights(knots: int, frames: int) -> list[tuple[int, int, float]]:
    """For each frame f of the group: (knot a, knot b, weight of b), linear in time."""
    k = level_knots(knots, frames)
    if k == frames:
        return [(f, f, 0.0) for f in range(frames)]
    out = []
    for f in range(frames):
        pos = f * (k - 1) / (frames - 1) if frames > 1 else 0.0
        a = min(int(math.floor(pos)), k - 1)
        b = min(a + 1, k - 1)
        out.append((a, b, float(pos - a)))
    return out


def axis_ratio(n_out: int, n_grid: int) -> np.float32:
    """Grid units per output pixel along an axis (0 where either has one sample)."""
    return np.float32(0.0 if n_out == 1 or n_grid == 1 else (n_grid - 1) / (n_out - 1))


def motion_offset(shift: float, n_source: int, n_grid: int) -> np.float32:
    """A frame's translation along an axis (source pixels, float32) in grid units."""
    return np.float32(np.float32(shift) * axis_ratio(n_source, n_grid))


def axis_taps(n_out: int, n_grid: int, offset: np.float32 = np.float32(0.0)
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps of an output axis of n_out pixels over a grid axis of n_grid values:
    (first index, second index, weight of the second), corner aligned. float32 weights computed
    exactly as training computes them: position = i x ((n_grid - 1) / (n_out - 1)) + offset
    in float32 (offset: motion_offset, for a shared level under global motion), clamped to
    [0, n_grid - 1]."""
    pos = np.arange(n_out, dtype=np.float32) * axis_ratio(n_out, n_grid) + np.float32(offset)
    pos = np.minimum(np.maximum(pos, np.float32(0.0)), np.float32(n_grid - 1))
    lo = np.floor(pos)
    i0 = lo.astype(np.int64)
    i1 = np.minimum(i0 + 1, n_grid - 1)
    return i0, i1, (pos - lo).astype(np.float32)


def shared_levels(levels) -> list[int]:
    """Levels whose one plane serves every frame (knots 1)."""
    return [i for i, (_, k) in enumerate(levels) if k == 1]


def frame_levels(levels) -> list[int]:
    return [i for i, (_, k) in enumerate(levels) if k != 1]
