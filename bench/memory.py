"""Peak memory of `siedd encode` against the clip's length (issue 14: bounded memory).

A long clip is made once by looping a real one (bigbuckbunny, resampled, coded with x264 at a
high quality: the encoder's input, not a measurement), then `siedd encode` runs as a separate
process for each frame count with the same preset and steps; its peak resident memory is the
child's ru_maxrss from wait4 (that process alone). Steps are cut down: what training holds does
not depend on how many steps it takes. Optionally the same at an older commit (the `before`
row: the whole clip in memory), run from a git worktree of it.

The encoder-features cache (the frozen encoder's output for every pixel of the frame, float32)
is computed, not measured: pixels x d x 4 bytes, per preset at 1080p and 4K.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

from bench.common import ROOT, WORK, clip_path, log


def looped_clip(clip: str, size: tuple[int, int], frames: int) -> Path:
    """`frames` frames of `clip` at `size`, the clip played forwards and backwards in a loop
    (no cut at the seam), as an x264 CRF 12 mp4; made once."""
    import av
    import numpy as np
    from siedd_codec.video_io import read_video
    out = WORK / f"looped_{clip}_{size[0]}x{size[1]}_{frames}.mp4"
    if out.is_file():
        return out
    source = read_video(clip_path(clip), size=size).frames
    cycle = np.concatenate([source, source[-2:0:-1]])
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": "12", "preset": "veryfast"}
        for k in range(frames):
            frame = av.VideoFrame.from_ndarray(cycle[k % len(cycle)], format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    tmp.replace(out)
    return out


def _run_measured(cmd: list[str], env: dict, cwd: Path) -> tuple[float, float, int, str, dict]:
    """cmd's peak RSS (MiB, ru_maxrss of that child alone via wait4), seconds, status, stderr
    tail, and its --json summary."""
    t0 = time.perf_counter()
    err_path = WORK / "memory_stderr.txt"
    out_path = WORK / "memory_stdout.txt"
    with open(err_path, "wb") as err, open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    try:
        summary = json.loads(out_path.read_text() or "{}")
    except json.JSONDecodeError:
        summary = {}
    return (usage.ru_maxrss / 1024.0, seconds, proc.returncode,
            err_path.read_text(errors="replace")[-400:], summary)


def features_cache_bytes() -> list[dict]:
    from siedd_codec.presets import PRESETS
    rows = []
    for name, preset in PRESETS.items():
        d = getattr(preset, "hidden", None)
        if d is None:
            continue
        for label, (w, h) in (("1080p", (1920, 1080)), ("4K", (3840, 2160))):
            rows.append({"preset": name, "d": d, "size": label,
                         "mib": round(w * h * d * 4 / 2**20, 1)})
    return rows


def _checkout(commit: str) -> Path:
    """A worktree of an older commit to run its encoder (the `before` row)."""
    tree = WORK / f"tree_{commit}"
    if not (tree / "siedd_codec").is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(tree),
                        commit], check=True, capture_output=True)
        # siedd_export is the export/ folder, installed under that name
        (tree / "_path").mkdir(exist_ok=True)
        link = tree / "_path" / "siedd_export"
        if not link.exists():
            link.symlink_to(tree / "export")
    return tree


def run(cfg: dict, device: str, only: str | None = None) -> dict:
    """only: 'now' or 'before' to measure one encoder's rows."""
    size = tuple(cfg["size"])
    clip = looped_clip(cfg["clip"], size, max(cfg["frames"]))
    rows = []
    trees = [("now", None)] + ([("before", cfg["before"])] if cfg.get("before") else [])
    for label, commit in trees:
        if only and label != only:
            continue
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(OMP_NUM_THREADS=str(cfg.get("threads", 1)))
        # `python -m` puts the working folder first on sys.path: run from the code's own tree
        code = ROOT
        if commit:
            code = _checkout(commit)
            env["PYTHONPATH"] = f"{code}:{code / '_path'}"
        for frames in cfg["frames"]:
            out = WORK / f"memory_{label}_{frames}.siedd"
            cmd = [sys.executable, "-m", "siedd_codec", "encode", str(clip), "-o", str(out),
                   "--frames", str(frames), "--preset", cfg["preset"], "--json", "--quiet",
                   "--device", device, "--restart",
                   *[a for k, v in cfg["set"].items() for a in ("--set", f"{k}={v}")]]
            log(f"memory: {label} {frames} frames")
            rss, seconds, status, err, summary = _run_measured(cmd, env, code)
            # SIGKILL: the kernel's OOM killer (the encoder that held the whole clip cannot
            # encode a long one on this machine) - a result, not a failure of the benchmark
            killed = status == -9
            if status != 0 and not killed:
                raise RuntimeError(f"memory: {label} {frames} frames failed ({status}): {err}")
            rows.append({"code": label, "commit": commit, "frames": frames,
                         "peak_rss_mib": round(rss, 1), "seconds": round(seconds, 1),
                         "bytes": summary.get("bytes"), "psnr": summary.get("psnr"),
                         **({"killed": "SIGKILL (out of memory)"} if killed else {})})
            out.unlink(missing_ok=True)
    return {"clip": cfg["clip"], "size": list(size), "source": "looped forwards and backwards, "
            "x264 CRF 12", "preset": cfg["preset"], "set": cfg["set"], "rows": rows,
            "features_cache": features_cache_bytes()}
