"""Ablation of the rate levers: each row is one configuration of the encoder, run on the RD
section's clips, frames, widths and steps, and compared by BD-rate against "today" (the
encoder as it was before the levers, run from its git commit by the same machine in the same
session) and against x265 medium.

Every encode runs in its own process (`python -m bench.ablation job ...`), single-threaded by
default, several at once: the rows are independent, and on a small CPU one thread per encode
is the fastest way through them. A row that names a `commit` runs that commit's siedd
(extracted with `git archive` into the work folder) - that is how "today" is measured rather
than remembered; a row that names a `seed` repeats a configuration from another seed (the
noise of one training run). Results are cached per job in ablation.partial.json: a killed run resumes.
For each encode: bytes, bpp, RGB PSNR, encode seconds, sections, and sequential decode fps at
the native size (ONNX Runtime, the job's threads) plus the time a fresh reader takes to show the
clip's last frame (its seek cost). PSNR is measured here, by this checkout, from each file's
decoded frames against the source's, both ways (from the clip's MSE, and the mean of the
frames' PSNRs), whatever commit encoded the file: encoders' own summaries changed definition over
time, and one table must not mix them. A section names the definition its table uses (cfg psnr:
"clip_mse", the default, or "mean_frames") and measures x265 the same way; a cached job without
that figure runs again (a row kept from an older run is seeded into the cache with the figure
its run measured).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import baselines
from .bdrate import bd_rate
from .common import ROOT, WORK, clip_path, log, read_json, rnd, write_json

JOB_SCRIPT = r"""
import json, sys, time
import torch
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
from siedd_codec.encoder import encode
from siedd_codec.presets import get_preset
from siedd_codec import container
from siedd_codec.reader import SieddReader
preset = get_preset(args["preset"], **args["set"])
extra = {"target_bpp": args["target_bpp"], "choose_width": True} if args.get("target_bpp") else {}
s = encode(args["clip"], args["out"], preset, frames=args["frames"], size=tuple(args["size"]),
           device=args["device"], seed=args["seed"], quiet=True, **extra)
s["sections"] = container.read(args["out"]).section_sizes
with SieddReader(args["out"], device=args["device"], threads=args["threads"]) as r:
    t0 = time.perf_counter()
    for frame in r:
        pass
    s["decode_fps"] = len(r) / (time.perf_counter() - t0)
with SieddReader(args["out"], device=args["device"], threads=args["threads"]) as r:
    t0 = time.perf_counter()
    r[len(r) - 1]
    s["last_frame_seconds"] = time.perf_counter() - t0
print("SIEDD_JOB_RESULT " + json.dumps(s))
"""


def _tree_for(commit: str) -> Path:
    """A package folder with `siedd_codec` and `siedd_export` of `commit` (git archive)."""
    folder = WORK / f"tree_{commit}"
    pkgs = folder / "pkgs"
    if (pkgs / "siedd_codec").exists():
        return pkgs
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", commit, "siedd_codec", "export"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    pkgs.mkdir(exist_ok=True)
    (pkgs / "siedd_codec").symlink_to(folder / "siedd_codec")
    (pkgs / "siedd_export").symlink_to(folder / "export")
    return pkgs


def _job_key(row: dict, spec: dict, width: int, base: dict) -> str:
    parts = [row.get("commit"), row.get("set"), spec, width, base]
    if "seed" in row:                   # a row that repeats another with a different seed
        parts.append(row["seed"])
    blob = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _own_tree() -> Path:
    """`siedd_codec` and `siedd_export` of this checkout (whatever the venv has installed)."""
    pkgs = WORK / "tree_self" / "pkgs"
    pkgs.mkdir(parents=True, exist_ok=True)
    for name, target in (("siedd_codec", ROOT / "siedd_codec"), ("siedd_export", ROOT / "export")):
        link = pkgs / name
        if not (link.is_symlink() and link.resolve() == target.resolve()):
            link.unlink(missing_ok=True)
            link.symlink_to(target)
    return pkgs


PSNR_NOTES = {
    "clip_mse": "RGB PSNR from the clip's MSE on both sides (each siedd file decoded by this "
                "checkout's reader, x265 yuv444p by FFmpeg, against the same source frames)",
    "mean_frames": "RGB PSNR the mean over frames on both sides (each siedd file decoded by this "
                   "checkout's reader, x265 yuv444p by FFmpeg, against the same source frames; "
                   "the definition this section's earliest rows were measured with)"}


def _measured_psnr(args: dict) -> tuple[float, float]:
    """(PSNR from the clip's MSE, mean of the frames' PSNRs): the job's file decoded by this
    checkout's reader against the source frames it was encoded from."""
    from siedd_codec.metrics import clip_psnr, mean_psnr
    from siedd_codec.reader import SieddReader
    from siedd_codec.video_io import read_video
    size = tuple(args["size"]) if args.get("size") else None
    source = read_video(args["clip"], frames=args["frames"], size=size).frames
    with SieddReader(args["out"], device="cpu", threads=args["threads"]) as reader:
        decoded = list(reader)
    return clip_psnr(decoded, source), mean_psnr(decoded, source)


