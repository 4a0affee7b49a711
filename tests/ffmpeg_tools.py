"""The project's FFmpeg as the tests run it: the real .venv/bin/ffmpeg and ffprobe, by their
paths, as separate processes (tests/conftest.py's `ffmpeg` fixture checks they were built)."""
from __future__ import annotations

import json
import shlex
import subprocess

import numpy as np

from conftest import ROOT, run_env

BIN = ROOT / ".venv" / "bin"
FFMPEG = BIN / "ffmpeg"
FFPROBE = BIN / "ffprobe"
TIMEOUT = 300


def run(*args, env=None, cwd=None, check=True, text=False, timeout=TIMEOUT, stdin=None
        ) -> subprocess.CompletedProcess:
    cmd = [str(a) for a in args]
    result = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=cwd,
                            stdin=subprocess.DEVNULL if stdin is None else stdin,
                            env=run_env() if env is None else env)
    stderr = result.stderr.decode("utf-8", "replace")
    result.stderr = stderr
    if text:
        result.stdout = result.stdout.decode("utf-8", "replace")
    if check:
        assert result.returncode == 0, f"{shlex.join(cmd)} failed ({result.returncode}):\n{stderr}"
    return result


def raw_frames(data: bytes, width: int, height: int, channels: int = 3) -> np.ndarray:
    size = width * height * channels
    assert len(data) % size == 0, f"{len(data)} bytes is not a whole number of {width}x{height} frames"
    return np.frombuffer(data, np.uint8).reshape(-1, height, width, channels)


def assert_close(actual: np.ndarray, expected: np.ndarray, what: str = "") -> None:
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16)).max()
    assert diff <= 1, f"{what}: differs by up to {diff} levels"


def probe(path_or_graph, entries: str, lavfi: bool = False, *options) -> list[dict]:
    """ffprobe's streams (entries "stream=...") or frames ("frame=...") as dicts."""
    args = ["-f", "lavfi"] if lavfi else []
    out = run(FFPROBE, "-v", "error", *options, *args, "-show_entries", entries, "-of", "json",
              path_or_graph, text=True).stdout
    return json.loads(out)["streams" if entries.startswith("stream") else "frames"]
