"""Rate-distortion: siedd at several operating points against x264 and x265 (preset medium, CRF
sweep, yuv444p) on the same frames, PSNR computed the same way on both sides (8-bit RGB, from the
clip's MSE, siedd_codec.metrics; runs before siedd 0.3 used the per-frame mean, and their JSON's
psnr_note says so), BD-rate of siedd against each."""
from __future__ import annotations

import numpy as np

from siedd_codec.encoder import encode
from siedd_codec.presets import get_preset
from siedd_codec.video_io import read_video

from . import baselines
from .bdrate import bd_psnr, bd_rate, psnr_at_rate, rate_at_psnr
from .common import WORK, clip_path, log, rnd


def run_clip(spec: dict, crfs, points: list[dict], device: str, seed: int = 0) -> dict:
    """spec: {clip, size: [w, h] or None, frames, start}. points: [{label, preset, set: {...}}]."""
    name = spec["clip"]
    path = clip_path(name)
    size = tuple(spec["size"]) if spec.get("size") else None
    start, frames_n = spec.get("start", 0), spec["frames"]
    video = read_video(path, start=start, frames=frames_n, size=size)
    frames = video.frames
    n, h, w = frames.shape[:3]
    fps = float(video.fps)
    log(f"rd {name}: {n} frames {w}x{h}")
    out = {"clip": name, "file": path.name, "width": w, "height": h, "frames": n, "start": start,
           "fps": fps, "source_size": list(video.native_size),
           "psnr_note": "RGB PSNR (8-bit, from the clip's MSE); baselines coded as yuv444p "
                        "(BT.709 full range), so no chroma subsampling caps their RGB PSNR",
           "conversion_ceiling_psnr": rnd(baselines.conversion_ceiling_psnr(frames), 3)}
    for codec in ("x264", "x265"):
        rows = []
        for crf in crfs:
            r = baselines.encode_decode(frames, codec, crf, fps=fps)
            r["bpp"], r["psnr"] = rnd(r["bpp"], 5), rnd(r["psnr"], 3)
            r["encode_fps"] = rnd(n / r["encode_seconds"], 2) if r["encode_seconds"] else None
            rows.append(r)
            log(f"  {codec} crf {crf}: {r['bpp']:.4f} bpp {r['psnr']:.2f} dB "
                f"{r['encode_seconds']:.2f} s")
        out[codec] = rows
    siedd_rows = []
    WORK.mkdir(parents=True, exist_ok=True)
    for point in points:
        preset = get_preset(point["preset"], **point.get("set", {}))
        target = WORK / f"rd_{name}_{point['label']}.siedd"
        s = encode(str(path), str(target), preset, start=start, frames=frames_n, size=size,
                   device=device, seed=seed, quiet=True)
        row = {"label": point["label"], "preset": preset.as_dict(), "bytes": s["bytes"],
               "bpp": rnd(s["bpp"], 5), "psnr": rnd(s["psnr"], 3),
               "encode_seconds": s["seconds"], "train_seconds": s["train_seconds"],
               "phase1_seconds": s["phase1_seconds"], "phase2_seconds": s["phase2_seconds"],
               "measure_seconds": s.get("measure_seconds"), "device": s["device"],
               "decode_and_psnr_fps": rnd(n / s["measure_seconds"], 2)
               if s.get("measure_seconds") else None}
        for codec in ("x264", "x265"):
            rates = [r["bpp"] for r in out[codec]]
            psnrs = [r["psnr"] for r in out[codec]]
            row[f"{codec}_psnr_at_same_bpp"] = rnd(psnr_at_rate(rates, psnrs, row["bpp"]), 3)
            rate = rate_at_psnr(rates, psnrs, row["psnr"])
            row[f"{codec}_bpp_at_same_psnr"] = rnd(rate, 5)
        siedd_rows.append(row)
        log(f"  siedd {point['label']}: {row['bpp']:.4f} bpp {row['psnr']:.2f} dB "
            f"{row['encode_seconds']:.1f} s")
    out["siedd"] = siedd_rows
    out["bd"] = bd_summary(out)
    return out


def bd_summary(clip_result: dict) -> dict:
    """BD-rate and BD-PSNR of siedd against x265 and x264, both interpolations."""
    sr = [r["bpp"] for r in clip_result["siedd"]]
    sq = [r["psnr"] for r in clip_result["siedd"]]
    out = {}
    for codec in ("x265", "x264"):
        ar = [r["bpp"] for r in clip_result[codec]]
        aq = [r["psnr"] for r in clip_result[codec]]
        entry = {}
        for method in ("pchip", "cubic"):
            b = bd_rate(ar, aq, sr, sq, method)
            p = bd_psnr(ar, aq, sr, sq, method)
            entry[method] = {"bd_rate_percent": rnd(b["bd_rate"], 2), "psnr_range": b["psnr_range"],
                             "bd_psnr_db": rnd(p["bd_psnr"], 3)}
            if b.get("reason"):
                entry[method]["reason"] = b["reason"]
        out[f"siedd_vs_{codec}"] = entry
    # x264 against x265, a sanity check of the method (x265 should save bits)
    out["x264_vs_x265"] = {"pchip": {"bd_rate_percent": rnd(bd_rate(
        [r["bpp"] for r in clip_result["x265"]], [r["psnr"] for r in clip_result["x265"]],
        [r["bpp"] for r in clip_result["x264"]], [r["psnr"] for r in clip_result["x264"]])
        ["bd_rate"], 2)}}
    return out


def run(cfg: dict, device: str) -> dict:
    clips = [run_clip(spec, cfg["crfs"], cfg["siedd"], device) for spec in cfg["clips"]]
    return {"crfs": list(cfg["crfs"]), "baseline_preset": "medium",
            "operating_points": cfg["siedd"], "clips": clips}


def mean_bd(clips: list[dict], key: str = "siedd_vs_x265") -> float | None:
    vals = [c["bd"][key]["pchip"]["bd_rate_percent"] for c in clips
            if c["bd"][key]["pchip"]["bd_rate_percent"] is not None]
    return float(np.mean(vals)) if vals else None
