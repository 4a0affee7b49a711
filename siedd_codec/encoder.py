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
from .model_spec import (DECODER_LAYERS, ENCODER_LAYERS, OMEGA, PE_OCTAVES, encoder_shapes,
                         group_shapes, tensor_bits)
from .presets import Preset
from .tensor_codec import compress
from .video_io import Video, read_video

def code_tensors(weights: dict[str, np.ndarray], shapes: dict, quant: dict) -> bytes:
    ordered = {}
    for name, shape in shapes.items():
        value = np.asarray(weights[name], dtype=np.float32)
        if value.shape != tuple(shape):
            raise ValueError(f"{name}: shape {value.shape}, expected {shape}")
        ordered[name] = (value, tensor_bits(name, quant))
    return compress(ordered)


def build_file(model, video: Video, preset: Preset, encoder_info: dict) -> container.SieddFile:
    from siedd_export.graphs import decoder_graph, encoder_graph, serialize
    quant = preset.quant()
    d = model.hidden
    meta = {
        "video": {"width": video.width, "height": video.height, "frame_count": len(video),
                  "fps": [video.fps.numerator, video.fps.denominator], "color": video.color,
                  "source": video.source},
        "model": {"preset": preset.name, "hidden": d, "group_size": preset.group_size,
                  "pe_octaves": PE_OCTAVES, "omega": OMEGA, "encoder_layers": ENCODER_LAYERS,
                  "decoder_layers": DECODER_LAYERS},
        "quant": quant,
        "encoder": encoder_info,
    }
    groups = [code_tensors(w, group_shapes(d, count), quant)
              for w, (_, count) in zip(model.groups, model.group_ranges)]
    return container.SieddFile(
        meta=meta, norm=model.norm,
        encoder_graph=serialize(encoder_graph(d)), decoder_graph=serialize(decoder_graph(d)),
        encoder_weights=code_tensors(model.encoder, encoder_shapes(d), quant),
        groups=list(model.group_ranges), group_weights=groups)


def encode(input_path: str, output: str, preset: Preset, start: int = 0,
           frames: int | None = None, size: tuple[int, int] | None = None,
           device: str = "auto", seed: int = 0, resume: bool = False, quiet: bool = False,
           measure: bool = True) -> dict:
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
    log(f"siedd: {video.source}: {len(video)} frames, {video.width}x{video.height} "
        f"@ {float(video.fps):.3f} fps, preset {preset.name}")
    stat = os.stat(input_path)
    fingerprint = {"input": str(Path(input_path).resolve()), "mtime": stat.st_mtime_ns,
                   "size_bytes": stat.st_size, "start": start, "frames": len(video),
                   "shape": [video.width, video.height], "preset": preset.as_dict(), "seed": seed}
    state = ResumeState(out.with_name(out.name + ".partial"), fingerprint, resume)
    trainer = Trainer(video.frames, preset, device=device, seed=seed, quiet=quiet, state=state,
                      log=log)
    model = trainer.run()
    t_train = time.perf_counter() - t0 - t_read
    info = {"software": f"siedd {__version__}", "preset": preset.as_dict(), "seed": seed,
            "device": model.stats["device"], "precision": model.stats["precision"],
            "train_seconds": round(t_train, 3), "start_frame": start}
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
               "groups": len(model.group_ranges),
               "groups_restored": model.stats["groups_restored"]}
    if measure:
        from .reader import SieddReader
        t2 = time.perf_counter()
        with SieddReader(out) as reader:
            summary["psnr"] = mean_psnr(reader, video.frames)
        summary["measure_seconds"] = round(time.perf_counter() - t2, 3)
    return summary
