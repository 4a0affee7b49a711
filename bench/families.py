"""The two model families side by side: SIEDD (the paper's method) and latent grids, against
x265 medium on the same frames, measured the same way (8-bit RGB PSNR as the RD section; x265
coded as yuv444p; bpp from the whole file).

Per clip, everything runs here, with this checkout's code and on this machine: the x265 CRF
sweep, the SIEDD default points (its widths; those the clip's `siedd_labels` names, if any)
and the grid points (grid-tiny at several --quality values), one process per encode, one thread
each, two at once, like the ablation's; PSNR from the clip's MSE on both sides. BD-rate
(pchip) of grid against x265 and against SIEDD, and of SIEDD against x265. Then decode speed
(fps and MACs per pixel) of one file of each family at 640x360 and 1280x720, and the
side-by-side picture: source, SIEDD, grid and x265 at (about) equal bpp, cropped.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import baselines
from .ablation import _run_job
from .bdrate import bd_rate, bd_rate_bound
from .common import WORK, clip_path, log, rnd


def _clip_key(spec: dict) -> str:
    return f"{spec['clip']}_{spec['size'][0]}x{spec['size'][1]}_{spec['frames']}"


def _job(spec: dict, point: dict, threads: int, device: str) -> dict:
    out = WORK / f"families_{_clip_key(spec)}_{point['label']}.siedd"
    args = {"clip": str(clip_path(spec["clip"])), "size": spec["size"], "frames": spec["frames"],
            "preset": point["preset"], "set": point.get("set", {}), "out": str(out),
            "device": device, "seed": 0, "threads": threads}
    r = _run_job({"args": args, "threads": threads, "row": point["label"],
                  "width": point["label"]})
    r["label"] = r.pop("width")
    r["file"] = str(out)
    r["seconds_per_frame"] = rnd(r["encode_seconds"] / spec["frames"], 2)
    return r


def _bound(anchor: list, test: list) -> float | None:
    """Where the curves do not overlap and test's cheapest point beats the anchor's best PSNR:
    bdrate.bd_rate_bound, kept only where it is negative (where it shows test needs fewer bits;
    a positive bound says nothing of which is better)."""
    if not anchor or not test or _bd(anchor, test) is not None:
        return None
    r = bd_rate_bound([p["bpp"] for p in anchor], [p["psnr"] for p in anchor],
                      [p["bpp"] for p in test], [p["psnr"] for p in test], "pchip")
    return None if r is None or r >= 0 else rnd(r, 1)


def _bd(anchor: list, test: list) -> float | None:
    if not anchor or not test:
        return None
    r = bd_rate([p["bpp"] for p in anchor], [p["psnr"] for p in anchor],
                [p["bpp"] for p in test], [p["psnr"] for p in test], "pchip")
    return rnd(r["bd_rate"], 1)


def run(cfg: dict, device: str, out_dir: Path) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    clips = []
    for spec in cfg["clips"]:
        from siedd_codec.video_io import read_video
        video = read_video(clip_path(spec["clip"]), frames=spec["frames"],
                           size=tuple(spec["size"]))
        x265 = []
        for crf in cfg["crfs"]:
            r = baselines.encode_decode(video.frames, "x265", crf, fps=float(video.fps))
            x265.append({"crf": crf, "bpp": rnd(r["bpp"], 5), "psnr": rnd(r["psnr"], 3)})
            log(f"families {spec['clip']} x265 crf {crf}: {r['bpp']:.4f} bpp {r['psnr']:.2f} dB")
        del video
        points = [("grid", p) for p in cfg["grid"]]
        points += [("siedd", p) for p in cfg["siedd"]
                   if p["label"] in spec.get("siedd_labels", [q["label"] for q in cfg["siedd"]])]
        reference = cfg.get("tiny_reference")
        if reference and spec["clip"] == reference["clip"] and spec["size"] == reference["size"]:
            # first, so that it runs beside a grid encode from start to end: the yardstick's
            # time depends on what shares the CPU's caches and memory with it
            points.insert(0, ("tiny", {"label": "tiny", "preset": "tiny", "set": {}}))
        with ThreadPoolExecutor(cfg["jobs"]) as pool:
            done = list(pool.map(lambda fp: (fp[0], _job(spec, fp[1], cfg["threads_per_job"],
                                                          device)), points))
        grid = [r for fam, r in done if fam == "grid"]
        siedd = [r for fam, r in done if fam == "siedd"]
        for fam, r in done:
            log(f"families {spec['clip']} {fam} {r['label']}: {r['bpp']:.4f} bpp "
                f"{r['psnr']:.2f} dB, {r['seconds_per_frame']} s/frame")
        tiny = next((r for fam, r in done if fam == "tiny"), None)
        clips.append({**spec, "x265": x265, "siedd": siedd,
                      "grid": grid, "tiny_preset": tiny,
                      "bd": {"grid_vs_x265": _bd(x265, grid), "siedd_vs_x265": _bd(x265, siedd),
                             "grid_vs_siedd": _bd(siedd, grid),
                             "grid_vs_siedd_at_most": _bound(siedd, grid)}})
    result = {"psnr": "clip_mse", "clips": clips, "decode": decode_speed(clips, cfg["decode"]),
              "picture": picture(clips, cfg["picture"], out_dir)}
    return result


def decode_speed(clips: list[dict], cfg: dict) -> list[dict]:
    """fps of a fresh reader through every frame at each size, one file per family, the
    process's threads; MACs per pixel from `siedd info`."""
    from siedd_codec.cli import describe
    from siedd_codec.reader import SieddReader
    clip = next(c for c in clips if c["clip"] == cfg["clip"] and list(c["size"]) == cfg["size"])
    rows = []
    for family in ("siedd", "grid"):
        point = next(p for p in clip[family] if p["label"] == cfg[family])
        path = point["file"]
        info = describe(str(path))
        for size in cfg["sizes"]:
            with SieddReader(path, size=tuple(size), device="cpu") as reader:
                reader[0]                                   # sessions warm
                reader._group_cache.clear()
                t0 = time.perf_counter()
                for _ in reader:
                    pass
                fps = len(reader) / (time.perf_counter() - t0)
            rows.append({"family": family, "label": point["label"], "size": size,
                         "fps": rnd(fps, 1), "macs_per_pixel": rnd(info["macs_per_pixel"], 0),
                         "macs_per_pixel_amortized": rnd(info["macs_per_pixel_amortized"], 0)})
            log(f"families decode {family} {point['label']} {size[0]}x{size[1]}: {fps:.1f} fps")
    return rows


