"""SieddReader: frames of a .siedd file at any size, as HxWx3 uint8 numpy arrays.

Decoding runs the file's own ONNX graphs on ONNX Runtime. Work is amortised the way SIEDD
allows: the shared encoder's output depends only on the pixel grid, so it is computed once per
output size and cached (up to a memory budget); a group's three shared layers are computed once
for all of the group's frames, whose heads are then one small matrix product. Pixels go through
in chunks, so memory stays bounded at any output size. Imports no torch."""
from __future__ import annotations

import math
import os
from collections import OrderedDict
from fractions import Fraction

import numpy as np
import onnxruntime as ort

from . import container
from .errors import SieddError, SieddFormatError
from .model_spec import coordinate_grid
from .runtime import make_session, session_device
from .weights import decode_encoder, decode_group, is_key

MAX_SIDE = 16384
CHUNK_BYTES = 96 << 20          # activation budget of one chunk (per live d-wide tensor)
FEATURE_CACHE_BYTES = 1 << 30   # shared encoder output kept per output size
GROUP_CACHE = 2                 # decoded groups kept (two: blending across a group border)


def parse_size(size) -> tuple[int, int] | None:
    """None, (w, h) or 'WxH' -> (w, h)."""
    if size is None:
        return None
    if isinstance(size, str):
        parts = size.lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise SieddError(f"bad size {size!r}: expected WIDTHxHEIGHT, e.g. 1280x720")
        size = (int(parts[0]), int(parts[1]))
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise SieddError(f"bad size {size!r}: expected a (width, height) pair") from None
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise SieddError(f"bad size {width}x{height}: each side must be in 1..{MAX_SIDE}")
    return width, height


