"""PNG plots from the result JSON: RD curves (siedd, x264, x265), encode speed against quality,
decode fps against resolution, encode cost against frames and resolution."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"siedd": "tab:red", "x264": "tab:blue", "x265": "tab:green"}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _subtitle(meta: dict) -> str:
    m = meta.get("machine", {})
    gpu = m.get("gpu")
    dev = gpu["name"] if gpu else f"{m.get('cpu', '?')}, {m.get('usable_cpus', '?')} cores"
    threads = meta.get("threads")
    th = f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""
    return f"{dev}{th} - {meta.get('scale', '?')} scale"


def rd_plot(rd: dict, out_dir: Path) -> Path:
    clips = rd["clips"]
    n = len(clips)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.4), squeeze=False)
    for ax, c in zip(axes[0], clips):
        for codec in ("x264", "x265"):
            rows = sorted(c[codec], key=lambda r: r["bpp"])
            ax.plot([r["bpp"] for r in rows], [r["psnr"] for r in rows], "o-", ms=4,
                    color=COLORS[codec], label=f"{codec} medium, yuv444p (CRF sweep)")
        rows = sorted(c["siedd"], key=lambda r: r["bpp"])
        ax.plot([r["bpp"] for r in rows], [r["psnr"] for r in rows], "s-", ms=6,
                color=COLORS["siedd"], label="siedd (CPU-sized operating points)")
        for r in rows:
            ax.annotate(r["label"], (r["bpp"], r["psnr"]), textcoords="offset points",
                        xytext=(4, -10), fontsize=7, color=COLORS["siedd"])
        bd = c["bd"]["siedd_vs_x265"]["pchip"]["bd_rate_percent"]
        bd_txt = f"BD-rate vs x265: {bd:+.0f}%" if bd is not None else "BD-rate vs x265: no overlap"
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (whole file / stream)")
        ax.set_ylabel("RGB PSNR (dB)")
        ax.set_title(f"{c['clip']} {c['width']}x{c['height']}, {c['frames']} frames\n{bd_txt}",
                     fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Rate-distortion: RGB PSNR on both sides, baselines coded yuv444p\n"
                 + _subtitle(rd), fontsize=9)
    return _save(fig, out_dir / "rd.png")


def speed_quality_plot(rd: dict, out_dir: Path) -> Path:
    """Encode seconds per frame against PSNR, every codec, every clip."""
    clips = rd["clips"]
    fig, ax = plt.subplots(figsize=(7, 4.8))
    markers = ["o", "s", "^", "D", "v"]
    for i, c in enumerate(clips):
        m = markers[i % len(markers)]
        for codec in ("x264", "x265", "siedd"):
            rows = sorted(c[codec], key=lambda r: r["psnr"])
            ax.plot([r["encode_seconds"] / c["frames"] for r in rows], [r["psnr"] for r in rows],
                    marker=m, ls="-" if codec == "siedd" else ":", color=COLORS[codec], ms=5,
                    label=f"{codec} - {c['clip']}")
    ax.set_xscale("log")
    ax.set_xlabel("encode seconds per frame (log)")
    ax.set_ylabel("RGB PSNR (dB)")
    ax.set_title("Encode speed against quality (RGB PSNR)\n" + _subtitle(rd), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=len(clips), loc="best")
    return _save(fig, out_dir / "speed_quality.png")


def decode_plot(dec: dict, out_dir: Path) -> Path:
    rows = dec["sizes"]
    fig, ax = plt.subplots(figsize=(7, 4.8))
    mp = [r["pixels"] / 1e6 for r in rows]
    series = [("ort_group_fps", "ONNX Runtime, group-amortised (features cached)", "tab:red", "o-"),
              ("ort_stream_fps", "ONNX Runtime, whole clip incl. encoder features", "tab:orange", "o--"),
              ("torch_group_fps", "PyTorch, group-amortised", "tab:blue", "s-"),
              ("ort_frame_fps", "ONNX Runtime, frame at a time (reference's way)", "tab:gray", "^-"),
              ("torch_frame_fps", "PyTorch, frame at a time", "black", "v")]
    for key, label, color, style in series:
        pts = [(x, r[key]) for x, r in zip(mp, rows) if r.get(key)]
        if pts:
            ax.plot(*zip(*pts), style, color=color, label=label, ms=5)
    for x, r in zip(mp, rows):
        ax.annotate(f"{r['width']}x{r['height']}", (x, r["ort_group_fps"]),
                    textcoords="offset points", xytext=(4, 4), fontsize=7)
    goal = dec.get("goal")
    if goal and goal.get("fps"):
        ax.axhline(goal["fps"], color="tab:green", lw=1, ls=":",
                   label=f"goal: {goal['size'][0]}x{goal['size'][1]} >= {goal['fps']} fps "
                         f"(preset {goal['preset'].upper()})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("output megapixels per frame (log)")
    ax.set_ylabel("decoded frames per second (log)")
    ax.set_title(f"Decode speed, preset {dec['sizes_preset'].upper()}\n" + _subtitle(dec),
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, out_dir / "decode_fps.png")


def encode_scaling_plot(enc: dict, out_dir: Path) -> Path | None:
    parts = [(k, enc[k]) for k in ("scaling_frames", "scaling_size") if enc.get(k)]
    if not parts:
        return None
    fig, axes = plt.subplots(1, len(parts), figsize=(5.5 * len(parts), 4.2), squeeze=False)
    for ax, (key, part) in zip(axes[0], parts):
        rows = part["rows"]
        x = [r["frames"] if key == "scaling_frames" else r["pixels"] / 1e6 for r in rows]
        for field, label, color in (("seconds", "total", "black"),
                                    ("phase1_seconds", "phase 1", "tab:blue"),
                                    ("phase2_seconds", "phase 2", "tab:red"),
                                    ("read_and_write_seconds", "read, export, write", "tab:gray")):
            ax.plot(x, [r[field] for r in rows], "o-", color=color, label=label, ms=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels([str(r["frames"]) if key == "scaling_frames"
                            else f"{r['width']}x{r['height']}" for r in rows], fontsize=7)
        ax.minorticks_off()
        ax.set_xlabel("frames" if key == "scaling_frames" else "frame size (log of pixels)")
        ax.set_ylabel("encode seconds")
        c = part["config"]
        st = c.get("set", {})
        what = (f"{c['clip']} at {rows[0]['width']}x{rows[0]['height']}" if key == "scaling_frames"
                else f"{c['clip']}, {rows[0]['frames']} frames")
        ax.set_title(f"Encode cost against {'frame count' if key == 'scaling_frames' else 'resolution'}"
                     f" - {what}\n{c['preset']} d={st.get('hidden', '?')}, "
                     f"{st.get('anchor_steps', '?')} + {st.get('steps', '?')} steps/group, "
                     f"samples/step {rows[0]['samples_per_step']}..{rows[-1]['samples_per_step']}",
                     fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, out_dir / "encode_scaling.png")


def ablation_plot(ab: dict, out_dir: Path, name: str = "ablation",
                  title: str = "Ablation of the rate levers: widths") -> Path:
    """RD curves of every ablation row and x265, one panel per clip (a row that skipped a clip
    has no curve there)."""
    clips = ab["clips"]
    fig, axes = plt.subplots(1, len(clips), figsize=(5.2 * len(clips), 4.4), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, c in zip(axes[0], clips):
        x = sorted(c["x265"], key=lambda r: r["bpp"])
        ax.plot([r["bpp"] for r in x], [r["psnr"] for r in x], "o:", ms=3, color=COLORS["x265"],
                label="x265 medium, yuv444p")
        for i, row in enumerate(ab["rows"]):
            if c["clip"] not in row["points"]:
                continue
            pts = sorted(row["points"][c["clip"]], key=lambda r: r["bpp"])
            color = "black" if row["key"] == ab["today"] else cmap(i / max(1, len(ab["rows"]) - 1))
            ax.plot([p["bpp"] for p in pts], [p["psnr"] for p in pts], "s-", ms=4, color=color,
                    label=f"{row['key']} ({ab['bd'][row['key']][c['clip']]['vs_today']:+.0f}%)"
                    if ab["bd"][row["key"]][c["clip"]]["vs_today"] is not None else row["key"])
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (whole file)")
        ax.set_ylabel("RGB PSNR (dB)")
        ax.set_title(f"{c['clip']} {c['size'][0]}x{c['size'][1]}, {c['frames']} frames\n"
                     "(BD-rate vs today in the legend)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"{title} " + ", ".join(map(str, ab["widths"])) + "\n" + _subtitle(ab),
                 fontsize=9)
    return _save(fig, out_dir / f"{name}.png")


def families_plot(fam: dict, out_dir: Path) -> Path:
    """RD curves of x265, SIEDD and grid, one panel per clip."""
    clips = fam["clips"]
    fig, axes = plt.subplots(1, len(clips), figsize=(4.6 * len(clips), 4.2), squeeze=False)
    for ax, c in zip(axes[0], clips):
        for key, label, style, color in (("x265", "x265 medium, yuv444p", "o:", COLORS["x265"]),
                                         ("siedd", "siedd SIEDD", "s-", "tab:blue"),
                                         ("grid", "siedd grid", "D-", "tab:red")):
            pts = sorted(c[key], key=lambda r: r["bpp"])
            ax.plot([p["bpp"] for p in pts], [p["psnr"] for p in pts], style, ms=4, color=color,
                    label=label)
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (whole file)")
        ax.set_ylabel("RGB PSNR (dB)")
        note = f" ({c['note']})" if c.get("note") else ""
        ax.set_title(f"{c['clip']} {c['size'][0]}x{c['size'][1]}{note}, {c['frames']} frames",
                     fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Model families against x265\n" + _subtitle(fam), fontsize=9)
    return _save(fig, out_dir / "families.png")


def memory_plot(mem: dict, out_dir: Path) -> Path:
    """Peak resident memory of `siedd encode` against the number of frames."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for code, style, label in (("now", "o-", "siedd (frames read on demand)"),
                               ("before", "s:", "before (the whole clip in memory)")):
        rows = sorted((r for r in mem["rows"] if r["code"] == code), key=lambda r: r["frames"])
        if rows:
            ax.plot([r["frames"] for r in rows], [r["peak_rss_mib"] for r in rows], style,
                    label=label + (f" {rows[0]['commit']}" if rows[0].get("commit") else ""))
            for r in rows:
                if r.get("killed"):
                    ax.annotate("killed: out of memory", (r["frames"], r["peak_rss_mib"]),
                                textcoords="offset points", xytext=(-105, -14), fontsize=7)
    ax.set_xscale("log")
    frames = sorted({r["frames"] for r in mem["rows"]})
    ax.set_xticks(frames, [f"{f:,}" for f in frames])
    ax.minorticks_off()
    ax.set_xlabel("frames encoded")
    ax.set_ylabel("peak resident memory (MiB)")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="center left")
    ax.set_title(f"siedd encode --preset {mem['preset']}, {mem['clip']} {mem['size'][0]}x"
                 f"{mem['size'][1]}\n" + _subtitle(mem), fontsize=9)
    return _save(fig, out_dir / "memory.png")


