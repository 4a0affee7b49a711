"""`siedd export-onnx`: a .siedd file as standalone ONNX files with their weights baked in
(dequantised, float32), plus siedd_onnx.json telling how to call them. Any ONNX tool runs them."""
from __future__ import annotations

import json
from pathlib import Path

from siedd_codec.fsutil import atomic_write_bytes
from siedd_codec.model_spec import coordinate_grid
from siedd_codec.weights import decode_encoder, group_shifts, iter_groups

from .graphs import bake_weights, serialize

RECIPE = """\
1. coords: float32 (H*W, 2), rows (y, x), row-major over the output picture, corner aligned:
   pixel index i of n maps to -1 + 2*i/(n-1) (0 when n == 1). Any H, W works.
2. features = encoder.onnx(coords=coords)["features"]            -> (H*W, d)
   The features depend only on the grid: compute them once per output size.
3. For each group file: frames = group_XXXXX.onnx(features=features)["frames"]
   -> (K, H*W, 3) uint8 RGB, K = the group's frame count; reshape to (K, H, W, 3).
   Large pictures: run steps 2-3 on row chunks of coords and concatenate along H*W.
4. A group with "motion" (format 10: a camera's pan; one (dy, dx) per frame, whole source
   pixels) is rendered over a canvas instead: scale each shift to the output picture,
   sy = dy * (H-1)/(source height-1) (0 when H or the source height is 1), sx alike over W;
   top = min(0, floor(min sy)), bottom = max(0, ceil(max sy)) + H - 1 (left, right alike);
   coords of the canvas rows top..bottom and columns left..right by step 1's rule (beyond
   [-1, 1] where they lie outside); steps 2-3 over them give (K, rows, cols, 3); frame k is the
   H x W window at (sy_k - top, sx_k - left) of its canvas picture, read bilinearly where that
   is not a whole pixel (float32 over the uint8 values, rounded half to even).
"""


def export_onnx(sf, path: str, directory: str) -> list[str]:
    """sf: the container.SieddFile read from `path` (a SIEDD-family file)."""
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{directory}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    d = sf.hidden
    written: list[str] = []
    enc_w = decode_encoder(sf.encoder_weights, d, sf.version)
    enc = bake_weights(sf.encoder_graph, enc_w)
    atomic_write_bytes(out / "encoder.onnx", serialize(enc))
    written.append("encoder.onnx")
    groups = []
    for g, weights in iter_groups(sf):
        first, count = sf.groups[g]
        weights = dict(weights)
        weights["frame_mean"] = sf.norm[first:first + count, 0]
        weights["frame_std"] = sf.norm[first:first + count, 1]
        name = f"group_{g:05d}.onnx"
        atomic_write_bytes(out / name, serialize(bake_weights(sf.decoder_graph, weights)))
        written.append(name)
        entry = {"file": name, "first_frame": first, "frame_count": count}
        shifts = group_shifts(sf.group_weights[g], count, sf.version, g)
        if shifts is not None:
            entry["motion"] = shifts.tolist()
        groups.append(entry)
    recipe = {
        "format": "siedd-onnx", "source": str(path), "width": sf.width, "height": sf.height,
        "frame_count": sf.readable_frames,
        "fps": [sf.fps.numerator, sf.fps.denominator], "hidden": d,
        "encoder": {"file": "encoder.onnx", "input": "coords", "output": "features"},
        "decoder_inputs": ["features"], "decoder_output": "frames",
        "groups": groups, "how_to_call": RECIPE.splitlines(),
        # step 1 at the file's own size, its first rows: (y, x) of pixels (0, 0), (0, 1), (0, 2)
        "example_coords_first_rows": coordinate_grid(sf.width, sf.height)[:3].tolist(),
    }
    atomic_write_bytes(out / "siedd_onnx.json", (json.dumps(recipe, indent=2) + "\n").encode())
    written.append("siedd_onnx.json")
    return written


__all__ = ["export_onnx"]