class SieddReader:
    """Frames of a .siedd file.

    reader = SieddReader("clip.siedd", size=(1280, 720))
    len(reader), reader[i], reader[a:b], iter(reader), reader.frame_at(seconds)
    """

    def __init__(self, path, size=None, device: str = "auto", threads: int = 0,
                 feature_cache_bytes: int = FEATURE_CACHE_BYTES):
        self.path = os.fspath(path)
        self._file = container.read(self.path)
        if not self._file.group_weights:
            raise SieddFormatError(f"{self.path}: truncated before its first complete group")
        self._meta = self._file.meta
        self._hidden = self._file.hidden
        self.native_size = (self._file.width, self._file.height)
        self.width, self.height = parse_size(size) or self.native_size
        self.fps: Fraction = self._file.fps
        self.declared_frame_count = self._file.frame_count
        self._groups = self._file.groups[:len(self._file.group_weights)]
        self.frame_count = sum(count for _, count in self._groups)
        self._group_of_frame = np.repeat(np.arange(len(self._groups)),
                                         [count for _, count in self._groups])
        encoder_weights = decode_encoder(self._file.encoder_weights, self._hidden,
                                         self._file.version)
        try:
            self._encoder = make_session(self._file.encoder_graph, device, threads)
            self._decoder = make_session(self._file.decoder_graph, device, threads)
        except SieddError:
            raise
        except Exception as exc:  # onnxruntime's own parse errors
            raise SieddFormatError(f"{self.path}: ONNX graph rejected by ONNX Runtime: "
                                   f"{str(exc).splitlines()[0]}") from None
        self.device = session_device(self._decoder)
        self._ort_device = "cuda" if self.device == "cuda" else "cpu"
        self._encoder_weights = {k: self._on_device(v) for k, v in encoder_weights.items()}
        self._cached_bytes = 0
        self._feature_cache: dict[tuple[int, int], list[np.ndarray]] = {}
        self._feature_cache_bytes = feature_cache_bytes
        self._group_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._weights_cache: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._closed = False

    # -- Python protocol ------------------------------------------------------------------
    def __len__(self) -> int:
        return self.frame_count

    def __getitem__(self, index):
        if isinstance(index, slice):
            indices = range(*index.indices(self.frame_count))
            out = np.empty((len(indices), self.height, self.width, 3), dtype=np.uint8)
            for k, i in enumerate(indices):
                out[k] = self[i]
            return out
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"frame index must be an int or a slice, not {type(index).__name__}")
        i = int(index)
        if i < 0:
            i += self.frame_count
        if not 0 <= i < self.frame_count:
            raise IndexError(f"frame {index} out of range (0..{self.frame_count - 1})")
        g = int(self._group_of_frame[i])
        first, _ = self._groups[g]
        return self.decode_group(g)[i - first].copy()

    def __iter__(self):
        for g, (first, count) in enumerate(self._groups):
            frames = self.decode_group(g)
            for k in range(count):
                yield frames[k].copy()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self._feature_cache.clear()
        self._cached_bytes = 0
        self._group_cache.clear()
        self._weights_cache.clear()
        self._encoder = self._decoder = None
        self._closed = True

    def __repr__(self) -> str:
        return (f"<SieddReader {os.path.basename(self.path)} {self.width}x{self.height} "
                f"{self.frame_count} frames @ {float(self.fps):.3f} fps on {self.device}>")

    # -- metadata ---------------------------------------------------------------------------
    @property
    def duration(self) -> float:
        return float(self.frame_count / self.fps)

    @property
    def truncated(self) -> bool:
        return self._file.truncated

    @property
    def meta(self) -> dict:
        return self._meta

    @property
    def group_count(self) -> int:
        return len(self._groups)

    def group_range(self, g: int) -> tuple[int, int]:
        return self._groups[g]

    # -- decoding -----------------------------------------------------------------------------
    def frame_at(self, seconds: float) -> np.ndarray:
        """The picture at any time. At a frame's own time (i / fps) it is that frame; between
        frames i and i+1 it is the linear blend (1-a) frame_i + a frame_(i+1), a the fraction of
        the interval passed, rounded to 8 bits. Within a group this equals evaluating the blended
        head (heads are linear), up to the 8-bit rounding. Times before 0 or past the last frame
        give the first or last frame."""
        if not math.isfinite(seconds):
            raise ValueError(f"time {seconds} is not finite")
        position = min(max(seconds * float(self.fps), 0.0), self.frame_count - 1.0)
        i = int(math.floor(position))
        a = position - i
        if a < 1e-6 or i + 1 >= self.frame_count:
            return self[i]
        if a > 1 - 1e-6:
            return self[i + 1]
        blend = (1.0 - a) * self[i].astype(np.float32) + a * self[i + 1].astype(np.float32)
        return np.rint(blend).astype(np.uint8)

    def _check_open(self) -> None:
        if self._closed:
            raise SieddError("reader is closed")

    def _on_device(self, array: np.ndarray) -> ort.OrtValue:
        """Inputs live where the session runs: on the GPU they are uploaded once, not per run."""
        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), self._ort_device, 0)

    def _group_weights(self, g: int) -> dict[str, np.ndarray]:
        """Group g's weights. A predicted group adds to the group before it: seeking decodes
        the weights (not the pictures) of its chain from the last key group on."""
        if g in self._weights_cache:
            self._weights_cache.move_to_end(g)
            return self._weights_cache[g]
        start = g
        while start not in self._weights_cache and \
                not is_key(self._file.group_weights[start], self._file.version, start):
            start -= 1
        for k in range(start, g + 1):
            if k in self._weights_cache:
                continue
            first, count = self._groups[k]
            previous = self._weights_cache.get(k - 1)
            weights = decode_group(self._file.group_weights[k], self._hidden, count,
                                   self._file.version, k, previous)
            weights["frame_mean"] = np.ascontiguousarray(self._file.norm[first:first + count, 0])
            weights["frame_std"] = np.ascontiguousarray(self._file.norm[first:first + count, 1])
            self._weights_cache[k] = weights
            while len(self._weights_cache) > GROUP_CACHE:
                self._weights_cache.popitem(last=False)
        return self._weights_cache[g]

    def _chunk_pixels(self) -> int:
        return max(1024, CHUNK_BYTES // (4 * self._hidden))

    def _features(self, width: int, height: int):
        """Yields (start, stop, features as an OrtValue on the session's device) over the grid,
        from the cache where possible."""
        key = (width, height)
        cached = self._feature_cache.setdefault(key, [])
        n = width * height
        step = self._chunk_pixels()
        coords = None
        for index, start in enumerate(range(0, n, step)):
            stop = min(n, start + step)
            if index < len(cached):
                yield start, stop, cached[index]
                continue
            if coords is None:
                coords = coordinate_grid(width, height)
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

    def decode_group(self, g: int) -> np.ndarray:
        """All frames of group g at the reader's size: (count, H, W, 3) uint8. Cached."""
        self._check_open()
        if g in self._group_cache:
            self._group_cache.move_to_end(g)
            return self._group_cache[g]
        frames = self.render_group(g, self.width, self.height)
        self._group_cache[g] = frames
        while len(self._group_cache) > GROUP_CACHE:
            self._group_cache.popitem(last=False)
        return frames

    def render_group(self, g: int, width: int, height: int, heads: slice | None = None
                     ) -> np.ndarray:
        """Render group g (or some of its frames) at any size, bypassing the frame cache."""
        self._check_open()
        weights = self._group_weights(g)
        if heads is not None:
            weights = dict(weights)
            for key in ("heads.w", "heads.b", "frame_mean", "frame_std"):
                weights[key] = weights[key][heads]
        inputs = {name: self._on_device(value) for name, value in weights.items()}
        count = weights["heads.w"].shape[0]
        out = np.empty((count, width * height, 3), dtype=np.uint8)
        for start, stop, feats in self._features(width, height):
            binding = self._decoder.io_binding()
            binding.bind_ortvalue_input("features", feats)
            for name, value in inputs.items():
                binding.bind_ortvalue_input(name, value)
            binding.bind_output("frames", "cpu")
            self._decoder.run_with_iobinding(binding)
            out[:, start:stop] = binding.copy_outputs_to_cpu()[0]
        return out.reshape(count, height, width, 3)
