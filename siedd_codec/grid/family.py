"""The latent-grid family behind the family interface (siedd_codec/families.py).

File layout (docs/FORMAT.md, "Model family grid"): META model = {"family": "grid", "preset",
"group_size", "levels": [[scale, knots], ...], "synthesis": [widths], "motion": 0 or 1 (format
6.0 on; absent: 0)}; NORM empty; GENC the shared graph, GDEC the frame graph (grid/graphs.py);
WENC empty; each WGRP the group's tensor set (tensor_codec format 2, spec.group_shapes order):
latents with step 1, synthesis with its steps, with motion each frame's translation.
"""
from __future__ import annotations

import functools
import time

from . import spec
from .preset import quality_to_lambda  # noqa: F401  (the family's --quality scale)

NAME = "grid"
USES_NORM = False
MAX_GROUP_LATENTS = 1 << 28
MOTION_NOTE = ", global motion (where a group moves, its shared levels are read every frame)"


def validate_model(model: dict, meta: dict, major: int, require, int_in) -> None:
    require(major >= 2, "grid models need format 2")
    levels, synthesis = model.get("levels"), model.get("synthesis")
    require(isinstance(levels, list) and all(
        isinstance(v, list) and len(v) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in v) for v in levels),
        "model.levels invalid")
    require(isinstance(synthesis, list), "model.synthesis invalid")
    try:
        spec.check_levels([tuple(v) for v in levels])
        spec.check_synthesis(synthesis)
    except ValueError as exc:
        require(False, f"model: {exc}")
    require(any(k == 1 for _, k in levels) and any(k != 1 for _, k in levels),
            "model.levels needs shared and per-frame levels")
    if "motion" in model:
        require(major >= 6, "global motion needs format 6")
        int_in(model, "motion", 0, 1, "model")
    video = meta["video"]
    count = spec.latent_count([tuple(v) for v in levels], video["width"], video["height"],
                              model["group_size"])
    require(count <= MAX_GROUP_LATENTS, "model's grids are too large")


# newest first: the writer writes the first. Global motion has its own (grid/graphs.py).
GRAPH_VERSIONS = (2, 1)
MOTION_GRAPH_VERSIONS = (3,)


@functools.lru_cache(maxsize=16)
def _graphs(levels: tuple, synthesis: tuple, version: int) -> tuple[bytes, bytes]:
    from .graphs import frame_graph, shared_graph
    levels, synthesis = [tuple(v) for v in levels], list(synthesis)
    return (shared_graph(levels, synthesis, 3 if version == 3 else 2),
            frame_graph(levels, synthesis, version))


def versions(meta: dict) -> tuple[int, ...]:
    return MOTION_GRAPH_VERSIONS if meta["model"].get("motion", 0) else GRAPH_VERSIONS


def graphs(meta: dict) -> list[tuple[bytes, bytes]]:
    """The (GENC, GDEC) graphs siedd builds for META's model, one pair per graph version this
    reader renders for it (FORMAT.md, "Graph versions")."""
    model = meta["model"]
    levels = tuple(tuple(v) for v in model["levels"])
    return [_graphs(levels, tuple(model["synthesis"]), v) for v in versions(meta)]


def graph_version(sf) -> int:
    """The graph version of a file read by container.read (its graphs are siedd's own bytes)."""
    for version, pair in zip(versions(sf.meta), graphs(sf.meta)):
        if sf.decoder_graph == pair[1]:
            return version
    raise ValueError("graphs not built by this siedd")


def open_renderer(sf, device: str = "auto", threads: int = 0, feature_cache_bytes: int = 0):
    from .render import GridRenderer
    return GridRenderer(sf, device, threads)


def groups(video, preset) -> list[tuple[int, int]]:
    """Runs of group_size frames, a new one at every scene cut unless the preset says not:
    a group's shared planes serve one shot."""
    from ..training import plan_groups
    cuts = video.scene_cuts() if preset.scene_cuts else ()
    return plan_groups(len(video), preset.group_size, cuts)


