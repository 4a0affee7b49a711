"""Rendering a latent-grid file: ONNX Runtime runs the file's two graphs on bands of output rows.
Per output size the bilinear taps are computed once; per group and band the shared levels go
through the shared graph once for all of the group's frames (once a frame, at its moved taps,
in a group with global motion), then the frame graph makes the band of each frame (graph
versions 2 and 3) or of all of them at once (version 1, older files). Imports no torch.

On the CPU the bands are rendered side by side, one thread each, by single-threaded sessions:
the graphs are chains of small gathers and element-wise nodes, which ONNX Runtime's own
threads split finely and synchronise after every node; whole bands need no synchronisation
(bigbuckbunny 640x360 with global motion, 2 cores: see bench/results/grid_dev_round7.json)."""
from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import SieddFormatError
from ..runtime import make_session, session_device, usable_cpus
from ..tensor_codec import decompress
from . import spec
from .family import graph_version

BAND_BYTES = 256 << 20      # float32 activations of one band (all its frames); larger bands
                            # run fewer times: 29 fps at 64 MiB, 44 at 256 (640x360, 20 frames)
GROUP_CACHE = 2


class GridRenderer:
    """render_group(g, width, height, frames) -> (K, H, W, 3) uint8 for one model file."""

    def __init__(self, sf, device: str = "auto", threads: int = 0):
        self._file = sf
        model = sf.meta["model"]
        self.levels = [tuple(level) for level in model["levels"]]
        self.synthesis = list(model["synthesis"])
        self.shared = spec.shared_levels(self.levels)
        self.frame = spec.frame_levels(self.levels)
        self.motion = bool(model.get("motion", 0))
        # bands in parallel on the CPU (threads 0: every usable CPU), a band at a time on CUDA
        self.workers = threads if threads > 0 else usable_cpus()
        self._shared_session = make_session(sf.encoder_graph, device, 1)
        self._frame_session = make_session(sf.decoder_graph, device, 1)
        self.device = session_device(self._frame_session)
        if self.device != "cpu":
            self.workers = 1
        self.graph_version = graph_version(sf)
        self._taps: dict[tuple[int, int], dict] = {}
        self._weights: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()

    def close(self) -> None:
        self._weights.clear()
        self._taps.clear()
        self._shared_session = self._frame_session = None

    def group_weights(self, g: int) -> dict[str, np.ndarray]:
        if g in self._weights:
            self._weights.move_to_end(g)
            return self._weights[g]
        _, count = self._file.groups[g]
        shapes = spec.group_shapes(self.levels, self.synthesis, self._file.width,
                                   self._file.height, count, self.motion)
        weights = decompress(self._file.group_weights[g], shapes, f"group {g} weights")
        self._weights[g] = weights
        while len(self._weights) > GROUP_CACHE:
            self._weights.popitem(last=False)
        return weights

    def _scale_taps(self, width: int, height: int, scales, shift=(0.0, 0.0)) -> dict:
        """{scale: (row taps, column taps)} over a width x height output, the levels read
        where a frame moved by shift (dy, dx) places them (spec.motion_offset)."""
        taps = {}
        for scale in sorted(set(scales)):
            h, w = spec.grid_dims(self._file.width, self._file.height, scale)
            taps[scale] = (
                spec.axis_taps(height, h, spec.motion_offset(shift[0], self._file.height, h)),
                spec.axis_taps(width, w, spec.motion_offset(shift[1], self._file.width, w)))
        return taps

    def _axis(self, width: int, height: int) -> dict:
        key = (width, height)
        if key not in self._taps:
            self._taps[key] = self._scale_taps(width, height, [s for s, _ in self.levels])
        return self._taps[key]

    @staticmethod
    def _band_taps(taps: dict, scales, r0: int, r1: int) -> dict[str, np.ndarray]:
        out = {}
        for s in sorted(set(scales)):
            (y0, y1, wy), (x0, x1, wx) = taps[s]
            out.update({f"rows0_s{s}": y0[r0:r1], f"rows1_s{s}": y1[r0:r1],
                        f"wy_s{s}": wy[r0:r1, None], f"cols0_s{s}": x0, f"cols1_s{s}": x1,
                        f"wx_s{s}": wx[:, None]})
        return out

    def frame_latents(self, weights: dict, count: int, frames: slice) -> dict[str, np.ndarray]:
        """Each per-frame level's plane at each of the asked frames, placed in time."""
        out = {}
        picked = range(count)[frames]
        for i in self.frame:
            lat = weights[f"lat{i}"]
            plan = spec.time_weights(self.levels[i][1], count)
            planes = []
            for f in picked:
                a, b, t = plan[f]
                planes.append(lat[a] if t == 0.0 else lat[a] + np.float32(t) * (lat[b] - lat[a]))
            out[f"lat{i}"] = np.ascontiguousarray(np.stack(planes), dtype=np.float32)
        return out

    def render_group(self, g: int, width: int, height: int, frames: slice | None = None
                     ) -> np.ndarray:
        weights = self.group_weights(g)
        _, count = self._file.groups[g]
        frames = frames if frames is not None else slice(None)
        latents = self.frame_latents(weights, count, frames)
        picked = range(count)[frames]
        k = len(picked)
        motion = weights.get("motion")          # (count, 2) source pixels a frame, or None
        if motion is not None and not motion.any():
            motion = None                       # a still group: its shared part made once
        w0 = weights["syn.w0"]
        shared_in = {f"lat{i}": weights[f"lat{i}"] for i in self.shared}
        frame_in = dict(latents)
        if self.graph_version == 3:     # one first layer over all levels (graphs.py)
            frame_in["syn.w0"] = np.ascontiguousarray(w0[self.frame + self.shared])
            frame_in["syn.b0"] = weights["syn.b0"]
            shared_out = "shared_v"
        else:
            shared_in.update({"syn.w0s": w0[self.shared], "syn.b0": weights["syn.b0"]})
            frame_in["syn.w0f"] = w0[self.frame]
            shared_out = "shared_z"
        for j in range(1, len(self.synthesis) + 1):
            frame_in[f"syn.w{j}"] = weights[f"syn.w{j}"]
            frame_in[f"syn.b{j}"] = weights[f"syn.b{j}"]
        taps = self._axis(width, height)
        shared_scales = [self.levels[i][0] for i in self.shared]
        if motion is not None:      # each frame's moved taps of the shared levels, whole axes
            moved = [self._scale_taps(width, height, shared_scales, motion[f]) for f in picked]
        per_row = 4 * width * (k + 1) * (len(self.levels) + max(self.synthesis) + 3)
        band = max(1, min(-(-height // self.workers), BAND_BYTES // self.workers // per_row))
        out = np.empty((k, height, width, 3), dtype=np.uint8)

        def render_band(r0: int) -> None:
            r1 = min(height, r0 + band)
            shared_taps = self._band_taps(taps, shared_scales, r0, r1)
            frame_taps = self._band_taps(taps, [self.levels[i][0] for i in self.frame], r0, r1)
            feeds = {**frame_in, **frame_taps}
            if motion is None:      # the shared levels' part once for all frames of the band
                (feeds[shared_out],) = self._shared_session.run(None, {**shared_in, **shared_taps})
            runs = [(slice(0, k), None)] if self.graph_version == 1 else \
                [(slice(f, f + 1), np.array([f], dtype=np.int64)) for f in range(k)]
            for j, (frames_out, index) in enumerate(runs):
                if index is not None:
                    feeds["frame"] = index
                if motion is not None:    # global motion: the shared levels read anew a frame
                    moved_in = {**shared_in, **self._band_taps(moved[j], shared_scales, r0, r1)}
                    (feeds[shared_out],) = self._shared_session.run(None, moved_in)
                (pixels,) = self._frame_session.run(None, feeds)
                want = (frames_out.stop - frames_out.start, r1 - r0, width, 3)
                if pixels.shape != want:
                    raise SieddFormatError(f"group {g}: the frame graph gave {pixels.shape}")
                out[frames_out, r0:r1] = pixels

        starts = range(0, height, band)
        if self.workers == 1 or len(starts) == 1:
            for r0 in starts:
                render_band(r0)
        else:
            with ThreadPoolExecutor(min(self.workers, len(starts))) as pool:
                list(pool.map(render_band, starts))     # (re-raises a band's error here)
        return out
