"""Encoding and decoding speed.

Encoding: each preset with its step counts cut down (speed per step does not depend on how many
steps run), time per step from the encoder summary's phase seconds / steps, achieved FLOP/s
against the matmul peak measured in the same run, and the wall time the full preset would take
(measured time per step x the preset's real step counts). Then how encode cost grows with the
frame count and with the resolution, at a fixed small configuration.

Decoding: a model of each preset's width (trained for a few steps only: decode speed does not
depend on the training), decoded at 0.25x..2x the native size by ONNX Runtime (siedd's reader,
group-amortised: encoder features once per size, shared layers once per group) and by a PyTorch
decoder of the same weights, each also frame at a time (the SIEDD reference's way: the whole
network per frame); GMAC/s from the analytic MACs against the matmul peak.
"""
from __future__ import annotations

import time

import numpy as np

from siedd_codec.encoder import encode
from siedd_codec.metrics import mean_psnr
from siedd_codec.presets import get_preset
from siedd_codec.reader import SieddReader

from .common import WORK, clip_path, log, rnd
from .flops import decode_macs_per_frame, gflops, train_flops


# -- encoding ---------------------------------------------------------------------------------
def _encode_run(clip: str, label: str, preset, frames: int, size, device: str,
                measure: bool = False, seed: int = 0) -> tuple[dict, dict]:
    WORK.mkdir(parents=True, exist_ok=True)
    target = WORK / f"speed_{clip}_{label}.siedd"
    t0 = time.perf_counter()
    s = encode(str(clip_path(clip)), str(target), preset, frames=frames,
               size=tuple(size) if size else None, device=device, quiet=True, measure=measure,
               seed=seed)
    wall = time.perf_counter() - t0
    return s, {"path": target, "wall": wall}


def _step_figures(s: dict, preset, peak: dict, base: dict | None = None) -> dict:
    """Time per step and achieved FLOP/s of one encode summary `s`. With `base` (the summary of
    the same encode run with 1 + 1 steps) the times are differenced - (t_s - t_base) /
    (steps_s - 1) - which removes fixed costs (setup, the frozen features, a torch.compile);
    without, they are phase seconds / steps."""
    f = train_flops(preset, s["frames"], s["width"], s["height"])
    g = f["groups"]
    p1_time, p1_steps = s["phase1_seconds"], preset.anchor_steps
    p2_time, p2_steps = s["phase2_seconds"], preset.steps * g
    p2_flops = f["phase2_flops"]
    differenced = False
    if base is not None and preset.anchor_steps > 1 and preset.steps > 1:
        d1 = s["phase1_seconds"] - base["phase1_seconds"]
        d2 = s["phase2_seconds"] - base["phase2_seconds"]
        if d1 > 0 and d2 > 0:
            p1_time, p1_steps = d1, preset.anchor_steps - 1
            p2_time, p2_steps = d2, (preset.steps - 1) * g
            p2_flops = (f["phase2_flops"] - f["frozen_features_flops"]) * (preset.steps - 1) / preset.steps
            differenced = True
    p1_step = p1_time / p1_steps
    p2_step = p2_time / p2_steps
    p1_rate = gflops(f["phase1_flops_per_step"] * p1_steps, p1_time)
    p2_rate = gflops(p2_flops, p2_time)
    out = {"samples_per_step": f["samples_per_step"], "anchors": f["anchors"], "groups": g,
           "step_times": "differenced (minus a 1+1-step run)" if differenced
           else "phase seconds / steps",
           "phase1_seconds_per_step": rnd(p1_step, 5),
           "phase2_seconds_per_group_step": rnd(p2_step, 5),
           "phase1_gflop_per_step": rnd(f["phase1_flops_per_step"] / 1e9, 4),
           "phase2_gflop_per_group_step": rnd(f["phase2_flops_per_group_step"] / 1e9, 4),
           "phase1_gflops": rnd(p1_rate, 2), "phase2_gflops": rnd(p2_rate, 2)}
    for dtype, entry in (peak or {}).items():
        g_peak = entry.get("gflops") if isinstance(entry, dict) else None
        if g_peak:
            for ph, rate in (("phase1", p1_rate), ("phase2", p2_rate)):
                out[f"{ph}_percent_of_{dtype}_peak"] = rnd(100 * rate / g_peak, 2) if rate else None
    # the dtype training's matmuls run in (the Trainer's stats say: bf16 autocast or fp32)
    train_dtype = "bfloat16" if s["precision"] == "bf16" else "float32"
    out["training_dtype"] = train_dtype
    for ph in ("phase1", "phase2"):
        out[f"{ph}_percent_of_peak"] = out.get(f"{ph}_percent_of_{train_dtype}_peak")
    return out


