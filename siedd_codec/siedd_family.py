"""The SIEDD model family behind the family interface (families.py): a shared coordinate encoder
and per-group SIREN decoders (model_spec.py, model.py, training.py, weights.py,
siedd_export.graphs). This module is what the container, the reader, the encoder, `info` and
`export-onnx` call; the pieces themselves stay in their stage modules.

Rendering: the shared encoder's output depends only on the pixel grid, so it is computed once
per output size and cached (up to a memory budget); a group's three shared layers are computed
once for all of the group's frames, whose heads are then one small matrix product. Pixels go
through in chunks, so memory stays bounded at any output size. A group that follows a panning
camera (format 10) is rendered over its canvas, and each frame's window cut out of it
(canvas.py)."""
from __future__ import annotations

import functools
import math
from collections import OrderedDict

import numpy as np
import onnxruntime as ort

from . import canvas
from .errors import SieddInputError
from .model_spec import (DECODER_LAYERS, ENCODER_LAYERS, OMEGA, PE_OCTAVES, QUANT_FIELDS,
                         coordinate_grid, macs_per_pixel)
from .runtime import make_session, session_device
from .weights import (decode_encoder, decode_group, encode_encoder, encode_group, group_shifts,
                      is_key)

NAME = "siedd"
USES_NORM = True
CHUNK_BYTES = 96 << 20          # activation budget of one chunk (per live d-wide tensor)
GROUP_CACHE = 2                 # decoded groups' weights kept (blending across a group border)


def quality_to_lambda(quality: float) -> float:
    from .ratecontrol import quality_to_lambda as q2l
    return q2l(quality)


def validate_model(model: dict, meta: dict, major: int, require, int_in) -> None:
    int_in(model, "hidden", 8, 4096, "model")
    require(model.get("pe_octaves") == PE_OCTAVES and model.get("encoder_layers") == ENCODER_LAYERS
            and model.get("decoder_layers") == DECODER_LAYERS
            and isinstance(model.get("omega"), (int, float)) and math.isclose(model["omega"], OMEGA),
            "model is not a SIEDD network this decoder knows")
    if major == 1:      # format 1 quantised with fixed bit counts; format 2's codes carry theirs
        require(isinstance(meta.get("quant"), dict), "META lacks 'quant'")
        for key in QUANT_FIELDS:
            int_in(meta["quant"], key, 2, 16, "quant")


@functools.lru_cache(maxsize=8)
def _graphs(hidden: int) -> tuple[bytes, bytes]:
    from siedd_export.graphs import decoder_graph, encoder_graph
    return encoder_graph(hidden), decoder_graph(hidden)


def graphs(meta: dict) -> list[tuple[bytes, bytes]]:
    """The (GENC, GDEC) graphs siedd builds for META's model, one pair per graph version this
    reader renders: one so far, the same in formats 1 and 2 (FORMAT.md, "Graph versions")."""
    return [_graphs(meta["model"]["hidden"])]


def describe(sf) -> dict:
    d = sf.hidden
    macs = macs_per_pixel(d)
    mean_group = sf.frame_count / len(sf.groups)
    quant = sf.meta.get("quant", {})
    coding = (f"bits {quant}" if sf.version[0] == 1 else
              f"lambda {quant.get('rate_lambda')}, a key group every {quant.get('key_interval')}")
    moving = sum(group_shifts(payload, count, sf.version, g) is not None
                 for g, (payload, (_, count)) in enumerate(zip(sf.group_weights, sf.groups)))
    if moving:
        coding += f", {moving} of {len(sf.groups)} groups following the camera"
    return {"hidden": d, "encoder_layers": sf.meta["model"]["encoder_layers"],
            "decoder_layers": sf.meta["model"]["decoder_layers"],
            "macs_per_pixel": macs["encoder"] + macs["group_shared"] + macs["head"],
            "macs_per_pixel_amortized": macs["group_shared"] / mean_group + macs["head"],
            "moving_groups": moving,
            "model_summary": f"hidden {d}, {coding}"}


def export_onnx(sf, path: str, directory: str) -> list[str]:
    from siedd_export.standalone import export_onnx as export
    return export(sf, path, directory)


def groups(video, preset) -> list[tuple[int, int]]:
    """Runs of group_size frames, as the paper's method has them."""
    from .training import plan_groups
    return plan_groups(len(video), preset.group_size)


def plan(video, preset, target_bytes, choose_width, info):
    """Rate control's plan before training: -> (preset, budget of the coded weights in bits or
    None). May choose the width."""
    if target_bytes is None:
        return preset, None
    return plan_rate(video, preset, target_bytes, choose_width, info)