def picture(clips: list[dict], cfg: dict, out_dir: Path) -> dict:
    """One frame: source | SIEDD | grid | x265, the grid point given, the SIEDD point and the
    x265 CRF nearest its bpp, cropped."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from siedd_codec.reader import SieddReader
    from siedd_codec.video_io import read_video
    clip = next(c for c in clips if c["clip"] == cfg["clip"] and list(c["size"]) == cfg["size"])
    video = read_video(clip_path(clip["clip"]), frames=clip["frames"], size=tuple(clip["size"]))
    k = cfg["frame"]
    grid = next(p for p in clip["grid"] if p["label"] == cfg["grid"])
    siedd = min(clip["siedd"], key=lambda p: abs(np.log(p["bpp"] / grid["bpp"])))
    best = None
    for crf in range(18, 52):
        r = baselines.encode_decode(video.frames, "x265", crf, fps=float(video.fps),
                                    keep_frames=True)
        if best is None or abs(np.log(r["bpp"] / grid["bpp"])) < abs(np.log(best["bpp"] / grid["bpp"])):
            best = r
        if r["bpp"] < grid["bpp"]:
            break
    with SieddReader(grid["file"], device="cpu") as reader:
        grid_frame = reader[k]
    with SieddReader(siedd["file"], device="cpu") as reader:
        siedd_frame = reader[k]
    x, y, w, h = cfg["crop"]
    panels = [("source", video.frames[k]),
              (f"siedd SIEDD d={siedd['hidden']}: {siedd['bpp']:.4f} bpp, "
               f"{siedd['psnr']:.2f} dB", siedd_frame),
              (f"siedd grid {grid['label']}: {grid['bpp']:.4f} bpp, {grid['psnr']:.2f} dB",
               grid_frame),
              (f"x265 medium crf {best['crf']}: {best['bpp']:.4f} bpp, {best['psnr']:.2f} dB",
               best["frames"][k])]
    fig, axes = plt.subplots(1, 4, figsize=(16, 16 * h / (4 * w) + 0.8))
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(img[y:y + h, x:x + w], interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(f"{clip['clip']} {clip['size'][0]}x{clip['size'][1]}, frame {k} of "
                 f"{clip['frames']}, crop {w}x{h} at ({x}, {y}); bpp and PSNR of the whole clip",
                 fontsize=9)
    fig.tight_layout()
    path = Path(out_dir) / "families_frame.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return {"file": path.name, "clip": clip["clip"], "frame": k, "crop": cfg["crop"],
            "grid": {"label": grid["label"], "bpp": grid["bpp"], "psnr": grid["psnr"]},
            "siedd": {"label": siedd["hidden"], "bpp": siedd["bpp"],
                      "psnr": siedd["psnr"]},
            "x265": {"crf": best["crf"], "bpp": rnd(best["bpp"], 5), "psnr": rnd(best["psnr"], 3)}}