def _grid_preset_row(cfg: dict, name: str, cut: dict, device: str) -> dict:
    """A latent-grid preset: one phase, groups trained one after another; time per group-step
    differenced against a 1-step run, projected to the preset's real steps."""
    full = get_preset(name)
    preset = full.replace(**cut)
    base, _ = _encode_run(cfg["clip"], f"preset_{name}_1", preset.replace(steps=1),
                          cfg["frames"], cfg.get("size"), device)
    s, _ = _encode_run(cfg["clip"], f"preset_{name}", preset, cfg["frames"], cfg.get("size"),
                       device)
    groups = s["groups"]
    step = (s["phase2_seconds"] - base["phase2_seconds"]) / ((preset.steps - 1) * groups)
    fixed = max(0.0, base["seconds"] - step * groups)
    projected = step * groups * full.steps + fixed
    log(f"encode preset {name}: {step:.4f} s/group-step; full preset ~{projected:.1f} s")
    return {"preset": name, "family": "grid", "clip": cfg["clip"], "width": s["width"],
            "height": s["height"], "frames": s["frames"], "device": s["device"],
            "measured_steps": {"steps": preset.steps}, "full_steps": {"steps": full.steps},
            "group_size": full.group_size,
            "measured_seconds": s["seconds"], "one_step_run_seconds": base["seconds"],
            "groups": groups, "samples_per_step": full.samples,
            "phase2_seconds_per_group_step": rnd(step, 5),
            "step_times": "differenced (minus a 1-step run)",
            "projected_full_preset_seconds": rnd(projected, 1),
            "projected_seconds_per_frame": rnd(projected / s["frames"], 2)}


def encode_presets(cfg: dict, device: str, peak: dict) -> list[dict]:
    """Each preset with cut-down steps (and once with 1 + 1 steps, to difference out fixed
    costs); projected full-preset wall time for the same clip and frames. The presets cfg
    `whole` names are also encoded whole, uncut: a projection misses what a short run does not
    show (the hard stage, the context models' re-choice, ...), and where a whole encode is
    affordable its time is the figure users see."""
    rows = [_preset_row(cfg, name, cut, device, peak) for name, cut in cfg["cut"].items()]
    for row in rows:
        if row["preset"] in cfg.get("whole", ()):
            full = get_preset(row["preset"], **cfg.get("common_set", {}))
            s, _ = _encode_run(cfg["clip"], f"preset_{row['preset']}_whole", full, cfg["frames"],
                               cfg.get("size"), device)
            row["whole_run_seconds"] = rnd(s["seconds"], 1)
            row["whole_run_seconds_per_frame"] = rnd(s["seconds"] / s["frames"], 2)
            log(f"encode preset {row['preset']} whole: {s['seconds']:.1f} s "
                f"(projected {row['projected_full_preset_seconds']} s)")
    return rows