def train(video, preset, budget_bits, device, seed, progress, state, log, info, job=None):
    """Train on the video: -> (the trained model, stats)."""
    from .training import Trainer
    trainer = Trainer(video, preset, device=device, seed=seed, progress=progress, state=state,
                      log=log, budget_bits=budget_bits, job=job)
    model = trainer.run()
    stats = dict(model.stats, groups=len(model.group_ranges))
    info.update({"preset": preset.as_dict(), "device": stats["device"],
                 "precision": stats["precision"]})
    if budget_bits is not None:
        info["final_lambda"] = float(f"{stats['final_lambda']:.4g}")
    return model, stats


def build_file(model, video: Video, preset: Preset, encoder_info: dict,
               coded: bool = True) -> container.SieddFile:
    """The file for a trained model; coded=False leaves the weight sections empty (to measure
    the fixed costs before training)."""
    from . import container
    d = model.hidden
    meta = {
        "video": container.video_meta(video),
        "model": {"family": NAME, "preset": preset.name, "hidden": d, "group_size": preset.group_size,
                  "pe_octaves": PE_OCTAVES, "omega": OMEGA, "encoder_layers": ENCODER_LAYERS,
                  "decoder_layers": DECODER_LAYERS},
        "quant": {"steps": "per tensor", "rate_lambda": preset.rate_lambda,
                  "key_interval": preset.key_interval, "head_deltas": preset.head_deltas},
        "encoder": encoder_info,
    }
    if coded:
        encoder_weights = encode_encoder(model.encoder_codes, d)
        groups = [encode_group(codes, d, count, flags, shifts)
                  for codes, (_, count), flags, shifts in zip(
                      model.group_codes, model.group_ranges, model.group_flags,
                      model.group_shifts)]
    else:
        encoder_weights, groups = b"", [b""] * len(model.group_ranges)
    encoder_graph, decoder_graph = graphs(meta)[0]
    return container.SieddFile(
        meta=meta, norm=model.norm, encoder_graph=encoder_graph, decoder_graph=decoder_graph,
        encoder_weights=encoder_weights, groups=list(model.group_ranges), group_weights=groups)


def fixed_bytes(video: Video, preset: Preset, encoder_info: dict) -> int:
    """What the file takes besides the coded weights: header, section table (one entry per
    group too), META, NORM, graphs, group index."""
    skeleton = _skeleton(video, preset, encoder_info, groups(video, preset))
    from . import container
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
    group_count = len(groups(video, preset))

    def budget_at(p: Preset) -> float:
        fixed = fixed_bytes(video, p, encoder_info)
        if target_bytes <= fixed * 1.2:
            raise SieddInputError(f"target of {target_bytes} bytes is too small: the file's "
                                  f"fixed parts alone take {fixed} bytes")
        return 8.0 * (target_bytes - fixed)
    budget = budget_at(preset)
    if choose_width:
        share = encoder_share(encoder_weight_count(preset.hidden),
                              group_weight_count(preset.hidden, preset.group_size), group_count)
        width = pick(budget * (1 - share) / group_count, preset.group_size,
                     largest=max(64, 2 * preset.hidden))
        preset = preset.replace(hidden=width)
        budget = budget_at(preset)
    return preset, budget


