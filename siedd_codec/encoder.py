"""The encode pipeline, one way: input video -> training -> ONNX graphs + quantised,
entropy-coded weights -> one .siedd file -> (decoded back) summary."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__, container
from .errors import SieddInputError
from .fsutil import same_file
from .metrics import bpp, mean_psnr
from .model_spec import DECODER_LAYERS, ENCODER_LAYERS, OMEGA, PE_OCTAVES
from .presets import Preset
from .video_io import Video, read_video
from .weights import encode_encoder, encode_group


def build_file(model, video: Video, preset: Preset, encoder_info: dict,
               coded: bool = True) -> container.SieddFile:
    """The file for a trained model; coded=False leaves the weight sections empty (to measure
    the fixed costs before training)."""
    from siedd_export.graphs import decoder_graph, encoder_graph, serialize
    d = model.hidden
    meta = {
        "video": {"width": video.width, "height": video.height, "frame_count": len(video),
                  "fps": [video.fps.numerator, video.fps.denominator], "color": video.color,
                  "source": video.source},
        "model": {"preset": preset.name, "hidden": d, "group_size": preset.group_size,
                  "pe_octaves": PE_OCTAVES, "omega": OMEGA, "encoder_layers": ENCODER_LAYERS,
                  "decoder_layers": DECODER_LAYERS},
        "quant": {"steps": "per tensor", "rate_lambda": preset.rate_lambda,
                  "key_interval": preset.key_interval, "head_deltas": preset.head_deltas},
        "encoder": encoder_info,
    }
    if coded:
        encoder_weights = encode_encoder(model.encoder_codes, d)
        groups = [encode_group(codes, d, count, flags)
                  for codes, (_, count), flags in zip(model.group_codes, model.group_ranges,
                                                      model.group_flags)]
    else:
        encoder_weights, groups = b"", [b""] * len(model.group_ranges)
    return container.SieddFile(
        meta=meta, norm=model.norm,
        encoder_graph=serialize(encoder_graph(d)), decoder_graph=serialize(decoder_graph(d)),
        encoder_weights=encoder_weights, groups=list(model.group_ranges), group_weights=groups)


def fixed_bytes(video: Video, preset: Preset, encoder_info: dict) -> int:
    """What the file takes besides the coded weights: header, section table (one entry per
    group too), META, NORM, graphs, group index."""
    from .training import plan_groups
    groups = plan_groups(len(video), preset.group_size)
    skeleton = _skeleton(video, preset, encoder_info, groups)
    return len(container.to_bytes(skeleton))


def _skeleton(video, preset, encoder_info, groups):
    from types import SimpleNamespace
    model = SimpleNamespace(hidden=preset.hidden, group_ranges=groups,
                            norm=np.ones((len(video), 2), np.float32))
    return build_file(model, video, preset, encoder_info, coded=False)


def plan_rate(video: Video, preset: Preset, target_bytes: int, choose_width: bool,
              encoder_info: dict) -> tuple[Preset, float]:
    """Rate control's plan: the width (when it is ours to choose) and the bits the coded
    weights may take. Raises SieddInputError when the target cannot hold the file's fixed
    parts."""
    from .model_spec import encoder_weight_count, group_weight_count
    from .ratecontrol import choose_width as pick, encoder_share
    from .training import plan_groups
    groups = plan_groups(len(video), preset.group_size)

    def budget_at(p: Preset) -> float:
        fixed = fixed_bytes(video, p, encoder_info)
        if target_bytes <= fixed * 1.2:
            raise SieddInputError(f"target of {target_bytes} bytes is too small: the file's "
                                  f"fixed parts alone take {fixed} bytes")
        return 8.0 * (target_bytes - fixed)
    budget = budget_at(preset)
    if choose_width:
        share = encoder_share(encoder_weight_count(preset.hidden),
                              group_weight_count(preset.hidden, preset.group_size), len(groups))
        width = pick(budget * (1 - share) / len(groups), preset.group_size,
                     largest=max(64, 2 * preset.hidden))
        preset = preset.replace(hidden=width)
        budget = budget_at(preset)
    return preset, budget


def encode(input_path: str, output: str, preset: Preset, start: int = 0,
           frames: int | None = None, size: tuple[int, int] | None = None,
           device: str = "auto", seed: int = 0, resume: bool = False, quiet: bool = False,
           measure: bool = True, target_bpp: float | None = None,
           target_bytes: int | None = None, choose_width: bool = False) -> dict:
    """Encode a video. Rate control: target_bpp or target_bytes sets the file's size (and,
    with choose_width, lets rate control pick the width); otherwise the preset's rate_lambda
    (the --quality knob) sets the trade."""
    from .training import ResumeState, Trainer   # torch: the encoder's dependency only

    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr)

    out = Path(output)
    if same_file(input_path, out) or Path(input_path).resolve() == out.resolve():
        raise SieddInputError(f"{output}: refusing to overwrite the input")
    if out.is_dir():
        raise SieddInputError(f"{output}: is a folder")
    if not out.parent.resolve().is_dir():
        raise SieddInputError(f"{out.parent}: no such folder")
    t0 = time.perf_counter()
    video = read_video(input_path, start=start, frames=frames, size=size)
    t_read = time.perf_counter() - t0
    if target_bpp is not None:
        target_bytes = round(target_bpp * len(video) * video.width * video.height / 8)
    budget_bits = None
    info = {"software": f"siedd {__version__}", "preset": preset.as_dict(), "seed": seed,
            "device": "cuda", "precision": "fp32", "train_seconds": 1000.0, "start_frame": start}
    if target_bytes is not None:
        info["target_bytes"] = target_bytes
        info["final_lambda"] = 1.0
        preset, budget_bits = plan_rate(video, preset, target_bytes, choose_width, info)
    log(f"siedd: {video.source}: {len(video)} frames, {video.width}x{video.height} "
        f"@ {float(video.fps):.3f} fps, preset {preset.name} (d={preset.hidden})"
        + (f", target {target_bytes} bytes" if target_bytes else ""))
    stat = os.stat(input_path)
    fingerprint = {"input": str(Path(input_path).resolve()), "mtime": stat.st_mtime_ns,
                   "size_bytes": stat.st_size, "start": start, "frames": len(video),
                   "shape": [video.width, video.height], "preset": preset.as_dict(), "seed": seed,
                   "target_bytes": target_bytes}
    state = ResumeState(out.with_name(out.name + ".partial"), fingerprint, resume)
    trainer = Trainer(video.frames, preset, device=device, seed=seed, quiet=quiet, state=state,
                      log=log, budget_bits=budget_bits)
    model = trainer.run()
    t_train = time.perf_counter() - t0 - t_read
    info.update({"preset": preset.as_dict(), "device": model.stats["device"],
                 "precision": model.stats["precision"], "train_seconds": round(t_train, 3)})
    if target_bytes is not None:
        info["final_lambda"] = float(f"{model.stats['final_lambda']:.4g}")
    sf = build_file(model, video, preset, info)
    file_bytes = container.write(out, sf)
    state.clear()
    seconds = time.perf_counter() - t0
    summary = {"input": str(input_path), "output": str(output), "frames": len(video),
               "width": video.width, "height": video.height,
               "fps": float(video.fps), "preset": preset.name, "bytes": file_bytes,
               "bpp": bpp(file_bytes, len(video), video.width, video.height),
               "seconds": round(seconds, 3), "train_seconds": round(t_train, 3),
               "phase1_seconds": round(model.stats["phase1_seconds"], 3),
               "phase2_seconds": round(model.stats["phase2_seconds"], 3),
               "device": model.stats["device"], "precision": model.stats["precision"],
               "groups": len(model.group_ranges), "hidden": preset.hidden,
               "rate_lambda": float(f"{model.stats['final_lambda']:.4g}"),
               "groups_restored": model.stats["groups_restored"]}
    if target_bytes is not None:
        summary["target_bytes"] = target_bytes
    if measure:
        from .reader import SieddReader
        t2 = time.perf_counter()
        with SieddReader(out) as reader:
            summary["psnr"] = mean_psnr(reader, video.frames)
        summary["measure_seconds"] = round(time.perf_counter() - t2, 3)
    return summary
