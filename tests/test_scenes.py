"""Scene cuts: found in real clips, and the grid family's groups never straddling one."""
from __future__ import annotations

import numpy as np
import pytest

from siedd_codec import container, scenes
from siedd_codec.grid.train import GridTrainer
from siedd_codec.presets import get_preset
from siedd_codec.training import plan_groups
from siedd_codec.video_io import Video, read_video
from conftest import clip, encode_cli


@pytest.fixture(scope="module")
def bikes():
    return clip("bikes.mp4")


def test_cuts_found_in_real_footage_and_not_in_motion(bikes):
    # bikes cuts to another shot at frame 30 (a pan before it); bigbuckbunny's first 40
    # frames are one shot with a character moving
    assert read_video(bikes, start=20, frames=20, size=(160, 68)).scene_cuts() == [10]
    assert read_video(clip("bigbuckbunny.mp4"), frames=40, size=(160, 90)).scene_cuts() == []
    assert read_video(clip("carphone_pristine.mp4"), frames=40).scene_cuts() == []


def test_a_cut_is_a_jump_against_the_differences_around_it():
    base = np.full(30, 3.0)
    base[10] = 40.0                                  # a jump: a cut
    assert scenes.cuts_from_differences(base) == [10]
    fast = np.full(30, 30.0)                         # fast motion: every difference is large
    assert scenes.cuts_from_differences(fast) == []
    faint = np.full(30, 1.0)
    faint[5] = 20.0                                  # below CUT_DIFF: a flash, not a cut
    assert scenes.cuts_from_differences(faint) == []


def test_groups_start_at_every_cut():
    assert plan_groups(45, 20) == [(0, 20), (20, 20), (40, 5)]
    assert plan_groups(45, 20, [30]) == [(0, 20), (20, 10), (30, 15)]
    assert plan_groups(45, 20, [0, 45, 99, 5, 5]) == [(0, 5), (5, 20), (25, 20)]


def test_short_groups_train_in_proportion():
    frames = np.zeros((40, 8, 8, 3), np.uint8)
    preset = get_preset("grid-tiny", steps=1200, group_size=20)
    trainer = GridTrainer(Video.from_frames(frames, 25), preset, None)
    assert [trainer.group_steps(k) for k in (20, 10, 5)] == [1200, 600, 300]
    short = GridTrainer(Video.from_frames(frames[:8], 25), preset, None)
    assert short.group_steps(8) == 1200          # a clip shorter than a group trains in full


def test_grid_groups_split_at_the_cut(bikes, tmp_path):
    cut, fixed = tmp_path / "cut.siedd", tmp_path / "fixed.siedd"
    args = ["--preset", "grid-tiny", "--start", "20", "--frames", "20", "--size", "160x68",
            "--set", "steps=20", "--quiet"]
    assert encode_cli(bikes, cut, args) == 0
    assert encode_cli(bikes, fixed, [*args, "--set", "scene_cuts=0"]) == 0
    assert container.read(cut).groups == [(0, 10), (10, 10)]
    assert container.read(fixed).groups == [(0, 20)]
