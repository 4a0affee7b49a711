"""The Python side of libsiedd's C API (ffmpeg_filter/siedd.h).

libsiedd is a C shared library built with cffi's embedding mode (ffmpeg_filter/build_lib.py);
its init code only imports this module and calls `install(ffi)`, which binds the exported C
functions to the functions here. All decoding goes through `SieddReader`; this module adds what
a C caller needs: integer handles, negative error codes with a per-thread message, writing
pixels into the caller's buffers (any stride), and RGB -> YUV conversion.

Everything except `install` is plain Python over numpy arrays, usable (and tested) without the
C library. Constants mirror siedd.h; build_lib.py checks that they agree."""
from __future__ import annotations

import itertools
import math
import os
import threading

import numpy as np

from .errors import SieddError, SieddFormatError

ABI_VERSION = 0x53450002
MAX_BUFFER_BYTES = 0x20000000        # the largest file the *_buffer calls take (512 MiB)

OK = 1
ERR_INTERNAL = -1
ERR_NOT_FOUND = -2
ERR_FORMAT = -3
ERR_ARG = -4
ERR_HANDLE = -5
ERR_RANGE = -6

FMT_RGB24 = 1
FMT_YUV444P = 2
FMT_YUV420P = 3
FORMAT_NAMES = {FMT_RGB24: "rgb24", FMT_YUV444P: "yuv444p", FMT_YUV420P: "yuv420p"}

# BT.709 luma coefficients; limited ("TV", "MPEG") range: Y 16..235, Cb/Cr 16..240.
KR, KB = 0.2126, 0.0722
KG = 1.0 - KR - KB
_RGB_TO_YUV = np.array([
    [KR, KG, KB],
    [-KR / (2 * (1 - KB)), -KG / (2 * (1 - KB)), 0.5],
    [0.5, -KG / (2 * (1 - KR)), -KB / (2 * (1 - KR))],
], dtype=np.float64) * (np.array([219.0, 224.0, 224.0]) / 255.0)[:, None]
_YUV_OFFSET = np.array([16.0, 128.0, 128.0])


