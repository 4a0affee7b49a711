"""Global motion in the SIEDD family (format 10): a group that follows a panning camera stores its
frames' shifts, trains its shared layers over a canvas, and decodes (ONNX Runtime, any size) to
what the PyTorch model computes at each frame's moved grid."""
import math

import numpy as np
import pytest

from siedd_codec import canvas, container
from siedd_codec.errors import SieddFormatError
from siedd_codec.model import render
from siedd_codec.reader import SieddReader
from siedd_codec.weights import (MOTION, decode_encoder, decode_group, encode_group,
                                 group_shifts, iter_groups)

from siedd_codec.model_spec import group_shapes

from conftest import MOVING_ORIGINS, MOVING_SIZE, reference_frames
from golden import _codes


def _moving(sf):
    return [group_shifts(sf.group_weights[g], count, sf.version, g)
            for g, (_, count) in enumerate(sf.groups)]


def test_a_panning_group_stores_its_shifts_and_a_still_one_none(moving_encode):
    """Frame k at pixel p shows the group's middle frame at p + shift_k: for windows cut from
    one picture, shift_k is exactly the window's origin less the middle frame's."""
    sf = container.read(moving_encode[0])
    shifts = _moving(sf)
    assert sf.version[0] == 10
    assert shifts[0] is None                      # six frames of one still window
    origins = np.array(MOVING_ORIGINS[6:])
    assert shifts[1].dtype == np.int16
    assert shifts[1].tolist() == (origins - origins[3]).tolist()


@pytest.mark.parametrize("size", [MOVING_SIZE, (319, 191)])
def test_moving_groups_decode_as_the_torch_model_renders_them(moving_encode, size):
    """At the source size and at (2 x (n - 1) + 1), where every shift stays a whole pixel, the
    reader's frames are the model's at each frame's moved grid, within one level of rounding."""
    path = moving_encode[0]
    sf = container.read(path)
    enc = decode_encoder(sf.encoder_weights, sf.hidden, sf.version)
    width, height = size
    scale = (width - 1) // (sf.width - 1)
    with SieddReader(path) as reader:
        for (g, weights), shifts in zip(iter_groups(sf), _moving(sf)):
            first, count = sf.groups[g]
            ref = render(enc, weights, sf.norm[first:first + count], width, height,
                         None if shifts is None else shifts * scale)
            got = reader.render_group(g, width, height)
            assert np.abs(ref.astype(int) - got.astype(int)).max() <= 1, g
            # a frame alone reads the same canvas
            assert np.array_equal(reader.render_group(g, width, height, slice(4, 5))[0], got[4])


def test_a_moving_group_between_whole_pixels_is_bilinear(moving_encode):
    """At a size where the shifts fall between pixels, each frame is the bilinear mix of the
    model's frames at the whole-pixel shifts around its own (within rounding)."""
    path = moving_encode[0]
    sf = container.read(path)
    enc = decode_encoder(sf.encoder_weights, sf.hidden, sf.version)
    g = 1
    weights = dict(iter_groups(sf))[g]
    first, count = sf.groups[g]
    shifts = _moving(sf)[g]
    width, height = 239, 143                      # 1.5 x (n - 1) + 1: half pixels
    assert np.any(canvas.scaled_shifts(shifts, width, height, sf.width, sf.height) % 1)
    want, within = reference_frames(enc, weights, sf.norm[first:first + count], width, height,
                                     shifts, (sf.width, sf.height))
    assert within == 1.5
    with SieddReader(path) as reader:
        got = reader.render_group(g, width, height).astype(float)
    assert np.abs(got - want).max() <= within


def test_motion_can_be_left_out(moving_clip, tmp_path):
    from siedd_codec.encoder import encode
    from siedd_codec.presets import get_preset
    from conftest import MOVING_OVERRIDES
    out = tmp_path / "still.siedd"
    encode(str(moving_clip[0]), str(out), get_preset("tiny", **{**MOVING_OVERRIDES, "motion": 0}),
           device="cpu", quiet=True)
    assert _moving(container.read(out)) == [None, None]


def test_shifts_round_trip_and_damage_is_one_clear_error():
    hidden, count = 8, 3
    codes = _codes(np.random.default_rng(5), group_shapes(hidden, count), 6)
    still = encode_group(codes, hidden, count, 0)
    shifts = np.array([[-3, 7], [0, 0], [2, -1]], np.int16)
    moving = encode_group(codes, hidden, count, 0, shifts)
    assert moving[0] == MOTION and len(moving) == len(still) + 4 * count
    assert np.array_equal(group_shifts(moving, count, (10, 0), 2), shifts)
    assert group_shifts(still, count, (10, 0), 2) is None
    values = decode_group(still, hidden, count, (10, 0), 2)
    got = decode_group(moving, hidden, count, (10, 0), 2)
    assert values.keys() == got.keys() and all(np.array_equal(got[k], values[k]) for k in values)
    # format 9 had no MOTION flag; a payload cut inside its shifts is refused
    with pytest.raises(SieddFormatError, match="unknown group flags"):
        group_shifts(moving, count, (9, 0), 2)
    with pytest.raises(SieddFormatError, match="truncated shifts"):
        group_shifts(moving[:5], count, (10, 0), 2)


def test_canvas_box_holds_every_window():
    shifts = np.array([[-2.5, 0.0], [0.0, 3.25], [1.0, -1.0]])
    box = canvas.box(shifts, 10, 8)
    assert box == canvas.Box(-3, -1, 8 + 3 + 1, 10 + 1 + 4)
    for dy, dx in shifts:
        assert box.top <= math.floor(dy) and math.ceil(dy) + 7 <= box.top + box.rows - 1
        assert box.left <= math.floor(dx) and math.ceil(dx) + 9 <= box.left + box.cols - 1
