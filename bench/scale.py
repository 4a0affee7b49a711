"""Spreading an encode over processes (issue 14): the same encode as one process with one
thread, one process with two threads, and torchrun with two ranks of one thread each (gloo).

Measured: wall seconds of the whole command (torchrun's start included), rank 0's phase 1 and
phase 2 seconds, and whether the files are byte-identical. The model of where time goes, for
projecting to N GPUs: phase 1 runs once (rank 0) while the others wait; phase 2's chains are
dealt out round robin, so with C chains of equal cost it takes ceil(C / N) chain-times; each rank
then sends its coded groups once (all_gather of npz bytes: about the group's coded size before
entropy coding, measured here as the resume state's group files) and rank 0 writes the file:
    T(N) = T_start + T_phase1 + T_phase2 x ceil(C / N) / C + T_write.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import WORK, clip_path, log


def _run(cmd: list[str], env: dict, out: Path) -> dict:
    t0 = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if result.returncode != 0:
        raise RuntimeError(f"scale: {' '.join(cmd[:6])} ... failed: {result.stderr[-800:]}")
    summary = json.loads(result.stdout)
    return {"wall_seconds": round(wall, 1), "phase1_seconds": summary["phase1_seconds"],
            "phase2_seconds": summary["phase2_seconds"], "bytes": summary["bytes"],
            "file": out.read_bytes()}


def run(cfg: dict, device: str) -> dict:
    clip = clip_path(cfg["clip"])
    env0 = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    args = [str(clip), "--frames", str(cfg["frames"]), "--size", "x".join(map(str, cfg["size"])),
            "--preset", cfg["preset"], "--device", "cpu", "--json", "--quiet",
            *[a for k, v in cfg["set"].items() for a in ("--set", f"{k}={v}")]]
    siedd = [sys.executable, "-m", "siedd_codec", "encode"]
    WORK.mkdir(parents=True, exist_ok=True)
    ways = [("1 process, 1 thread", 1, 1), ("1 process, 2 threads", 1, 2),
            ("torchrun, 2 ranks x 1 thread", 2, 1)]
    rows, files = [], []
    for label, ranks, threads in ways:
        out = WORK / f"scale_{ranks}x{threads}.siedd"
        env = {**env0, "OMP_NUM_THREADS": str(threads)}
        cmd = siedd + args + ["-o", str(out)]
        if ranks > 1:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={ranks}", "-m", "siedd_codec", "encode", *args, "-o",
                   str(out)]
        log(f"scale: {label}")
        r = _run(cmd, env, out)
        files.append(r.pop("file"))
        rows.append({"way": label, "ranks": ranks, "threads_per_rank": threads, **r})
        out.unlink(missing_ok=True)
    # the coded groups' size as they travel: one group's arrays packed as npz
    state_group = _group_transfer_bytes(cfg["preset"], cfg["set"])
    one = rows[0]
    from siedd_codec.presets import get_preset
    preset = get_preset(cfg["preset"], **cfg["set"])
    chains = math.ceil(math.ceil(cfg["frames"] / preset.group_size) / preset.key_interval)
    return {"clip": cfg["clip"], "size": cfg["size"], "frames": cfg["frames"],
            "preset": cfg["preset"], "set": cfg["set"], "rows": rows, "chains": chains,
            "identical_1_rank_vs_2_ranks": files[0] == files[2],
            "identical_1_vs_2_threads": files[0] == files[1],
            "group_transfer_bytes": state_group,
            "phase1_share": round(one["phase1_seconds"] /
                                  (one["phase1_seconds"] + one["phase2_seconds"]), 3)}


def _group_transfer_bytes(preset_name: str, overrides: dict) -> int:
    """What a rank sends for one group: its codes (int32 arrays and a step each) as npz bytes,
    packed the way distributed.py packs them (the shapes fix the size)."""
    import numpy as np
    from siedd_codec.distributed import codes_arrays, pack
    from siedd_codec.model_spec import group_shapes
    from siedd_codec.presets import get_preset
    preset = get_preset(preset_name, **overrides)
    shapes = group_shapes(preset.hidden, preset.group_size)
    codes = {k: (np.zeros(shape, np.int32), 1.0) for k, shape in shapes.items()}
    return len(pack({**codes_arrays("g00000/", codes), "lam00000": np.float64(1.0)}))
