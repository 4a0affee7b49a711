"""`siedd export-onnx` for a latent-grid file: per group, the shared and the frame graph with
the group's latents and synthesis baked in (dequantised, float32; per-frame levels already
placed in time), plus siedd_onnx.json telling how to call them. Needs the onnx package."""
from __future__ import annotations

import json
from pathlib import Path

from ..fsutil import atomic_write_bytes
from .render import GridRenderer
from . import spec

RECIPE = """\
Output picture H x W, rendered in bands of rows [r0, r1) (one band may be the whole picture).
1. Taps, for every level scale S listed in "scales", from the level's grid size (h, w):
   rows: pos = i * float32((h-1)/(H-1)) for output row i (0 when H or h is 1), float32;
   rows0_sS = min(floor(pos), h-1), rows1_sS = min(rows0_sS + 1, h-1) (int64, the band's rows),
   wy_sS = pos - rows0_sS shaped (rows, 1); the same over W and w gives cols0_sS, cols1_sS and
   wx_sS shaped (W, 1) (all W columns).
2. shared_z = shared_XXXXX.onnx(taps of the shared levels' scales)["shared_z"]
   (graph_version 3: its output is "shared_v", and goes to the frame graph under that name.)
   With "motion" (a group's list of (dy, dx) per frame, source pixels; graph_version 3): it is
   made anew for each frame k, from the shared levels' taps with
   pos = i * float32((h-1)/(H-1)) + off, off = float32(dy_k * float32((h-1)/(source height-1)))
   (float32 throughout; dx_k, w and the source width alike), pos clamped to [0, h-1],
   rows0_sS = floor(pos).
3. graph_versions 2 and 3: for each frame k of the group's K,
   frames_XXXXX.onnx(taps of the per-frame levels' scales, shared_z (or shared_v),
   frame=[k] int64)["frames"]
   -> (1, rows, W, 3) uint8 RGB, frame k;
   graph_version 1: frames_XXXXX.onnx(taps of the per-frame levels' scales, shared_z)["frames"]
   -> (K, rows, W, 3) uint8 RGB, every frame at once.
"""


def export_onnx(sf, path: str, directory: str) -> list[str]:
    from siedd_export.graphs import bake_weights, serialize
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{directory}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    renderer = GridRenderer(sf, device="cpu")
    written, groups = [], []
    for g in range(len(sf.group_weights)):
        first, count = sf.groups[g]
        weights = renderer.group_weights(g)
        w0 = weights["syn.w0"]
        shared = {f"lat{i}": weights[f"lat{i}"] for i in renderer.shared}
        frames = renderer.frame_latents(weights, count, slice(None))
        if renderer.graph_version == 3:
            frames["syn.w0"] = w0[renderer.frame + renderer.shared]
            frames["syn.b0"] = weights["syn.b0"]
        else:
            shared.update({"syn.w0s": w0[renderer.shared], "syn.b0": weights["syn.b0"]})
            frames["syn.w0f"] = w0[renderer.frame]
        for j in range(1, len(renderer.synthesis) + 1):
            frames[f"syn.w{j}"] = weights[f"syn.w{j}"]
            frames[f"syn.b{j}"] = weights[f"syn.b{j}"]
        names = (f"shared_{g:05d}.onnx", f"frames_{g:05d}.onnx")
        atomic_write_bytes(out / names[0], serialize(bake_weights(sf.encoder_graph, shared)))
        atomic_write_bytes(out / names[1], serialize(bake_weights(sf.decoder_graph, frames)))
        written += names
        entry = {"shared": names[0], "frames": names[1], "first_frame": first,
                 "frame_count": count}
        if renderer.motion:
            entry["motion"] = weights["motion"].tolist()
        groups.append(entry)
    renderer.close()
    scales = {}
    for scale in sorted({s for s, _ in renderer.levels}):
        h, w = spec.grid_dims(sf.width, sf.height, scale)
        scales[str(scale)] = {"h": h, "w": w}
    recipe = {
        "format": "siedd-onnx", "family": "grid", "graph_version": renderer.graph_version,
        "source": str(path), "width": sf.width,
        "height": sf.height, "frame_count": sf.readable_frames,
        "fps": [sf.fps.numerator, sf.fps.denominator], "scales": scales,
        "shared_level_scales": [renderer.levels[i][0] for i in renderer.shared],
        "frame_level_scales": [renderer.levels[i][0] for i in renderer.frame],
        "groups": groups, "how_to_call": RECIPE.splitlines(),
    }
    atomic_write_bytes(out / "siedd_onnx.json", (json.dumps(recipe, indent=2) + "\n").encode())
    written.append("siedd_onnx.json")
    return written