def _preset_row(cfg: dict, name: str, cut: dict, device: str, peak: dict) -> dict:
    full = get_preset(name, **cfg.get("common_set", {}))
    if full.family == "grid":
        return _grid_preset_row(cfg, name, cut, device)
    preset = full.replace(**cut)
    one = preset.replace(anchor_steps=1, steps=1)
    if device == "cuda":   # absorb torch.compile and CUDA warm-up before timing anything
        _encode_run(cfg["clip"], f"preset_{name}_1", one, cfg["frames"], cfg.get("size"),
                    device)
    base, _ = _encode_run(cfg["clip"], f"preset_{name}_1", one, cfg["frames"],
                          cfg.get("size"), device)
    s, _ = _encode_run(cfg["clip"], f"preset_{name}", preset, cfg["frames"],
                       cfg.get("size"), device)
    figs = _step_figures(s, preset, peak, base)
    # fixed costs (setup, frozen features, export, write) from the 1 + 1-step run
    fixed = base["seconds"] - figs["phase1_seconds_per_step"] \
        - figs["phase2_seconds_per_group_step"] * figs["groups"]
    projected = (figs["phase1_seconds_per_step"] * full.anchor_steps
                 + figs["phase2_seconds_per_group_step"] * figs["groups"] * full.steps
                 + max(0.0, fixed))
    row = {"preset": name, "family": "siedd", "hidden": full.hidden, "clip": cfg["clip"],
           "width": s["width"], "height": s["height"], "frames": s["frames"],
           "device": s["device"], "measured_steps": {"anchor_steps": preset.anchor_steps,
                                                     "steps": preset.steps},
           "full_steps": {"anchor_steps": full.anchor_steps, "steps": full.steps},
           "group_size": full.group_size,
           "measured_seconds": s["seconds"], "train_seconds": s["train_seconds"],
           "phase1_seconds": s["phase1_seconds"], "phase2_seconds": s["phase2_seconds"],
           "one_step_run_seconds": base["seconds"],
           "projected_full_preset_seconds": rnd(projected, 1),
           "projected_seconds_per_frame": rnd(projected / s["frames"], 2),
           **figs}
    log(f"encode preset {name}: p1 {figs['phase1_seconds_per_step']:.4f} s/step "
        f"({figs['phase1_gflops']} GFLOP/s), p2 {figs['phase2_seconds_per_group_step']:.4f} "
        f"s/group-step ({figs['phase2_gflops']} GFLOP/s); full preset "
        f"~{row['projected_full_preset_seconds']} s")
    return row


def encode_scaling(cfg: dict, device: str, peak: dict, key: str) -> list[dict]:
    """key 'frames': cfg['frames'] is a list; key 'size': cfg['sizes'] is a list of [w, h]."""
    preset = get_preset(cfg["preset"], **cfg.get("set", {}))
    rows = []
    values = cfg["frames"] if key == "frames" else cfg["sizes"]
    for v in values:
        frames = v if key == "frames" else cfg["frames"]
        size = cfg.get("size") if key == "frames" else v
        s, extra = _encode_run(cfg["clip"], f"scale_{key}", preset, frames, size, device)
        figs = _step_figures(s, preset, peak)
        rows.append({"clip": cfg["clip"], "frames": s["frames"], "width": s["width"],
                     "height": s["height"], "pixels": s["width"] * s["height"],
                     "groups": s["groups"], "seconds": s["seconds"],
                     "train_seconds": s["train_seconds"], "phase1_seconds": s["phase1_seconds"],
                     "phase2_seconds": s["phase2_seconds"],
                     "read_and_write_seconds": rnd(s["seconds"] - s["train_seconds"], 3),
                     "seconds_per_frame": rnd(s["seconds"] / s["frames"], 4), **figs})
        log(f"encode scaling {key}={v}: {s['seconds']:.1f} s")
    return rows


def run_encode(cfg: dict, device: str, peak: dict) -> dict:
    out = {"flop_model": "training FLOPs = 3 x forward less the unneeded input gradient of the "
                         "first trained layer (2 FLOPs per MAC); phase 1: encoder + A anchor "
                         "decoders on S samples per step; phase 2: 3 dxd layers + F heads on S "
                         "samples per group-step (plus the frozen features once); elementwise "
                         "work (sin, optimiser, sampling) not counted",
           "peak_gflops": {k: v.get("gflops") for k, v in (peak or {}).items()
                           if isinstance(v, dict)}}
    if cfg.get("presets"):
        out["presets"] = encode_presets(cfg["presets"], device, peak)
    if cfg.get("scaling_frames"):
        out["scaling_frames"] = {"config": cfg["scaling_frames"],
                                 "rows": encode_scaling(cfg["scaling_frames"], device, peak,
                                                        "frames")}
    if cfg.get("scaling_size"):
        out["scaling_size"] = {"config": cfg["scaling_size"],
                               "rows": encode_scaling(cfg["scaling_size"], device, peak,
                                                      "size")}
    return out