class Renderer:
    """render_group(g, width, height, frames) -> (K, H, W, 3) uint8 of a SIEDD file."""

    def __init__(self, sf, device: str = "auto", threads: int = 0,
                 feature_cache_bytes: int = 1 << 30):
        self._file = sf
        self._hidden = sf.hidden
        encoder_weights = decode_encoder(sf.encoder_weights, self._hidden, sf.version)
        self._encoder = make_session(sf.encoder_graph, device, threads)
        self._decoder = make_session(sf.decoder_graph, device, threads)
        self.device = session_device(self._decoder)
        self._ort_device = "cuda" if self.device == "cuda" else "cpu"
        self._encoder_weights = {k: self._on_device(v) for k, v in encoder_weights.items()}
        self._cached_bytes = 0
        self._feature_cache: dict[tuple[int, int], list] = {}
        self._feature_cache_bytes = feature_cache_bytes
        self._weights_cache: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()

    def close(self) -> None:
        self._feature_cache.clear()
        self._cached_bytes = 0
        self._weights_cache.clear()
        self._encoder = self._decoder = None

    def _on_device(self, array: np.ndarray) -> ort.OrtValue:
        """Inputs live where the session runs: on the GPU they are uploaded once, not per run."""
        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), self._ort_device, 0)

    def group_weights(self, g: int) -> dict[str, np.ndarray]:
        """Group g's weights. A predicted group adds to the group before it: seeking decodes
        the weights (not the pictures) of its chain from the last key group on."""
        sf = self._file
        if g in self._weights_cache:
            self._weights_cache.move_to_end(g)
            return self._weights_cache[g]
        start = g
        while start not in self._weights_cache and \
                not is_key(sf.group_weights[start], sf.version, start):
            start -= 1
        for k in range(start, g + 1):
            if k in self._weights_cache:
                continue
            first, count = sf.groups[k]
            previous = self._weights_cache.get(k - 1)
            weights = decode_group(sf.group_weights[k], self._hidden, count, sf.version, k,
                                   previous)
            weights["frame_mean"] = np.ascontiguousarray(sf.norm[first:first + count, 0])
            weights["frame_std"] = np.ascontiguousarray(sf.norm[first:first + count, 1])
            self._weights_cache[k] = weights
            while len(self._weights_cache) > GROUP_CACHE:
                self._weights_cache.popitem(last=False)
        return self._weights_cache[g]

    def _chunk_pixels(self) -> int:
        return max(1024, CHUNK_BYTES // (4 * self._hidden))

    def _features(self, width: int, height: int, box: canvas.Box | None = None):
        """Yields (start, stop, features as an OrtValue on the session's device) over the grid
        (or the canvas `box` around it), from the cache where possible."""
        key = (width, height, box)
        if box is not None and key not in self._feature_cache:
            # one canvas at a time: a group's, for the frames asked of it one by one
            for old in [k for k in self._feature_cache if k[2] is not None]:
                self._cached_bytes -= sum(4 * self._hidden * v.shape()[0]
                                          for v in self._feature_cache.pop(old))
        cached = self._feature_cache.setdefault(key, [])
        n = width * height if box is None else box.rows * box.cols
        step = self._chunk_pixels()
        coords = None
        for index, start in enumerate(range(0, n, step)):
            stop = min(n, start + step)
            if index < len(cached):
                yield start, stop, cached[index]
                continue
            if coords is None:
                coords = coordinate_grid(width, height, box)
            binding = self._encoder.io_binding()
            binding.bind_ortvalue_input("coords", self._on_device(coords[start:stop]))
            for name, value in self._encoder_weights.items():
                binding.bind_ortvalue_input(name, value)
            binding.bind_output("features", self._ort_device)
            self._encoder.run_with_iobinding(binding)
            feats = binding.get_outputs()[0]
            size = (stop - start) * self._hidden * 4
            if index == len(cached) and self._cached_bytes + size <= self._feature_cache_bytes:
                cached.append(feats)
                self._cached_bytes += size
            yield start, stop, feats

    def group_shifts(self, g: int) -> np.ndarray | None:
        """Group g's motion (its frames' shifts in source pixels), or None."""
        sf = self._file
        return group_shifts(sf.group_weights[g], sf.groups[g][1], sf.version, g)

    def render_group(self, g: int, width: int, height: int, frames: slice | None = None
                     ) -> np.ndarray:
        weights = self.group_weights(g)
        shifts = self.group_shifts(g)
        if frames is not None:
            weights = dict(weights)
            for key in ("heads.w", "heads.b", "frame_mean", "frame_std"):
                weights[key] = weights[key][frames]
        if shifts is None:
            return self._decode(weights, width, height).reshape(-1, height, width, 3)
        shifts = canvas.scaled_shifts(shifts, width, height, self._file.width, self._file.height)
        box = canvas.box(shifts, width, height)     # every frame's, so a frame alone reads alike
        if frames is not None:
            shifts = shifts[frames]
        moved = self._decode(weights, width, height, box).reshape(-1, box.rows, box.cols, 3)
        return canvas.cut_windows(moved, shifts, box, width, height)

    def _decode(self, weights: dict, width: int, height: int, box: canvas.Box | None = None
                ) -> np.ndarray:
        """The frames `weights` hold over the picture's grid (or the canvas `box`):
        (K, pixels, 3) uint8."""
        inputs = {name: self._on_device(value) for name, value in weights.items()}
        count = weights["heads.w"].shape[0]
        n = width * height if box is None else box.rows * box.cols
        out = np.empty((count, n, 3), dtype=np.uint8)
        for start, stop, feats in self._features(width, height, box):
            binding = self._decoder.io_binding()
            binding.bind_ortvalue_input("features", feats)
            for name, value in inputs.items():
                binding.bind_ortvalue_input(name, value)
            binding.bind_output("frames", "cpu")
            self._decoder.run_with_iobinding(binding)
            out[:, start:stop] = binding.copy_outputs_to_cpu()[0]
        return out


def open_renderer(sf, device: str = "auto", threads: int = 0,
                  feature_cache_bytes: int = 1 << 30) -> Renderer:
    return Renderer(sf, device, threads, feature_cache_bytes)