class CapiError(Exception):
    """A failure with its C error code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


# -- handles and errors ------------------------------------------------------------------------

class _Handle:
    __slots__ = ("reader", "lock")

    def __init__(self, reader):
        self.reader = reader
        self.lock = threading.Lock()


_handles: dict[int, _Handle] = {}
_handles_lock = threading.Lock()
_handle_ids = itertools.count(1)
_errors: dict[int, str] = {}        # thread id -> last message


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def set_error(code: int, message: str) -> int:
    _errors[threading.get_ident()] = message
    return code


def last_error() -> str:
    return _errors.get(threading.get_ident(), "")


def guarded(fn, *args, path: str | None = None) -> int:
    """Run fn(*args) -> int; turn any exception into a negative code and a last_error."""
    try:
        return fn(*args)
    except CapiError as exc:
        return set_error(exc.code, str(exc))
    except SieddFormatError as exc:
        message = _one_line(exc)
        if path and path not in message:
            message = f"{path}: {message}"
        return set_error(ERR_FORMAT, message)
    except SieddError as exc:
        return set_error(ERR_ARG, _one_line(exc))
    except OSError as exc:
        where = exc.filename if exc.filename is not None else path
        reason = exc.strerror or _one_line(exc)
        return set_error(ERR_NOT_FOUND, f"{where}: {reason}" if where else reason)
    except IndexError as exc:
        return set_error(ERR_RANGE, _one_line(exc))
    except MemoryError:
        return set_error(ERR_INTERNAL, "out of memory")
    except Exception as exc:  # noqa: BLE001 - a C caller must never see a Python exception
        return set_error(ERR_INTERNAL, f"internal error: {type(exc).__name__}: {_one_line(exc)}")


def _get(handle: int) -> _Handle:
    with _handles_lock:
        entry = _handles.get(handle)
    if entry is None:
        raise CapiError(ERR_HANDLE, f"no open siedd handle {handle}")
    return entry


# -- the API, in Python terms ------------------------------------------------------------------

def resolve_size(native: tuple[int, int], width: int, height: int) -> tuple[int, int] | None:
    """(0, 0) -> None (the file's size); one side 0 -> derived from the other at the file's
    aspect ratio (rounded, at least 1)."""
    if width < 0 or height < 0:
        raise CapiError(ERR_ARG, f"bad size {width}x{height}: sides must be positive "
                                 "(0 = the file's own size)")
    if width == 0 and height == 0:
        return None
    native_w, native_h = native
    if width == 0:
        width = max(1, round(native_w * height / native_h))
    elif height == 0:
        height = max(1, round(native_h * width / native_w))
    return width, height


def open_reader(source, width: int = 0, height: int = 0, device: str | None = None,
                threads: int = 0) -> int:
    """Open a .siedd file - `source` is its path, or its bytes (siedd_open_buffer); returns a
    handle (> 0). Raises on failure (see `guarded`)."""
    from .reader import SieddReader, open_file, parse_size

    from_memory = isinstance(source, bytes)
    if not from_memory and not source:
        raise CapiError(ERR_ARG, "no .siedd file given")
    if threads < 0:
        raise CapiError(ERR_ARG, f"bad thread count {threads}")
    if not from_memory and not os.path.exists(source):
        raise CapiError(ERR_NOT_FOUND, f"{source}: No such file or directory")
    native = (1, 1)
    if (width == 0) != (height == 0) and width >= 0 and height >= 0:
        file, _ = open_file(source)            # the aspect ratio is needed before opening
        native = (file.width, file.height)
    size = resolve_size(native, width, height)
    parse_size(size)                           # SieddError (-> ERR_ARG) for sides out of range
    reader = SieddReader(source, size=size, device=device or "auto", threads=threads)
    with _handles_lock:
        handle = next(_handle_ids)
        _handles[handle] = _Handle(reader)
    return handle


def buffer_info(data: bytes) -> tuple[int, int, int, int, int, int]:
    """(width, height, frame_count as declared, readable frames, fps_num, fps_den) of a .siedd
    file's bytes: the container's checks, no renderer."""
    from .reader import open_file
    file, _ = open_file(data)
    return (file.width, file.height, file.frame_count, file.readable_frames,
            file.fps.numerator, file.fps.denominator)


def close(handle: int) -> int:
    with _handles_lock:
        entry = _handles.pop(handle, None)
    if entry is None:
        raise CapiError(ERR_HANDLE, f"no open siedd handle {handle}")
    with entry.lock:
        entry.reader.close()
    return OK


def info(handle: int) -> tuple[int, int, int, int, int]:
    """(width, height, frame_count, fps_num, fps_den) of an open handle. frame_count is what the
    file declares: of a cut-short file, the frames past its complete groups are an error when
    asked for, so FFmpeg renders what is there and then fails (a non-zero exit status) rather
    than ending early as if the file were whole."""
    reader = _get(handle).reader
    return (reader.width, reader.height, reader.declared_frame_count,
            reader.fps.numerator, reader.fps.denominator)


def _missing(reader, what: str) -> SieddFormatError:
    return SieddFormatError(reader.located(f"{what} cannot be decoded: "
                                           f"{reader.loss or 'the file is cut short'}"))


def native_size(handle: int) -> tuple[int, int]:
    return tuple(_get(handle).reader.native_size)


def frame_rgb(handle: int, index: int | None = None, seconds: float | None = None
              ) -> np.ndarray:
    """Frame `index`, or the picture at `seconds`, as (H, W, 3) uint8 RGB."""
    entry = _get(handle)
    with entry.lock:
        reader = entry.reader
        if index is not None:
            if reader.frame_count <= index < reader.declared_frame_count:
                raise _missing(reader, f"frame {index}")
            if not 0 <= index < reader.frame_count:
                raise CapiError(ERR_RANGE, f"frame {index} out of range "
                                           f"(0..{reader.frame_count - 1})")
            return reader[index]
        if seconds is None or not math.isfinite(seconds):
            raise CapiError(ERR_RANGE, f"time {seconds} is not finite")
        if reader.frame_count < reader.declared_frame_count and \
                seconds * reader.fps > reader.frame_count - 1:
            raise _missing(reader, f"the picture at {seconds:.3f} s")
        return reader.frame_at(seconds)


def plane_sizes(fmt: int, width: int, height: int) -> list[tuple[int, int]]:
    """(row bytes, rows) of each plane of a format."""
    if fmt == FMT_RGB24:
        return [(width * 3, height)]
    if fmt == FMT_YUV444P:
        return [(width, height)] * 3
    if fmt == FMT_YUV420P:
        cw, ch = (width + 1) // 2, (height + 1) // 2
        return [(width, height), (cw, ch), (cw, ch)]
    raise CapiError(ERR_ARG, f"unknown pixel format {fmt}")


def rgb_to_yuv(rgb: np.ndarray, fmt: int) -> list[np.ndarray]:
    """RGB24 (H, W, 3) -> [Y, Cb, Cr] uint8 planes, BT.709 limited range. For 4:2:0 the chroma
    is computed from the mean RGB of each 2x2 block (the same as averaging full-resolution
    chroma, the matrix being linear); an odd last row/column averages what it has."""
    height, width, _ = rgb.shape
    matrix = _RGB_TO_YUV.astype(np.float32)
    offset = _YUV_OFFSET.astype(np.float32)
    pixels = rgb.reshape(-1, 3).astype(np.float32)

    def to_u8(values: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)

    if fmt == FMT_YUV444P:
        yuv = to_u8(pixels @ matrix.T + offset).reshape(height, width, 3)
        return [yuv[..., 0], yuv[..., 1], yuv[..., 2]]
    if fmt != FMT_YUV420P:
        raise CapiError(ERR_ARG, f"rgb_to_yuv: not a YUV format: {fmt}")
    y = to_u8(pixels @ matrix[0] + offset[0]).reshape(height, width)
    padded = rgb
    if height % 2 or width % 2:
        padded = np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    ph, pw = padded.shape[:2]
    mean = padded.reshape(ph // 2, 2, pw // 2, 2, 3).astype(np.float32).mean(axis=(1, 3))
    chroma = to_u8(mean.reshape(-1, 3) @ matrix[1:].T + offset[1:]).reshape(ph // 2, pw // 2, 2)
    return [y, chroma[..., 0], chroma[..., 1]]


def convert(rgb: np.ndarray, fmt: int) -> list[np.ndarray]:
    """RGB24 frame -> the planes of `fmt`, each (rows, row bytes) uint8."""
    if fmt == FMT_RGB24:
        return [rgb.reshape(rgb.shape[0], -1)]
    return rgb_to_yuv(rgb, fmt)


def render_into(handle: int, fmt: int, destinations: list[np.ndarray],
                index: int | None = None, seconds: float | None = None) -> int:
    """Render into `destinations`, one writable (rows, row bytes) uint8 view per plane."""
    planes = convert(frame_rgb(handle, index, seconds), fmt)
    for plane, dest in zip(planes, destinations):
        dest[...] = plane
    return OK


# -- the C binding -----------------------------------------------------------------------------

def _views(ffi, handle: int, fmt: int, pointers, strides) -> list[np.ndarray]:
    """Writable numpy views of the caller's planes, checked against the frame's geometry."""
    reader = _get(handle).reader
    width, height = reader.width, reader.height
    sizes = plane_sizes(fmt, width, height)
    views = []
    for i, (row_bytes, rows) in enumerate(sizes):
        pointer, stride = pointers[i], strides[i]
        if pointer == ffi.NULL:
            raise CapiError(ERR_ARG, f"plane {i} is NULL")
        if stride < row_bytes:
            raise CapiError(ERR_ARG, f"plane {i}: stride {stride} is less than the "
                                     f"{row_bytes} bytes of a {FORMAT_NAMES[fmt]} row "
                                     f"at width {width}")
        flat = np.frombuffer(ffi.buffer(pointer, stride * (rows - 1) + row_bytes), np.uint8)
        views.append(np.lib.stride_tricks.as_strided(flat, (rows, row_bytes), (stride, 1)))
    return views


def _buffer(ffi, data, size: int) -> bytes:
    """A copy of the caller's file bytes, of a bounded size."""
    if data == ffi.NULL:
        raise CapiError(ERR_ARG, "no .siedd data given (NULL)")
    if not 0 < size <= MAX_BUFFER_BYTES:
        raise CapiError(ERR_ARG, f".siedd data of {size} bytes: 1 to {MAX_BUFFER_BYTES} "
                                 f"({MAX_BUFFER_BYTES >> 20} MiB) are taken")
    return ffi.buffer(data, size)[:]


def install(ffi) -> None:
    """Bind the C exports of siedd.h to this module (called by libsiedd's cffi init code)."""
    error_text: dict[int, object] = {}      # thread id -> char[] kept alive for the caller

    @ffi.def_extern(error=0)
    def siedd_abi_version():
        return ABI_VERSION

    @ffi.def_extern()
    def siedd_last_error():
        text = ffi.new("char[]", last_error().encode("utf-8", "replace"))
        error_text[threading.get_ident()] = text
        return text

    @ffi.def_extern(error=ERR_INTERNAL)
    def siedd_open(path, width, height, device, threads):
        path_str = os.fsdecode(ffi.string(path)) if path != ffi.NULL else ""
        device_str = ffi.string(device).decode("utf-8", "replace") if device != ffi.NULL else None
        return guarded(open_reader, path_str, width, height, device_str, threads, path=path_str)

    @ffi.def_extern(error=ERR_INTERNAL)
    def siedd_open_buffer(data, size, width, height, device, threads):
        device_str = ffi.string(device).decode("utf-8", "replace") if device != ffi.NULL else None
        return guarded(lambda: open_reader(_buffer(ffi, data, size), width, height, device_str,
                                           threads))

    @ffi.def_extern(error=ERR_INTERNAL)
    def siedd_buffer_info(data, size, width, height, frame_count, readable_frames, fps_num,
                          fps_den):
        def run():
            values = buffer_info(_buffer(ffi, data, size))
            for pointer, value in zip((width, height, frame_count, readable_frames, fps_num,
                                       fps_den), values):
                if pointer != ffi.NULL:
                    pointer[0] = value
            return OK
        return guarded(run)

    @ffi.def_extern(error=ERR_INTERNAL)
    def siedd_close(handle):
        return guarded(close, handle)

    @ffi.def_extern(error=ERR_INTERNAL)
    def siedd_info(handle, width, height, frame_count, fps_num, fps_den):
        def run():
            values = info(handle)
            for pointer, value in zip((width, height, frame_count, fps_num, fps_den), values):
                if pointer != ffi.NULL:
                    pointer[0] = value
            return OK
        return guarded(run)

    @ffi.def_extern(error=ERR_INTERNAL)
    def siedd_native_size(handle, width, height):
        def run():
            for pointer, value in zip((width, height), native_size(handle)):
                if pointer != ffi.NULL:
                    pointer[0] = value
            return OK
        return guarded(run)

    def render(handle, fmt, pointers, strides, index=None, seconds=None):
        def run():
            plane_sizes(fmt, 1, 1)            # unknown format -> ERR_ARG before anything else
            views = _views(ffi, handle, fmt, pointers, strides)
            return render_into(handle, fmt, views, index=index, seconds=seconds)
        return guarded(run)

    @ffi.def_extern(error=ERR_INTERNAL)
    def siedd_render_frame(handle, index, dst, stride):
        return render(handle, FMT_RGB24, [dst], [stride], index=index)

    @ffi.def_extern(error=ERR_INTERNAL)
    def siedd_render_time(handle, seconds, dst, stride):
        return render(handle, FMT_RGB24, [dst], [stride], seconds=seconds)

    def plane_args(fmt, planes, strides):
        if planes == ffi.NULL or strides == ffi.NULL:
            raise CapiError(ERR_ARG, "planes or strides is NULL")
        count = len(plane_sizes(fmt, 1, 1))
        return [planes[i] for i in range(count)], [strides[i] for i in range(count)]

    @ffi.def_extern(error=ERR_INTERNAL)
    def siedd_render_frame_planes(handle, index, fmt, planes, strides):
        def run():
            pointers, pitches = plane_args(fmt, planes, strides)
            return render(handle, fmt, pointers, pitches, index=index)
        return guarded(run)

    @ffi.def_extern(error=ERR_INTERNAL)
    def siedd_render_time_planes(handle, seconds, fmt, planes, strides):
        def run():
            pointers, pitches = plane_args(fmt, planes, strides)
            return render(handle, fmt, pointers, pitches, seconds=seconds)
        return guarded(run)