def run_precision(cfg: dict, device: str) -> dict:
    """Training in float32 against bf16 autocast: the same encode (clip, width, seed) both ways,
    wall time and PSNR of the decoded file. Seeds vary because one seed's PSNR moves by more
    than the precision's effect; the summary is per width: mean speed-up and the paired PSNR
    differences."""
    import torch
    from siedd_codec.training import cpu_has_bf16_matmul, resolve_bf16
    rows, summary = [], []
    for d in cfg["widths"]:
        pairs = []                  # (fp32 row, bf16 row) per seed
        for seed in cfg["seeds"]:
            pair = []
            for precision in ("fp32", "bf16"):
                preset = get_preset(cfg["preset"], **{**cfg.get("set", {}), "hidden": d,
                                                      "precision": precision})
                s, _ = _encode_run(cfg["clip"], f"precision_{precision}", preset,
                                   cfg["frames"], cfg.get("size"), device, measure=True,
                                   seed=seed)
                pair.append({"hidden": d, "seed": seed, "precision": s["precision"],
                             "width": s["width"], "height": s["height"], "frames": s["frames"],
                             "psnr": rnd(s["psnr"], 3), "bpp": rnd(s["bpp"], 5),
                             "train_seconds": s["train_seconds"],
                             "phase1_seconds": s["phase1_seconds"],
                             "phase2_seconds": s["phase2_seconds"]})
                log(f"precision d={d} seed {seed} {precision}: {s['psnr']:.2f} dB, "
                    f"train {s['train_seconds']:.1f} s")
            rows += pair
            pairs.append(pair)
        speedup = {k: rnd(sum(a[k] for a, _ in pairs) / sum(b[k] for _, b in pairs), 3)
                   for k in ("train_seconds", "phase1_seconds", "phase2_seconds")}
        summary.append({"hidden": d, "seeds": len(pairs),
                        "speedup_train": speedup["train_seconds"],
                        "speedup_phase1": speedup["phase1_seconds"],
                        "speedup_phase2": speedup["phase2_seconds"],
                        "psnr_fp32_mean": rnd(float(np.mean([a["psnr"] for a, _ in pairs])), 3),
                        "psnr_bf16_mean": rnd(float(np.mean([b["psnr"] for _, b in pairs])), 3),
                        "psnr_bf16_minus_fp32": [rnd(b["psnr"] - a["psnr"], 3) for a, b in pairs]})
    return {"clip": cfg["clip"], "config": cfg, "rows": rows, "summary": summary,
            "cpu_has_bf16_matmul": cpu_has_bf16_matmul(),
            "auto_picks": "bf16" if resolve_bf16("auto", torch.device(device)) else "fp32"}


# -- decoding ---------------------------------------------------------------------------------
def _timed(fn, *args):
    t0 = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - t0


def _make_model(cfg: dict, preset_name: str, device: str):
    preset = get_preset(preset_name, **cfg.get("train_set", {}))
    s, extra = _encode_run(cfg["clip"], f"decode_{preset_name}", preset, cfg["frames"],
                           cfg.get("size"), device)
    s["hidden"] = preset.hidden
    return extra["path"], s


def _scaled(native, factor: float) -> tuple[int, int]:
    w, h = native
    return max(2, int(round(w * factor / 2)) * 2), max(2, int(round(h * factor / 2)) * 2)


def _reader(path, device: str, threads: int, **kw) -> SieddReader:
    """A SieddReader on `device`; CUDA that ONNX Runtime cannot start falls back to the CPU
    (the row records which device really ran)."""
    from siedd_codec.errors import SieddError
    try:
        return SieddReader(path, device=device, threads=threads, **kw)
    except SieddError as exc:
        if device == "cpu":
            raise
        log(f"ONNX Runtime on {device} failed ({exc}); decoding on the CPU")
        return SieddReader(path, device="cpu", threads=threads, **kw)


