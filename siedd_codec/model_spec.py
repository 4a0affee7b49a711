"""The network's description, shared by training, export, container and reader: tensor names,
shapes and which quantiser bits each tensor gets. Pure Python: the decoder imports it too.

    coords (y, x) in [-1, 1]  ->  PE (18)  ->  encoder: 2 x [Linear + sin(30 z)]  -> features (d)
    features -> group decoder: 3 x [Linear(d, d) + sin(30 z)] -> h (shared by the group's frames)
    h -> per-frame head Linear(d, 3) -> z-scored RGB -> * std_f + mean_f -> [0, 1]
"""
from __future__ import annotations

import math

PE_OCTAVES = 4
PE_DIM = 2 + 2 * 2 * PE_OCTAVES          # (y, x) + sin and cos of 4 octaves each = 18
OMEGA = 30.0
ENCODER_LAYERS = 2
DECODER_LAYERS = 3
OPSET = 17
QUANT_FIELDS = ("shared_bits", "head_bits", "encoder_bits", "bias_bits")   # bits per tensor kind
# the tensors a predicted group codes as residuals against the group before it (weights.py)
PREDICTED = tuple(f"dec.{kind}{i}" for i in range(1, DECODER_LAYERS + 1) for kind in "wb")
# the per-frame tensors a group may code as differences from frame to frame (weights.py)
FRAME_DELTAS = ("heads.w", "heads.b")


def pe_frequencies() -> list[float]:
    """Column 2k+j of the projection is pi * 2**k * coord_j (j = 0 for y, 1 for x)."""
    return [math.pi * 2.0 ** k for k in range(PE_OCTAVES)]


def encoder_shapes(hidden: int) -> dict[str, tuple[int, ...]]:
    return {"enc.w1": (hidden, PE_DIM), "enc.b1": (hidden,),
            "enc.w2": (hidden, hidden), "enc.b2": (hidden,)}


def group_shapes(hidden: int, frames: int) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(1, DECODER_LAYERS + 1):
        shapes[f"dec.w{i}"] = (hidden, hidden)
        shapes[f"dec.b{i}"] = (hidden,)
    shapes["heads.w"] = (frames, 3, hidden)
    shapes["heads.b"] = (frames, 3)
    return shapes


def encoder_weight_count(hidden: int) -> int:
    return sum(math.prod(s) for s in encoder_shapes(hidden).values())


def group_weight_count(hidden: int, frames: int) -> int:
    return sum(math.prod(s) for s in group_shapes(hidden, frames).values())


def tensor_bits(name: str, quant: dict) -> int:
    leaf = name.split(".")[-1]
    if leaf.startswith("b"):
        return quant["bias_bits"]
    if name.startswith("enc."):
        return quant["encoder_bits"]
    if name.startswith("heads."):
        return quant["head_bits"]
    return quant["shared_bits"]


def macs_per_pixel(hidden: int) -> dict[str, float]:
    """Multiply-accumulates per output pixel and frame."""
    d = hidden
    encoder = PE_DIM * d + d * d + 2 * 2 * PE_OCTAVES  # + PE projection
    shared = DECODER_LAYERS * d * d
    head = 3 * d
    return {"encoder": float(encoder), "group_shared": float(shared), "head": float(head)}


def coordinate_grid(width: int, height: int, canvas=None):
    """(height*width, 2) float32 (y, x), row-major, corner aligned: index i of n maps to
    -1 + 2 i / (n - 1), so the first pixel is -1 and the last +1 (a single pixel sits at 0).
    Rendering another size is evaluating another grid with the same rule. canvas
    (canvas.Box): the rows top .. top + rows - 1 and columns left .. left + cols - 1 of the
    width x height picture's grid, by the same rule (beyond its edges where they lie outside)."""
    import numpy as np

    def axis(n: int, first: int, count: int):
        if n == 1:
            return np.zeros(count, dtype=np.float32)
        return ((np.arange(count, dtype=np.float64) + first) * (2.0 / (n - 1)) - 1.0
                ).astype(np.float32)

    top, left, rows, cols = canvas if canvas is not None else (0, 0, height, width)
    ys, xs = axis(height, top, rows), axis(width, left, cols)
    grid = np.empty((rows, cols, 2), dtype=np.float32)
    grid[..., 0] = ys[:, None]
    grid[..., 1] = xs[None, :]
    return grid.reshape(-1, 2)
