"""The SIEDD model's weights in a .siedd file: which tensors each section holds, in which order,
and how a predicted group builds on the group before it. Sits between the model description
(model_spec) and the tensor codec; the reader, export and the tests decode weights through here.

WENC (format 2): the encoder's tensor set (tensor_codec), `encoder_shapes` order.
WGRP (format 2):
    u8   flags         bit 0 (PREDICTED_GROUP): the tensors named in model_spec.PREDICTED hold
                           the residual against the previous group's decoded values (value =
                           previous + code x step); clear: a key group, they hold their values
                       bit 1 (HEAD_DELTAS): the tensors named in model_spec.FRAME_DELTAS hold
                           each frame's difference from the frame before, as decoded (value_k =
                           value_(k-1) + code_k x step, value_0 = code_0 x step)
                       bit 2 (MOTION, format 10): the group follows a camera's translation
                           (canvas.py); the frames' shifts follow the flags byte
                       other bits: 0
    i16  shifts[K][2]  (MOTION only) each frame's (dy, dx) in whole source pixels, little
                       endian: frame k at pixel p shows the group's shared picture at p + shift
    the group's tensor set, `group_shapes` order
Format 1 files hold format-1 tensor sets and no flags byte (every group is a key group).
"""
from __future__ import annotations

import numpy as np

from .errors import SieddFormatError
from .model_spec import FRAME_DELTAS, PREDICTED, encoder_shapes, group_shapes
from .tensor_codec import compress, decompress, decompress_v1, ordered

KEY, PREDICTED_GROUP, HEAD_DELTAS, MOTION = 0, 1, 2, 4
KNOWN_FLAGS = PREDICTED_GROUP | HEAD_DELTAS | MOTION
MOTION_SINCE = 10                  # the first format major with MOTION
SHIFT = np.dtype("<i2")


def encode_encoder(codes: dict[str, tuple[np.ndarray, float]], hidden: int) -> bytes:
    return compress(ordered(codes, encoder_shapes(hidden)))


def encode_group(codes: dict[str, tuple[np.ndarray, float]], hidden: int, frames: int,
                 flags: int, shifts: np.ndarray | None = None) -> bytes:
    """codes: name -> (integer codes, step); flags say how they are to be read (above);
    shifts (frames, 2): the group's motion (sets MOTION), or None."""
    if flags & ~(KNOWN_FLAGS & ~MOTION):
        raise ValueError(f"unknown group flags {flags}")
    moves = b""
    if shifts is not None:
        if shifts.shape != (frames, 2) or np.abs(shifts).max() > np.iinfo(SHIFT).max:
            raise ValueError(f"shifts must be ({frames}, 2) int16, not {shifts.shape}")
        flags |= MOTION
        moves = np.ascontiguousarray(shifts, dtype=SHIFT).tobytes()
    return bytes([flags]) + moves + compress(ordered(codes, group_shapes(hidden, frames)))


def decode_encoder(payload, hidden: int, version: tuple[int, int]) -> dict[str, np.ndarray]:
    shapes = encoder_shapes(hidden)
    what = "shared encoder weights"
    if version[0] == 1:
        return decompress_v1(payload, shapes, what)
    return decompress(payload, shapes, what)


def group_flags(payload, version: tuple[int, int], g: int) -> int:
    if version[0] == 1:
        return KEY
    known = KNOWN_FLAGS if version[0] >= MOTION_SINCE else KNOWN_FLAGS & ~MOTION
    if len(payload) < 1 or payload[0] & ~known:
        raise SieddFormatError(f"group {g} weights: unknown group flags")
    if payload[0] & PREDICTED_GROUP and g == 0:
        raise SieddFormatError("group 0 weights: the first group cannot be predicted")
    return payload[0]


def is_key(payload, version: tuple[int, int], g: int) -> bool:
    return not group_flags(payload, version, g) & PREDICTED_GROUP


def group_shifts(payload, frames: int, version: tuple[int, int], g: int) -> np.ndarray | None:
    """A group's motion: its frames' shifts (frames, 2) int16 in source pixels, or None."""
    if version[0] == 1 or not group_flags(payload, version, g) & MOTION:
        return None
    size = frames * 2 * SHIFT.itemsize
    if len(payload) < 1 + size:
        raise SieddFormatError(f"group {g} weights: truncated shifts")
    return np.frombuffer(bytes(payload[1:1 + size]), SHIFT).reshape(frames, 2)


def decode_group(payload, hidden: int, frames: int, version: tuple[int, int], g: int,
                 previous: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """A group's weights; `previous` (group g-1's decoded weights) is needed when the group is
    predicted. Its motion: group_shifts."""
    what = f"group {g} weights"
    shapes = group_shapes(hidden, frames)
    if version[0] == 1:
        return decompress_v1(payload, shapes, what)
    flags = group_flags(payload, version, g)
    if flags & PREDICTED_GROUP and previous is None:
        raise ValueError(f"{what}: predicted from group {g - 1}, which was not given")
    start = 1 + (frames * 2 * SHIFT.itemsize if flags & MOTION else 0)
    return reconstruct(decompress(memoryview(payload)[start:], shapes, what), flags, previous)


def reconstruct(values: dict[str, np.ndarray], flags: int,
                previous: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """A group's weights from its dequantised codes (code x step per tensor), in float32 as
    training computed them: frame differences summed in order, residuals added to `previous`."""
    out = dict(values)
    if flags & HEAD_DELTAS:
        for name in FRAME_DELTAS:      # sequential float32 sums: value_k = value_(k-1) + d_k
            out[name] = np.cumsum(out[name], axis=0, dtype=np.float32)
    if flags & PREDICTED_GROUP:
        for name in PREDICTED:
            out[name] = previous[name] + out[name]
    return out


def iter_groups(sf):
    """(g, weights) for every complete group of a container.SieddFile, in order."""
    previous = None
    for g, payload in enumerate(sf.group_weights):
        _, count = sf.groups[g]
        previous = decode_group(payload, sf.hidden, count, sf.version, g, previous)
        yield g, previous
