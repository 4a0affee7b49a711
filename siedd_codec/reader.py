"""SieddReader: frames of a .siedd file at any size, as HxWx3 uint8 numpy arrays.

Decoding runs the file's own ONNX graphs on ONNX Runtime, through the renderer of the file's
model family (families.py): each amortises what its model shares - per output size and per
group - and renders in chunks, so memory stays bounded at any output size. The reader adds the
frame indexing, the cache of decoded groups and time. Imports no torch."""
from __future__ import annotations

import math
import os
from collections import OrderedDict
from fractions import Fraction

import numpy as np

from . import container
from .errors import SieddError, SieddFormatError
from .families import family_of_meta

MAX_SIDE = 16384
FEATURE_CACHE_BYTES = 1 << 30   # SIEDD: shared encoder output kept per output size
GROUP_CACHE = 2                 # decoded groups kept (two: blending across a group border)
GROUP_BYTES = 256 << 20         # a group's frames decode together up to this size; larger
                                # ones frame by frame, so memory stays bounded at any size


def open_file(source, allow_damaged: bool = False) -> tuple[container.SieddFile, str | None]:
    """The container of a .siedd file that has at least one complete group: (file, its path).
    `source` is a path, or the file's bytes (path None: messages then name no file)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        path, sf = None, container.from_bytes(bytes(source), allow_damaged)
    else:
        path = os.fspath(source)
        sf = container.read(path, allow_damaged)
    if not sf.group_weights:
        damaged = container.GROUP_DAMAGED in sf.group_status
        raise SieddFormatError(located(path, sf.loss() if damaged else
                                       "truncated before its first complete group"))
    return sf, path


def located(path: str | None, text: str) -> str:
    """A message about a file: 'path: text', or the text alone for a file read from memory."""
    return f"{path}: {text}" if path else text


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
    """Frames of a .siedd file, opened by its path or from its bytes (then `path` is None).

    reader = SieddReader("clip.siedd", size=(1280, 720))
    len(reader), reader[i], reader[a:b], iter(reader), reader.frame_at(seconds)
    """

    def __init__(self, source, size=None, device: str = "auto", threads: int = 0,
                 feature_cache_bytes: int = FEATURE_CACHE_BYTES, allow_damaged: bool = False):
        self._file, self.path = open_file(source, allow_damaged)
        self._meta = self._file.meta
        self.family = family_of_meta(self._meta).NAME
        self.native_size = (self._file.width, self._file.height)
        self.width, self.height = parse_size(size) or self.native_size
        self.fps: Fraction = self._file.fps
        self.declared_frame_count = self._file.frame_count
        self._groups = self._file.readable_groups
        self.frame_count = self._file.readable_frames
        self._group_of_frame = np.repeat(np.arange(len(self._groups)),
                                         [count for _, count in self._groups])
        try:
            self._renderer = family_of_meta(self._meta).open_renderer(
                self._file, device, threads, feature_cache_bytes)
        except SieddError:
            raise
        except Exception as exc:  # onnxruntime's own parse errors
            raise SieddFormatError(self.located("ONNX graph rejected by ONNX Runtime: "
                                                f"{str(exc).splitlines()[0]}")) from None
        self.device = self._renderer.device
        self._group_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._frame_cache: tuple[tuple[int, int], np.ndarray] | None = None
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
        if self.frame_count <= i < self.declared_frame_count and self._damaged():
            raise SieddFormatError(self.located(f"frame {i} cannot be decoded: {self.loss}"))
        if not 0 <= i < self.frame_count:
            raise IndexError(f"frame {index} out of range (0..{self.frame_count - 1})")
        g = int(self._group_of_frame[i])
        first, count = self._groups[g]
        if not self._whole_groups(count):
            return self._decode_frame(g, i - first)
        return self.decode_group(g)[i - first].copy()

    def __iter__(self):
        for g, (first, count) in enumerate(self._groups):
            if not self._whole_groups(count):
                for k in range(count):
                    yield self._decode_frame(g, k)
                continue
            frames = self.decode_group(g)
            for k in range(count):
                yield frames[k].copy()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self._group_cache.clear()
        self._frame_cache = None
        if self._renderer is not None:
            self._renderer.close()
        self._renderer = None
        self._closed = True

    def __repr__(self) -> str:
        name = os.path.basename(self.path) if self.path else "(from memory)"
        return (f"<SieddReader {name} {self.width}x{self.height} "
                f"{self.frame_count} frames @ {float(self.fps):.3f} fps on {self.device}>")

    def located(self, text: str) -> str:
        """A message about this file, naming it when it was opened by path."""
        return located(self.path, text)

    # -- metadata ---------------------------------------------------------------------------
    @property
    def duration(self) -> float:
        return float(self.frame_count / self.fps)

    @property
    def truncated(self) -> bool:
        return self._file.truncated

    @property
    def loss(self) -> str | None:
        """Why frames frame_count..declared_frame_count-1 cannot be decoded (a cut-short file, or
        with allow_damaged a group whose checksum does not match); None for a whole file."""
        return self._file.loss()

    def _damaged(self) -> bool:
        """Whether the readable groups end at a damaged one (allow_damaged), not at a cut: its
        frames and those after it are a SieddFormatError, not an IndexError."""
        return container.GROUP_DAMAGED in self._file.group_status

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

    def _whole_groups(self, count: int) -> bool:
        return count * self.width * self.height * 3 <= GROUP_BYTES

    def _decode_frame(self, g: int, k: int) -> np.ndarray:
        """Frame k of group g alone (large sizes), the last one kept: blending in frame_at asks
        for each frame twice."""
        key = (g, k)
        if self._frame_cache is not None and self._frame_cache[0] == key:
            return self._frame_cache[1].copy()
        frame = self.render_group(g, self.width, self.height, slice(k, k + 1))[0]
        self._frame_cache = (key, frame)
        return frame.copy()

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

    def render_group(self, g: int, width: int, height: int, frames: slice | None = None
                     ) -> np.ndarray:
        """Render group g (or the frames of it `frames` picks) at any size, bypassing the
        frame cache: (count, height, width, 3) uint8. A group the file stores but ONNX Runtime
        cannot run is a SieddFormatError naming the group."""
        self._check_open()
        if not 0 <= g < len(self._groups):
            raise IndexError(f"group {g} out of range (0..{len(self._groups) - 1})")
        try:
            return self._renderer.render_group(g, width, height, frames)
        except SieddFormatError as exc:     # damage found in the group's weights
            raise SieddFormatError(self.located(f"damaged .siedd file: {exc}")) from None
        except (SieddError, MemoryError):
            raise
        except Exception as exc:    # ONNX Runtime's errors: its own classes, RuntimeError, ...
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else \
                type(exc).__name__
            raise SieddFormatError(self.located(f"group {g} cannot be decoded: {reason}")) from None