def scale_plot(sc: dict, out_dir: Path) -> Path:
    """One process against torchrun ranks: each way's wall time, split into its phases."""
    rows = sc["rows"]
    fig, ax = plt.subplots(figsize=(5.6, 3.2))
    names = [r["way"] for r in rows]
    p1 = [r["phase1_seconds"] for r in rows]
    p2 = [r["phase2_seconds"] for r in rows]
    rest = [max(0.0, r["wall_seconds"] - a - b) for r, a, b in zip(rows, p1, p2)]
    ax.barh(names, p1, label="phase 1 (rank 0)")
    ax.barh(names, p2, left=p1, label="phase 2")
    ax.barh(names, rest, left=[a + b for a, b in zip(p1, p2)],
            label="start, read, write, measure", color="0.75")
    ax.invert_yaxis()
    ax.set_xlim(0, 2.1 * max(r["wall_seconds"] for r in rows))     # room for the legend
    ax.set_xlabel("wall seconds")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"siedd encode --preset {sc['preset']}, {sc['clip']} {sc['size'][0]}x"
                 f"{sc['size'][1]}, {sc['frames']} frames\n" + _subtitle(sc), fontsize=9)
    return _save(fig, out_dir / "scale.png")


def make_all(results: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    if results.get("rd"):
        made += [rd_plot(results["rd"], out_dir), speed_quality_plot(results["rd"], out_dir)]
    if results.get("decode") and results["decode"].get("sizes"):
        made.append(decode_plot(results["decode"], out_dir))
    if results.get("encode"):
        p = encode_scaling_plot(results["encode"], out_dir)
        if p:
            made.append(p)
    if results.get("ablation") and results["ablation"].get("rows"):
        made.append(ablation_plot(results["ablation"], out_dir))
    if results.get("families") and results["families"].get("clips"):
        made.append(families_plot(results["families"], out_dir))
    if results.get("grid_ablation") and results["grid_ablation"].get("rows"):
        made.append(ablation_plot(results["grid_ablation"], out_dir, "grid_ablation",
                                  "Ablation of the grid family's levers: --quality"))
    if results.get("memory") and results["memory"].get("rows"):
        made.append(memory_plot(results["memory"], out_dir))
    if results.get("scale") and results["scale"].get("rows"):
        made.append(scale_plot(results["scale"], out_dir))
    return made
