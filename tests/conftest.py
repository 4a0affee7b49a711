"""Shared fixtures: the real clips fetched by `make setup`, and one tiny .siedd encoded once per
test session from a real clip (carphone, 24 frames, groups of 10: the last group is short)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT / ".cache" / "siedd" / "clips"
VENV_BIN = Path(sys.executable).parent

TINY_FRAMES = 24
TINY_OVERRIDES = dict(anchor_steps=200, steps=80, group_size=10, anchors=4, key_interval=2)


def clip(name: str) -> Path:
    path = CLIPS / name
    if not path.is_file():
        pytest.fail(f"{path} missing: run `make setup` (it fetches the test clips)")
    return path


@pytest.fixture(scope="session")
def carphone() -> Path:
    return clip("carphone_pristine.mp4")


def encode_carphone(tmp_path_factory, carphone, name: str, preset: str, overrides: dict,
                    frames: int):
    """Encode the first `frames` of carphone once: (path of the .siedd, encode summary, source
    frames)."""
    from siedd_codec.encoder import encode
    from siedd_codec.presets import get_preset
    from siedd_codec.video_io import read_video
    out = tmp_path_factory.mktemp(name) / f"{name}.siedd"
    summary = encode(str(carphone), str(out), get_preset(preset, **overrides), frames=frames,
                     device="cpu", quiet=True)
    return out, summary, read_video(carphone, frames=frames).frames


@pytest.fixture(scope="session")
def tiny_encode(tmp_path_factory, carphone):
    """(path of the .siedd, encode summary, source frames)."""
    return encode_carphone(tmp_path_factory, carphone, "carphone", "tiny", TINY_OVERRIDES,
                           TINY_FRAMES)


@pytest.fixture(scope="session")
def tiny_siedd(tiny_encode) -> Path:
    return tiny_encode[0]


MOVING_SIZE = (160, 96)
MOVING_OVERRIDES = dict(hidden=32, anchors=2, anchor_steps=60, steps=60, group_size=6)
# window origins (y, x) in a real picture: six frames still, then a pan of (1, 3) pixels a frame
MOVING_ORIGINS = [(40, 100)] * 6 + [(40 + k, 100 + 3 * k) for k in range(1, 7)]


@pytest.fixture(scope="session")
def moving_clip(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A camera panning over a real picture (bigbuckbunny's frame 20 at 640x360): windows of
    MOVING_SIZE at MOVING_ORIGINS, as a folder of PNG frames. -> (the folder, its frames)."""
    from fractions import Fraction
    from siedd_codec.video_io import VideoWriter, read_video
    picture = read_video(clip("bigbuckbunny.mp4"), start=20, frames=1, size=(640, 360)).frames[0]
    w, h = MOVING_SIZE
    frames = np.stack([picture[y:y + h, x:x + w] for y, x in MOVING_ORIGINS])
    folder = tmp_path_factory.mktemp("pan")
    writer = VideoWriter(str(folder / "pan_%03d.png"), w, h, Fraction(25))
    for frame in frames:
        writer.write(frame)
    writer.close()
    return folder, frames


@pytest.fixture(scope="session")
def moving_encode(tmp_path_factory, moving_clip):
    """A SIEDD file of moving_clip, groups of 6: the first still, the second following the
    pan. -> (path, encode summary, source frames)."""
    from siedd_codec.encoder import encode
    from siedd_codec.presets import get_preset
    out = tmp_path_factory.mktemp("moving") / "moving.siedd"
    summary = encode(str(moving_clip[0]), str(out), get_preset("tiny", **MOVING_OVERRIDES),
                     device="cpu", quiet=True)
    return out, summary, moving_clip[1]


@pytest.fixture(scope="session")
def siedd_cli() -> list[str]:
    exe = VENV_BIN / "siedd"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "siedd_codec"]


def run_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


GRID_FRAMES = 10
GRID_OVERRIDES = dict(steps=80, group_size=4, samples=4096)


@pytest.fixture(scope="session")
def grid_encode(tmp_path_factory, carphone):
    """A latent-grid file from the same clip: (path, encode summary, source frames); groups of 4
    with a short last group."""
    return encode_carphone(tmp_path_factory, carphone, "carphone_grid", "grid-tiny",
                           GRID_OVERRIDES, GRID_FRAMES)


@pytest.fixture(scope="session")
def grid_siedd(grid_encode) -> Path:
    return grid_encode[0]


def encode_cli(carphone, out, args: list[str], stop_after: str | None = None) -> int:
    """`siedd encode` in this process (so both runs of a comparison use the same threads);
    stop_after: the saved part ('phase1', 'group_00002', ...) after which the encode stops as a
    kill would (a KeyboardInterrupt right after that file is saved). -> the exit status."""
    import torch
    from siedd_codec import cli
    from siedd_codec.resume import ResumeState
    argv = ["encode", str(carphone), "-o", str(out), *args]
    save = ResumeState.save_codes

    def save_then_stop(self, name, *a, **kw):
        save(self, name, *a, **kw)
        if name == stop_after:
            raise KeyboardInterrupt
    threads = torch.get_num_threads()
    # one thread: the same in every run compared, and fast on a busy machine (two OpenMP
    # threads on two cores others are using ran these encodes 50x slower)
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as m:
            m.setattr(ResumeState, "save_codes", save_then_stop)
            return cli.main(argv)
    finally:
        torch.set_num_threads(threads)


def same_encode(a, b) -> bool:
    """Two .siedd files are byte-identical (a file records no wall-clock time: equal encodes
    give equal bytes)."""
    return Path(a).read_bytes() == Path(b).read_bytes()


def folder_bytes(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


@pytest.fixture(scope="module")
def ffmpeg() -> Path:
    """The project's ffmpeg (and ffprobe beside it), built by `make setup`."""
    for name in ("ffmpeg", "ffprobe"):
        if not (ROOT / ".venv" / "bin" / name).is_file():
            pytest.fail(f".venv/bin/{name} missing: run `make setup` (it builds the project's FFmpeg)")
    return ROOT / ".venv" / "bin" / "ffmpeg"


def reference_frames(encoder_weights, weights, norm, width, height, shifts=None,
                     source_size=None) -> tuple[np.ndarray, float]:
    """The PyTorch model's frames of one group at width x height, float: model.render at each
    frame's moved grid where the group moves (shifts in source pixels, source_size (w, h));
    where a shift falls between pixels at this size, the bilinear mix of the renders at the
    whole-pixel shifts around it (what canvas.cut_windows reads from the canvas). -> (frames,
    how far ONNX Runtime's uint8 frames may lie from them: 1, or 1.5 for a mix of roundings)."""
    from siedd_codec import canvas
    from siedd_codec.model import render
    if shifts is None:
        return render(encoder_weights, weights, norm, width, height).astype(float), 1
    scaled = canvas.scaled_shifts(shifts, width, height, *source_size)
    floor = np.floor(scaled).astype(int)
    fy, fx = (scaled - floor)[:, 0, None, None, None], (scaled - floor)[:, 1, None, None, None]
    if not (fy.any() or fx.any()):
        return render(encoder_weights, weights, norm, width, height, floor).astype(float), 1
    mix = 0.0
    for a, wy in ((0, 1 - fy), (1, fy)):
        for b, wx in ((0, 1 - fx), (1, fx)):
            mix = mix + wy * wx * render(encoder_weights, weights, norm, width, height,
                                         floor + [a, b]).astype(float)
    return mix, 1.5