def decode_sizes(cfg: dict, path, summary: dict, device: str, threads: int,
                 peak: dict) -> list[dict]:
    """fps at each output size: ORT grouped (stream and warm), torch grouped, and frame at a time
    in both (a few frames: it is slow)."""
    from .torch_decode import TorchDecoder
    d = summary["hidden"]
    native = (summary["width"], summary["height"])
    peak_mac = (peak.get("float32") or {}).get("gflops")
    peak_mac = peak_mac / 2 if peak_mac else None
    rows = []
    torch_dev = "cuda" if device == "cuda" else "cpu"
    tdec = TorchDecoder(path, device=torch_dev)
    groups = None
    for factor in cfg["scales"]:
        w, h = _scaled(native, factor)
        row = {"scale": factor, "width": w, "height": h, "pixels": w * h}
        # ONNX Runtime, as siedd's reader decodes: a stream of every frame, then one group again
        # with the encoder features already cached (the steady state of a long video).
        with _reader(path, device, threads, size=(w, h)) as r:
            groups = r.group_count
            F = r.group_range(0)[1]
            r.render_group(0, 16, 16)                             # session warm-up
            n, t0 = 0, time.perf_counter()
            for g in range(r.group_count):
                n += len(r.decode_group(g))
            t_stream = time.perf_counter() - t0
            _, t_warm = _timed(r.render_group, 0, w, h)
            row["ort_device"] = r.device
        row["ort_stream_fps"] = rnd(n / t_stream, 3)
        row["ort_group_fps"] = rnd(F / t_warm, 3)
        row["frames_decoded"] = n
        # ONNX Runtime frame at a time: no feature cache, one head per call.
        k = cfg["frame_at_a_time_frames"] if factor <= 1 else max(1, cfg["frame_at_a_time_frames"] // 2)
        with _reader(path, device, threads, size=(w, h), feature_cache_bytes=0) as r:
            r.render_group(0, 16, 16, frames=slice(0, 1))
            t0 = time.perf_counter()
            for i in range(k):
                r.render_group(0, w, h, frames=slice(i, i + 1))
            row["ort_frame_fps"] = rnd(k / (time.perf_counter() - t0), 3)
        # PyTorch, same weights, same algorithm
        tdec.clear_cache()
        tdec.render_group(0, 16, 16)
        tdec.clear_cache()
        t0 = time.perf_counter()
        for g in range(groups):
            tdec.render_group(g, w, h)
        tdec.sync()
        row["torch_stream_fps"] = rnd(n / (time.perf_counter() - t0), 3)
        _, t_tw = _timed(tdec.render_group, 0, w, h)
        row["torch_group_fps"] = rnd(F / t_tw, 3)
        if factor in cfg.get("torch_frame_scales", [1.0]):
            t0 = time.perf_counter()
            for i in range(k):
                tdec.render_frame(0, i, w, h)
            tdec.sync()
            row["torch_frame_fps"] = rnd(k / (time.perf_counter() - t0), 3)
        tdec.clear_cache()
        # analytic work and achieved rate
        for mode, key in (("group_cached", "ort_group"), ("frame", "ort_frame"),
                          ("group_cached", "torch_group"), ("frame", "torch_frame")):
            fps = row.get(f"{key}_fps")
            if fps:
                gmac = decode_macs_per_frame(d, w, h, F, mode) / 1e9
                row[f"{key}_gmac_per_frame"] = rnd(gmac, 3)
                row[f"{key}_gmacs"] = rnd(gmac * fps, 2)
                if peak_mac:
                    row[f"{key}_percent_of_fp32_peak"] = rnd(100 * gmac * fps / peak_mac, 1)
        log(f"decode d={d} {w}x{h}: ORT group {row['ort_group_fps']} fps "
            f"(stream {row['ort_stream_fps']}), frame-at-a-time {row['ort_frame_fps']} fps; "
            f"torch group {row['torch_group_fps']} fps")
        rows.append(row)
    return rows


def bf16_check(path, summary: dict, device: str) -> dict:
    """PyTorch decode with bfloat16 matmuls (AMX / tensor cores) at the native size: fps and how
    close its frames are to the float32 decode."""
    import torch

    from .torch_decode import TorchDecoder
    w, h = summary["width"], summary["height"]
    dev = "cuda" if device == "cuda" else "cpu"
    ref = TorchDecoder(path, device=dev)
    fast = TorchDecoder(path, device=dev, matmul_dtype=torch.bfloat16)
    a = ref.render_group(0, w, h)
    fast.render_group(0, 16, 16)
    fast.clear_cache()
    b, t_cold = _timed(fast.render_group, 0, w, h)
    b, t = _timed(fast.render_group, 0, w, h)
    F = a.shape[0]
    return {"width": w, "height": h, "torch_bf16_group_fps": rnd(F / t, 3),
            "torch_bf16_stream_fps": rnd(F / t_cold, 3),
            "psnr_bf16_vs_fp32_decode": rnd(mean_psnr(b, a), 2),
            "max_abs_diff_levels": int(np.abs(a.astype(np.int16) - b).max())}


def run_decode(cfg: dict, device: str, threads: int, peak: dict) -> dict:
    ort_device = "cuda" if device == "cuda" else "cpu"
    out = {"clip": cfg["clip"], "frames": cfg["frames"], "size": cfg.get("size"),
           "note": "models trained for a few steps only (decode speed does not depend on "
                   "training); fps = frames / wall seconds; 'stream' includes computing the "
                   "encoder features once for the size, 'group' is one group with them cached "
                   "(a long video's steady state); 'frame' = the reference's way, whole network "
                   "per frame",
           "goal": cfg.get("goal")}
    models = {}
    for name in cfg["presets"]:
        path, s = _make_model(cfg, name, device)
        models[name] = (path, s)
    main = cfg["sizes_preset"]
    path, s = models[main]
    out["sizes_preset"] = main
    out["sizes"] = decode_sizes(cfg, path, s, ort_device, threads, peak)
    # fps per preset at the native size: ORT grouped
    per_preset = []
    for name, (p, s2) in models.items():
        with _reader(p, ort_device, threads) as r:
            F = r.group_range(0)[1]
            r.render_group(0, 16, 16)
            _, t_cold = _timed(r.render_group, 0, r.width, r.height)
            _, t = _timed(r.render_group, 0, r.width, r.height)
            w, h = r.width, r.height
        gmac = decode_macs_per_frame(s2["hidden"], w, h, F, "group_cached") / 1e9
        row = {"preset": name, "hidden": s2["hidden"], "width": w, "height": h,
               "ort_group_fps": rnd(F / t, 3), "ort_group_cold_fps": rnd(F / t_cold, 3),
               "gmac_per_frame": rnd(gmac, 3), "gmacs": rnd(gmac * F / t, 2),
               "file_bytes": s2["bytes"]}
        peak32 = (peak.get("float32") or {}).get("gflops")
        if peak32:
            row["percent_of_fp32_peak"] = rnd(100 * gmac * F / t / (peak32 / 2), 1)
        per_preset.append(row)
        log(f"decode preset {name} at {w}x{h}: {row['ort_group_fps']} fps")
    out["presets"] = per_preset
    if cfg.get("bf16_check"):
        out["torch_bf16"] = bf16_check(path, s, device)
        log(f"decode torch bf16: {out['torch_bf16']}")
    goal = cfg.get("goal")
    if goal:
        hit = [r for r in out["sizes"] if [r["width"], r["height"]] == goal["size"]]
        if hit and main == goal["preset"]:
            fps = hit[0]["ort_group_fps"]
            out["goal"] = {**goal, "ort_group_fps": fps, "ort_stream_fps": hit[0]["ort_stream_fps"],
                           "met": bool(fps >= goal["fps"])}
    return out