def plan(video, preset, target_bytes, choose_width, info):
    """-> (preset, the bits the coded groups may take, or None)."""
    if target_bytes is None:
        return preset, None
    from .. import container
    from ..errors import SieddInputError
    ranges = groups(video, preset)
    skeleton = build_file({"codes": [{}] * len(ranges), "groups": ranges}, video, preset, info,
                          coded=False)
    fixed = len(container.to_bytes(skeleton))
    if target_bytes <= fixed * 1.2:
        raise SieddInputError(f"target of {target_bytes} bytes is too small: the file's "
                              f"fixed parts alone take {fixed} bytes")
    return preset, 8.0 * (target_bytes - fixed)


def train(video, preset, budget_bits, device, seed, progress, state, log, info, job=None):
    from ..training import resolve_device
    from .train import GridTrainer
    dev = resolve_device(device)
    t0 = time.perf_counter()
    trainer = GridTrainer(video, preset, dev, seed=seed, state=state, log=log, progress=progress,
                          budget_bits=budget_bits, job=job)
    groups, codes, stats = trainer.run()
    import torch
    stats.update({"device": dev.type, "precision": "fp32", "phase1_seconds": 0.0,
                  "phase2_seconds": time.perf_counter() - t0, "groups": len(groups),
                  "threads": torch.get_num_threads()})
    info.update({"preset": preset.as_dict(), "device": dev.type, "precision": "fp32"})
    if budget_bits is not None:
        info["final_lambda"] = float(f"{stats['final_lambda']:.4g}")
    return {"codes": codes, "groups": groups}, stats


def build_file(trained: dict, video, preset, info: dict, coded: bool = True):
    from .. import container
    from ..tensor_codec import compress, ordered
    levels, synthesis = preset.level_list(), preset.synthesis_widths()
    meta = {
        "video": container.video_meta(video),
        "model": {"family": NAME, "preset": preset.name, "group_size": preset.group_size,
                  "levels": [list(v) for v in levels], "synthesis": synthesis,
                  "motion": int(preset.motion)},
        "quant": {"rate_lambda": preset.rate_lambda, "synthesis_bits": preset.synthesis_bits},
        "encoder": info,
    }
    payloads = []
    for codes, (_, count) in zip(trained["codes"], trained["groups"]):
        if not coded:
            payloads.append(b"")
            continue
        shapes = spec.group_shapes(levels, synthesis, video.width, video.height, count,
                                   bool(preset.motion))
        payloads.append(compress(ordered(codes, shapes)))
    shared, frames = graphs(meta)[0]
    return container.SieddFile(
        meta=meta, norm=None, encoder_graph=shared, decoder_graph=frames, encoder_weights=b"",
        groups=list(trained["groups"]), group_weights=payloads)


def describe(sf) -> dict:
    model = sf.meta["model"]
    levels = [tuple(v) for v in model["levels"]]
    mean_group = sf.frame_count / len(sf.groups)
    motion = bool(model.get("motion", 0))
    # amortised: a still group's; a moving one costs `whole` (its shared levels read per frame)
    whole = spec.macs_per_pixel(levels, model["synthesis"], 1)
    amortized = spec.macs_per_pixel(levels, model["synthesis"], max(1, round(mean_group)))
    shared = len(spec.shared_levels(levels))
    return {"levels": [list(v) for v in levels], "synthesis": list(model["synthesis"]),
            "macs_per_pixel": sum(whole.values()),
            "macs_per_pixel_amortized": sum(amortized.values()),
            "model_summary": f"latent grids: {shared} shared and {len(levels) - shared} "
                             f"per-frame levels{MOTION_NOTE if motion else ''}, "
                             f"synthesis {model['synthesis']}, lambda "
                             f"{sf.meta.get('quant', {}).get('rate_lambda')}"}


def export_onnx(sf, path: str, directory: str) -> list[str]:
    from .export import export_onnx as export
    return export(sf, path, directory)