def _measured(cached: dict | None, definition: str) -> bool:
    """A cached job with its PSNR measured the section's way (see the module's docstring)."""
    return cached is not None and f"psnr_{definition}" in cached


def _as_defined(point: dict, definition: str) -> dict:
    """The cached point with "psnr" the section's definition."""
    return {**point, "psnr": point[f"psnr_{definition}"]}


def _run_job(job: dict) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(_tree_for(job["commit"]) if job.get("commit") else _own_tree())
    env.update(OMP_NUM_THREADS=str(job["threads"]), MKL_NUM_THREADS=str(job["threads"]))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", JOB_SCRIPT, json.dumps(job["args"])],
                          capture_output=True, text=True, env=env, cwd=str(WORK))
    line = next((x for x in proc.stdout.splitlines() if x.startswith("SIEDD_JOB_RESULT ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"ablation job {job['row']} {job['args']['clip']} d={job['width']} "
                           f"failed:\n{proc.stderr[-2000:]}")
    s = json.loads(line.split(" ", 1)[1])
    psnr, psnr_mean_frames = _measured_psnr(job["args"])
    return {"width": job["width"], "bytes": s["bytes"], "bpp": rnd(s["bpp"], 5),
            "psnr": rnd(psnr, 3), "psnr_clip_mse": rnd(psnr, 3),
            "psnr_mean_frames": rnd(psnr_mean_frames, 3),
            "encode_seconds": rnd(s["seconds"], 1),
            "phase1_seconds": rnd(s["phase1_seconds"], 1),
            "phase2_seconds": rnd(s["phase2_seconds"], 1), "sections": s["sections"],
            "decode_fps": rnd(s["decode_fps"], 2),
            "last_frame_seconds": rnd(s["last_frame_seconds"], 3),
            "rate_lambda": s.get("rate_lambda"), "hidden": s.get("hidden"),
            "target_bytes": s.get("target_bytes"), "wall_seconds": rnd(time.perf_counter() - t0, 1)}


def _x265_curve(spec: dict, crfs, definition: str = "clip_mse") -> list[dict]:
    from siedd_codec.metrics import mean_psnr
    from siedd_codec.video_io import read_video
    video = read_video(clip_path(spec["clip"]), frames=spec["frames"], size=tuple(spec["size"]))
    rows = []
    for crf in crfs:
        r = baselines.encode_decode(video.frames, "x265", crf, fps=float(video.fps),
                                    keep_frames=True)
        psnr = {"clip_mse": r["psnr"], "mean_frames": mean_psnr(r["frames"], video.frames)}
        rows.append({"crf": crf, "bpp": rnd(r["bpp"], 5), "psnr": rnd(psnr[definition], 3),
                     **{f"psnr_{k}": rnd(v, 3) for k, v in psnr.items()}})
    return rows


def _point_set(cfg: dict, width) -> dict:
    """The preset field a row's point sets: the width (`hidden`) by default; a family whose
    points are qualities names the field and each point's value (cfg point_field,
    point_values)."""
    field = cfg.get("point_field", "hidden")
    values = cfg.get("point_values")
    return {field: values[str(width)] if values else width}


def _row_clips(row: dict, cfg: dict) -> list[dict]:
    """The clips a row runs on (a lever that can only act on some clips names them)."""
    return [c for c in cfg["clips"] if c["clip"] in row.get("clips", [c["clip"]])]


def run(cfg: dict, device: str, out_dir: Path) -> dict:
    """cfg: {clips: [{clip, size, frames}], widths, base: {preset, set}, rows: [...], crfs,
    jobs, threads_per_job, today; optional name (the section's, for its cache file),
    point_field and point_values (_point_set), psnr (the module's docstring)}."""
    WORK.mkdir(parents=True, exist_ok=True)
    name = cfg.get("name", "ablation")
    partial_path = Path(out_dir) / f"{name}.partial.json"
    cache = (read_json(partial_path) or {}).get("jobs", {})
    base = cfg["base"]
    definition = cfg.get("psnr", "clip_mse")
    jobs = []
    for row in cfg["rows"]:
        for spec in _row_clips(row, cfg):
            for width in row.get("widths", cfg["widths"]):
                key = _job_key(row, spec, width, base)
                if _measured(cache.get(key), definition):
                    continue
                args = {"clip": str(clip_path(spec["clip"])), "size": spec["size"],
                        "frames": spec["frames"], "preset": base["preset"],
                        "set": {**base["set"], **row.get("set", {}), **_point_set(cfg, width)},
                        "device": device, "seed": row.get("seed", cfg.get("seed", 0)),
                        "threads": cfg["threads_per_job"],
                        "out": str(WORK / f"{name}_{key}.siedd")}
                jobs.append({"key": key, "row": row["key"], "clip": spec["clip"], "width": width,
                             "commit": row.get("commit"), "threads": cfg["threads_per_job"],
                             "args": args})
    for spec in cfg["clips"]:
        for target in cfg.get("rate_targets", []):
            row = _rate_row(cfg, target)
            key = _job_key(row, spec, 0, base)
            if _measured(cache.get(key), definition):
                continue
            args = {"clip": str(clip_path(spec["clip"])), "size": spec["size"],
                    "frames": spec["frames"], "preset": base["preset"],
                    "set": {**base["set"], **_default_set(cfg)},
                    "target_bpp": target, "device": device, "seed": cfg.get("seed", 0),
                    "threads": cfg["threads_per_job"], "out": str(WORK / f"ablation_{key}.siedd")}
            jobs.append({"key": key, "row": "ratecontrol", "clip": spec["clip"], "width": 0,
                         "commit": None, "threads": cfg["threads_per_job"], "args": args})
    # widest first: the longest jobs should not be the last ones
    jobs.sort(key=lambda j: -j["width"])
    cached = sum(_measured(c, definition) for c in cache.values())
    log(f"{name}: {len(jobs)} encodes to run ({cached} cached), {cfg['jobs']} at a time")
    # every tree made before the jobs start: two jobs must not make one at the same time
    for commit in {j["commit"] for j in jobs if j["commit"]}:
        _tree_for(commit)
    if any(not j["commit"] for j in jobs):
        _own_tree()
    done = 0
    with ThreadPoolExecutor(cfg["jobs"]) as pool:
        for job, result in zip(jobs, pool.map(_run_job, jobs)):
            cache[job["key"]] = {"row": job["row"], "clip": job["clip"], **result}
            done += 1
            log(f"  [{done}/{len(jobs)}] {job['row']} {job['clip']} {job['width']}: "
                f"{result['bpp']:.4f} bpp {result['psnr']:.2f} dB {result['encode_seconds']:.0f} s")
            write_json(partial_path, {"jobs": cache})
    clips = []
    for spec in cfg["clips"]:
        log(f"{name}: x265 curve for {spec['clip']}")
        clips.append({**spec, "x265": _x265_curve(spec, cfg["crfs"], definition)})
    rows = []
    for row in cfg["rows"]:
        points = {}
        for spec in _row_clips(row, cfg):
            pts = [_as_defined(cache[_job_key(row, spec, w, base)], definition)
                   for w in row.get("widths", cfg["widths"])]
            points[spec["clip"]] = [{k: v for k, v in p.items() if k not in ("row", "clip")}
                                    for p in pts]
        rows.append({**row, "points": points})
    rate_control = []
    for spec in cfg["clips"]:
        for target in cfg.get("rate_targets", []):
            p = _as_defined(cache[_job_key(_rate_row(cfg, target), spec, 0, base)], definition)
            rate_control.append({"clip": spec["clip"], "target_bpp": target,
                                 **{k: v for k, v in p.items() if k not in ("row", "clip")},
                                 "error_percent": rnd(100 * (p["bpp"] / target - 1), 2)})
    result = {"widths": cfg["widths"], "point_field": cfg.get("point_field", "hidden"),
              "base": base, "crfs": cfg["crfs"], "clips": clips,
              "today": cfg["today"], "default": cfg.get("default"), "rows": rows,
              "rate_control": rate_control,
              "jobs": cfg["jobs"], "threads_per_job": cfg["threads_per_job"],
              "psnr": definition, "psnr_note": _psnr_note(definition, rows)}
    if cfg.get("seeds"):
        result["seeds"] = cfg["seeds"]
    result["bd"] = bd_table(result)
    result["seed_pairs"] = seed_pairs(result)
    return result


def _default_set(cfg: dict) -> dict:
    """The default row's settings: what --bpp steers (this tree's encoder with them)."""
    row = next((r for r in cfg["rows"] if r["key"] == cfg.get("default")), {})
    return {k: v for k, v in row.get("set", {}).items()}


def _rate_row(cfg: dict, target: float) -> dict:
    return {"key": "ratecontrol", "set": {**_default_set(cfg), "target_bpp": target}}


def _psnr_note(definition: str, rows: list[dict]) -> str:
    """PSNR_NOTES' text, naming the rows whose points were seeded from an older run (a point
    this module measured holds both definitions; a seeded one only the figure its run had)."""
    seeded = [row["key"] for row in rows
              if any("psnr_mean_frames" not in p for pts in row["points"].values() for p in pts)]
    if not seeded:
        return PSNR_NOTES[definition]
    return (f"{PSNR_NOTES[definition]}; rows {', '.join(seeded)}: kept from runs made before "
            f"this section decoded the files itself, with the PSNR their encoders reported, "
            f"the same definition")


def _curve(points):
    return [p["bpp"] for p in points], [p["psnr"] for p in points]


def bd_table(result: dict) -> dict:
    """BD-rate (pchip) of every row against today's row, the default row and x265, per clip
    and mean. A row run at fewer widths (a small lever) is compared with the others' points at
    its widths."""
    today = next(r for r in result["rows"] if r["key"] == result["today"])
    default = next((r for r in result["rows"] if r["key"] == result.get("default")), None)
    out = {}
    for row in result["rows"]:
        entry = {}
        for c in result["clips"]:
            name = c["clip"]
            if name not in row["points"]:
                continue
            x265 = ([p["bpp"] for p in c["x265"]], [p["psnr"] for p in c["x265"]])
            widths = {p["width"] for p in row["points"][name]}
            ref = [p for p in today["points"][name] if p["width"] in widths]
            vs_today = bd_rate(*_curve(ref), *_curve(row["points"][name]))
            vs_default = None
            if default is not None and name in default["points"]:
                ref = [p for p in default["points"][name] if p["width"] in widths]
                vs_default = bd_rate(*_curve(ref), *_curve(row["points"][name]))["bd_rate"]
            vs_x265 = bd_rate(*x265, *_curve(row["points"][name]))
            pts = row["points"][name]
            entry[name] = {"vs_today": rnd(vs_today["bd_rate"], 2),
                           "vs_today_range": vs_today["psnr_range"],
                           "vs_default": rnd(vs_default, 2),
                           "vs_x265": rnd(vs_x265["bd_rate"], 2),
                           "encode_seconds": rnd(sum(p["encode_seconds"] for p in pts), 1),
                           "decode_fps": rnd(float(np.mean([p["decode_fps"] for p in pts])), 2),
                           "last_frame_seconds": rnd(float(np.mean(
                               [p["last_frame_seconds"] for p in pts])), 3)}
        def mean(key):
            vals = [e[key] for e in entry.values() if e.get(key) is not None]
            return rnd(np.mean(vals), 2) if vals else None
        entry["mean"] = {"vs_today": mean("vs_today"), "vs_default": mean("vs_default"),
                         "vs_x265": mean("vs_x265")}
        out[row["key"]] = entry
    return out


def seed_pairs(result: dict) -> dict | None:
    """The default's BD-rate against today for every pairing of their seeds (result["seeds"]:
    {"today": [row keys], "default": [row keys]}, one configuration a list), per clip: each
    pairing's figure, their mean, min and max. One training run's noise is of the order of the
    levers' effects; this says how far a single pairing can be trusted."""
    seeds = result.get("seeds")
    if not seeds:
        return None
    rows = {r["key"]: r for r in result["rows"]}
    out = {}
    for c in result["clips"]:
        name = c["clip"]
        pairs = []
        for d in seeds["default"]:
            for t in seeds["today"]:
                mine, theirs = rows[d]["points"].get(name), rows[t]["points"].get(name)
                if not mine or not theirs:
                    continue
                widths = {p["width"] for p in mine} & {p["width"] for p in theirs}
                bd = bd_rate(*_curve([p for p in theirs if p["width"] in widths]),
                             *_curve([p for p in mine if p["width"] in widths]))["bd_rate"]
                pairs.append({"default": d, "today": t, "widths": sorted(widths),
                              "bd_rate": rnd(bd, 2)})
        values = [p["bd_rate"] for p in pairs if p["bd_rate"] is not None]
        out[name] = {"pairs": pairs,
                     "mean": rnd(float(np.mean(values)), 2) if values else None,
                     "min": min(values) if values else None,
                     "max": max(values) if values else None}
    return out


def encode_time_ratio(result: dict, row_key: str) -> float:
    """The row's total encode seconds over today's at the same clips and widths."""
    today = next(r for r in result["rows"] if r["key"] == result["today"])
    row = next(r for r in result["rows"] if r["key"] == row_key)
    mine = theirs = 0.0
    for name, pts in row["points"].items():
        widths = {p["width"] for p in pts}
        if name not in today["points"]:
            continue
        mine += sum(p["encode_seconds"] for p in pts)
        theirs += sum(p["encode_seconds"] for p in today["points"][name] if p["width"] in widths)
    return mine / theirs
