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
                       other bits: 0
    the group's tensor set, `group_shapes` order
Format 1 files hold format-1 tensor sets and no flags byte (every group is a key group).
"""
from __future__ import annotations

import numpy as np

from .errors import SieddFormatError
from .model_spec import FRAME_DELTAS, PREDICTED, encoder_shapes, group_shapes
from .tensor_codec import compress, decompress, decompress_v1, ordered

KEY, PREDICTED_GROUP, HEAD_DELTAS = 0, 1, 2
KNOWN_FLAGS = PREDICTED_GROUP | HEAD_DELTAS


def encode_encoder(codes: dict[str, tuple[np.ndarray, float]], hidden: int) -> bytes:
    return compress(ordered(codes, encoder_shapes(hidden)))


def encode_group(codes: dict[str, tuple[np.ndarray, float]], hidden: int, frames: int,
                 flags: int) -> bytes:
    """codes: name -> (integer codes, step); flags say how they are to be read (above)."""
    if flags & ~KNOWN_FLAGS:
        raise ValueError(f"unknown group flags {flags}")
    return bytes([flags]) + compress(ordered(codes, group_shapes(hidden, frames)))


def decode_encoder(payload, hidden: int, version: tuple[int, int]) -> dict[str, np.ndarray]:
    shapes = encoder_shapes(hidden)
    what = "shared encoder weights"
    if version[0] == 1:
        return decompress_v1(payload, shapes, what)
    return decompress(payload, shapes, what)


def group_flags(payload, version: tuple[int, int], g: int) -> int:
    if version[0] == 1:
        return KEY
    if len(payload) < 1 or payload[0] & ~KNOWN_FLAGS:
        raise SieddFormatError(f"group {g} weights: unknown group flags")
    if payload[0] & PREDICTED_GROUP and g == 0:
        raise SieddFormatError("group 0 weights: the first group cannot be predicted")
    return payload[0]


def is_key(payload, version: tuple[int, int], g: int) -> bool:
    return not group_flags(payload, version, g) & PREDICTED_GROUP


def decode_group(payload, hidden: int, frames: int, version: tuple[int, int], g: int,
                 previous: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """A group's weights; `previous` (group g-1's decoded weights) is needed when the group is
    predicted."""
    what = f"group {g} weights"
    shapes = group_shapes(hidden, frames)
    if version[0] == 1:
        return decompress_v1(payload, shapes, what)
    flags = group_flags(payload, version, g)
    if flags & PREDICTED_GROUP and previous is None:
        raise ValueError(f"{what}: predicted from group {g - 1}, which was not given")
    return reconstruct(decompress(memoryview(payload)[1:], shapes, what), flags, previous)


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
