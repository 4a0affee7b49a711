"""Video in and out, through PyAV (FFmpeg).

Input colour conversion (documented in README "Colour"): YUV is converted to full-range RGB by
FFmpeg's swscale with the stream's own matrix and range when the stream states them; when it
does not, BT.709 for pictures 720 lines or taller and BT.601 below (what players assume), limited
range. Resampling (--size) happens in the same swscale call (area filter when shrinking, bicubic
when enlarging). Output to YUV codecs uses BT.709, limited range, and tags the stream so."""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import SieddInputError
from .fsutil import atomic_path, require_folder

import av  # noqa: E402
from av.video.frame import PictureType  # noqa: E402

# PyAV's log capture stays off (its default): with frame-threaded decoding, a decoder thread
# logging through Python while the main thread closes the stream deadlocks on the GIL.

# AVColorSpace -> swscale's names; AVColorRange values.
_MATRIX_NAMES = {1: "itu709", 4: "fcc", 5: "itu601", 6: "smpte170m", 7: "smpte240m",
                 9: "bt2020", 10: "bt2020"}
_RANGE_NAMES = {1: "MPEG", 2: "JPEG"}
PNG_FOLDER_FPS = Fraction(25)


@dataclass(eq=False)
class Video:
    """Frames [start, start + len) of a video file or a folder of PNG frames, as RGB, read on
    demand: memory holds the frames asked for, never the whole clip, so the encoder takes any
    length. A read continues decoding from where the last one stopped, or starts the input
    again for an earlier frame (decoding costs milliseconds a frame, training seconds)."""
    count: int
    width: int
    height: int
    fps: Fraction
    color: dict = field(default_factory=dict)
    source: str = ""
    native_size: tuple[int, int] = (0, 0)
    # a fresh pass over the clip's frames from its first; None for an in-memory clip
    _open: Callable[[], Iterator[np.ndarray]] | None = field(default=None, repr=False)
    _array: np.ndarray | None = field(default=None, repr=False)
    _cursor: Iterator[np.ndarray] | None = field(default=None, init=False, repr=False)
    _position: int = field(default=0, init=False, repr=False)
    _cuts: list[int] | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_frames(cls, frames: np.ndarray, fps, **kwargs) -> "Video":
        """A clip held in memory, (N, H, W, 3) uint8."""
        n, h, w = frames.shape[:3]
        return cls(count=n, width=w, height=h, fps=Fraction(fps), _array=frames, **kwargs)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every frame, in order, one at a time (a pass of its own)."""
        if self._array is not None:
            return iter(self._array)
        return self._checked(self._open())

    def read(self, first: int, count: int) -> np.ndarray:
        """Frames [first, first + count), (count, H, W, 3)."""
        return self.take(range(first, first + count))

    def take(self, indices) -> np.ndarray:
        """The frames at the given indices (ascending), (len, H, W, 3)."""
        indices = list(indices)
        if any(b <= a for a, b in zip(indices, indices[1:])) or \
                (indices and not 0 <= indices[0] <= indices[-1] < self.count):
            raise ValueError(f"frame indices must ascend within 0..{self.count - 1}")
        if self._array is not None:
            return self._array[indices]
        out = np.empty((len(indices), self.height, self.width, 3), np.uint8)
        for k, index in enumerate(indices):
            if self._cursor is None or index < self._position:
                if self._cursor is not None:
                    self._cursor.close()
                self._cursor, self._position = self._checked(self._open()), 0
            while self._position < index:
                next(self._cursor)
                self._position += 1
            out[k] = next(self._cursor)
            self._position += 1
        return out

    def scene_cuts(self) -> list[int]:
        """The frames that start a new shot (scenes.py), from one pass, kept."""
        if self._cuts is None:
            from .scenes import scene_cuts
            self._cuts = scene_cuts(self)
        return list(self._cuts)

    @property
    def frames(self) -> np.ndarray:
        """All frames in memory at once: for short clips (tests, benchmarks), never the encoder."""
        if self._array is None:
            self._array = np.stack(list(self))
        return self._array

    def _checked(self, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """A pass must give the frames the first one counted (an input that changed under us
        would otherwise train on other pictures)."""
        n = 0
        for frame in frames:
            if n == self.count:
                break
            if frame.shape != (self.height, self.width, 3):
                raise SieddInputError(f"{self.source}: frame {n} is {frame.shape[1]}x"
                                      f"{frame.shape[0]}, the clip {self.width}x{self.height}")
            yield frame
            n += 1
        if n < self.count:
            raise SieddInputError(f"{self.source}: gave {n} frames on a second reading, "
                                  f"{self.count} on the first (was it changed?)")


def input_matrix(colorspace: int, height: int) -> str:
    return _MATRIX_NAMES.get(int(colorspace), "itu709" if height >= 720 else "itu601")


def input_range(color_range: int) -> str:
    return _RANGE_NAMES.get(int(color_range), "MPEG")


def frame_to_rgb(frame, size: tuple[int, int] | None = None) -> np.ndarray:
    """One decoded av.VideoFrame -> (H, W, 3) uint8, per the module's colour policy."""
    width, height = size or (frame.width, frame.height)
    kwargs = {}
    if size and (width, height) != (frame.width, frame.height):
        shrinking = width * height < frame.width * frame.height
        kwargs.update(width=width, height=height, interpolation="AREA" if shrinking else "BICUBIC")
    if not frame.format.is_rgb:
        kwargs.update(src_colorspace=input_matrix(frame.colorspace, frame.height),
                      src_color_range=input_range(frame.color_range), dst_color_range="JPEG")
    return frame.reformat(format="rgb24", **kwargs).to_ndarray()


def _check_range(start: int, frames: int | None) -> None:
    if start < 0:
        raise SieddInputError(f"--start must be >= 0, got {start}")
    if frames is not None and frames < 1:
        raise SieddInputError(f"--frames must be >= 1, got {frames}")


def read_video(path: str | os.PathLike, start: int = 0, frames: int | None = None,
               size: tuple[int, int] | None = None) -> Video:
    """Frames [start, start+frames) of a video file or a folder of PNG frames, as RGB (read on
    demand: Video). One pass here counts them and checks they decode, at one size."""
    _check_range(start, frames)
    path = Path(path)
    if not path.exists():
        raise SieddInputError(f"{path}: no such file or folder")
    if path.is_dir():
        return _png_folder(path, start, frames, size)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise SieddInputError(f"{path}: cannot open as video ({_short(exc)})") from None
    with container:
        if not container.streams.video:
            raise SieddInputError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        fps = stream.average_rate or stream.guessed_rate or Fraction(25)
    color: dict = {}
    count = seen = 0
    with contextlib.closing(_decoded(path)) as decoded:
        for frame, index in decoded:
            seen = index + 1
            if index < start:
                continue
            shape = [frame.width, frame.height]
            if not color:
                color = {"matrix": input_matrix(frame.colorspace, frame.height),
                         "range": input_range(frame.color_range),
                         "source_pixel_format": frame.format.name, "source_size": shape}
            elif shape != color["source_size"] and size is None:
                raise SieddInputError(f"{path}: frame {index} is {shape[0]}x{shape[1]}, the first "
                                      f"{color['source_size'][0]}x{color['source_size'][1]}; "
                                      "give --size to resample them all to one size")
            count += 1
            if frames is not None and count >= frames:
                break

    def frames_from_start() -> Iterator[np.ndarray]:
        with contextlib.closing(_decoded(path)) as decoded:
            for frame, index in decoded:
                if index >= start:
                    yield frame_to_rgb(frame, size)
    return _finish(count, path, start, frames, seen, Fraction(fps), color, size,
                   frames_from_start)


def _decoded(path: Path) -> Iterator[tuple["av.VideoFrame", int]]:
    """(frame, index) of the first video stream; a decoding error after the first frame ends
    the stream there (what players show of a cut-short file), before it is an input error."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = 0
        try:
            for frame in container.decode(stream):
                yield frame, index
                index += 1
        except av.FFmpegError as exc:
            if index == 0:
                raise SieddInputError(f"{path}: cannot decode video ({_short(exc)})") from None


def _finish(count, path, start, frames, seen, fps, color, size, frames_from_start) -> Video:
    if not count:
        if start > 0 and seen <= start:
            raise SieddInputError(f"{path}: --start {start} is past the end ({seen} frames)")
        raise SieddInputError(f"{path}: no frames")
    if frames is not None and count < frames:
        raise SieddInputError(
            f"{path}: --frames {frames} from --start {start} runs past the end "
            f"(only {count} frames there)")
    native = tuple(color["source_size"])
    width, height = size or native
    return Video(count=count, width=width, height=height, fps=fps, color=color,
                 source=os.path.basename(str(path)), native_size=native, _open=frames_from_start)


def _png_folder(folder: Path, start, frames, size) -> Video:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise SieddInputError(f"{folder}: folder holds no .png frames")
    chosen = files[start:] if frames is None else files[start:start + frames]

    def decoded(file: Path):
        try:
            with av.open(str(file)) as c:
                return next(c.decode(video=0))
        except (av.FFmpegError, StopIteration, OSError) as exc:
            raise SieddInputError(f"{file}: cannot read PNG ({_short(exc)})") from None

    color: dict = {}
    for file in chosen:
        frame = decoded(file)
        shape = [frame.width, frame.height]
        if not color:
            color = {"matrix": "rgb", "range": "JPEG", "source_pixel_format": frame.format.name,
                     "source_size": shape}
        elif shape != color["source_size"]:
            raise SieddInputError(f"{file}: size {shape[0]}x{shape[1]} differs from the "
                                  f"first frame's {color['source_size'][0]}x"
                                  f"{color['source_size'][1]}")

    def frames_from_start() -> Iterator[np.ndarray]:
        for file in chosen:
            yield frame_to_rgb(decoded(file), size)
    return _finish(len(chosen), folder, start, frames, len(files), PNG_FOLDER_FPS, color, size,
                   frames_from_start)


def _short(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    text = text.strip().splitlines()[0]
    return text[:200]


# ---------------------------------------------------------------------------------------------
# output

_CODEC_BY_EXT = {".mp4": "libx264", ".mkv": "libx264", ".mov": "libx264", ".webm": "libvpx-vp9",
                 ".avi": "mpeg4", ".nut": "ffv1", ".y4m": "rawvideo", ".gif": "gif"}
# gif takes paletted pictures only; swscale makes rgb8 (3-3-2 bits, dithered), not pal8.
_PIX_PREFERENCE = ("yuv420p", "yuv444p", "rgb24", "bgr0", "yuv422p", "gbrp", "rgb8")
# Lossless encoders keep RGB as it is: no colour conversion, bit-exact frames.
_LOSSLESS = {"ffv1", "png", "rawvideo", "utvideo", "huffyuv", "ffvhuff", "qtrle", "libx264rgb"}
_PIX_LOSSLESS = ("rgb24", "bgr0", "bgra", "gbrp", "rgba", "yuv444p")
_QUIET_OPTIONS = {"libx265": {"x265-params": "log-level=error"}}   # x265 logs to stderr itself

# Frame rates a video file holds. The time base is 1/rate: MPEG-4 Part 2 (.avi) refuses terms over
# 65535 (libvpx over 1e9); mp4 counts a frame in 1/16384 s ticks and refuses a composition offset
# over 2^31 of them, which x264's B-frames reach at 1/65535 fps: one frame an hour stays clear.
# The top is --fps's. GIF stores each frame's delay as 1..65535 hundredths of a second.
RATE_TERMS = 65535
RATE_LIMITS = {None: (Fraction(1, 3600), Fraction(1000)),
               "gif": (Fraction(100, 65535), Fraction(100))}


def output_rate(fps, codec: str | None = None) -> Fraction:
    """fps as a video file holds it: the nearest rate whose numerator and denominator are at
    most 65535 (fps itself when its terms are that small; otherwise off by under 0.001%).
    Raises SieddInputError outside the codec's RATE_LIMITS."""
    fps = Fraction(fps)
    codec = codec if codec in RATE_LIMITS else None
    lo, hi = RATE_LIMITS[codec]
    if not lo <= fps <= hi:
        raise SieddInputError(f"frame rate {_rate_text(fps)} fps is outside what "
                              f"{codec or 'video'} files hold ({_rate_text(lo)} to "
                              f"{_rate_text(hi)} fps); --fps re-times the video")
    if fps.numerator <= RATE_TERMS and fps.denominator <= RATE_TERMS:
        return fps
    if fps >= 1:
        return 1 / (1 / fps).limit_denominator(RATE_TERMS)
    return fps.limit_denominator(RATE_TERMS)


def _rate_text(rate: Fraction) -> str:
    return str(rate) if 1 in (rate.numerator, rate.denominator) else f"{float(rate):.4g}"


def is_png_pattern(path: str) -> bool:
    return bool(re.search(r"%0?\d*d", path)) and path.lower().endswith(".png")


def pattern_file(pattern: str, index: int) -> str:
    """The file a PNG pattern names for frame `index`."""
    try:
        return pattern % index
    except (TypeError, ValueError):
        raise SieddInputError(f"{pattern}: bad PNG pattern: one %d (e.g. frame_%04d.png), and %% "
                              "for a literal %") from None


def first_output_file(path: str) -> str:
    """The file an output writes first: the path itself, or a PNG pattern's frame 0."""
    return pattern_file(path, 0) if is_png_pattern(path) else path


def _pick_pix_fmt(codec: av.Codec, ext: str, requested: str | None) -> str:
    """The pixel format to encode in: the one asked for, or 4:2:0 where the encoder takes it
    (what every player decodes), RGB for lossless encoders; 4:4:4 only on request."""
    supported = [f.name for f in (codec.video_formats or [])]
    if requested:
        try:
            av.VideoFormat(requested)
        except ValueError:
            raise SieddInputError(f"unknown pixel format {requested!r}") from None
        if supported and requested not in supported:
            raise SieddInputError(f"{codec.name} takes no {requested}; it takes "
                                  + ", ".join(supported))
        return requested
    if ext == ".y4m":
        return "yuv444p"
    supported = supported or ["yuv420p"]
    for name in (_PIX_LOSSLESS if codec.name in _LOSSLESS else _PIX_PREFERENCE):
        if name in supported:
            return name
    return supported[0]


# H.264 and HEVC code subsampled chroma in whole samples and crop in whole chroma samples, so a
# 4:2:0 picture has even sides (their encoders refuse others); VP9, AV1 and MPEG-4 take any size.
_WHOLE_CHROMA_SAMPLES = {"h264", "hevc"}


def _check_sides(codec: av.Codec, pix_fmt: str, width: int, height: int) -> None:
    """An odd side the encoder cannot code in pix_fmt: one line saying what to do, before any
    frame is rendered."""
    if codec.canonical_name not in _WHOLE_CHROMA_SAMPLES:
        return
    fmt = av.VideoFormat(pix_fmt)
    step_x, step_y = 16 // fmt.chroma_width(16), 16 // fmt.chroma_height(16)
    if not (width % step_x or height % step_y):
        return
    odd = " and ".join(side for side, rest in (("width", width % step_x),
                                               ("height", height % step_y)) if rest)
    up = f"{-(-width // step_x) * step_x}x{-(-height // step_y) * step_y}"
    down = f"{max(step_x, width // step_x * step_x)}x{max(step_y, height // step_y * step_y)}"
    raise SieddInputError(f"{pix_fmt} needs an even {odd} with {codec.name} ({width}x{height} "
                          f"asked); use --size {up} (or {down}), or --pix-fmt yuv444p")


def _video_encoder(name: str) -> av.Codec:
    try:
        codec = av.Codec(name, "w")
    except Exception:
        raise SieddInputError(f"unknown video encoder {name!r}") from None
    if codec.type != "video":
        raise SieddInputError(f"{name!r} is not a video encoder (it encodes {codec.type})")
    return codec


class VideoWriter:
    """Writes RGB frames to a video file (atomically) or to a PNG pattern (each file atomic).
    Whatever FFmpeg refuses (a codec the container cannot hold, sizes or settings the encoder
    does not take) is a SieddInputError naming the output and the encoder. codec_options replace
    the encoder's defaults here (libx264: CRF 16, preset medium); muxer_options go to the
    container (the hls muxer's segmenting, say)."""

    def __init__(self, path: str, width: int, height: int, fps: Fraction, codec: str | None = None,
                 pix_fmt: str | None = None, codec_options: dict | None = None,
                 muxer_options: dict | None = None):
        self.path, self.width, self.height, self.fps = path, width, height, Fraction(fps)
        self.count = 0
        self._pattern = is_png_pattern(path)
        require_folder(path)
        if self._pattern:
            if codec not in (None, "png") or pix_fmt not in (None, "rgb24"):
                raise SieddInputError("PNG patterns are written with the png codec, in rgb24")
            pattern_file(path, 0)           # a bad pattern refused now, not at the first frame
            self.pix_fmt = "rgb24"
            return
        ext = os.path.splitext(path)[1].lower()
        if not ext:
            raise SieddInputError(f"{path}: give the output a file extension (.mp4, .mkv, ...) "
                                  "or a PNG pattern like frame_%04d.png")
        self._name = codec or _CODEC_BY_EXT.get(ext, "libx264")
        av_codec = _video_encoder(self._name)
        self.fps = output_rate(self.fps, av_codec.name)
        self.pix_fmt = _pick_pix_fmt(av_codec, ext, pix_fmt)
        _check_sides(av_codec, self.pix_fmt, width, height)
        self._atomic = atomic_path(path)
        self._tmp = self._atomic.__enter__()
        try:
            self._container = av.open(str(self._tmp), "w", container_options=muxer_options)
        except (av.FFmpegError, ValueError) as exc:
            self._abort()
            raise SieddInputError(f"{path}: FFmpeg writes no format with the extension {ext!r} "
                                  f"({_short(exc)})") from None
        with self._refusals():
            self._stream = self._container.add_stream(self._name, rate=self.fps)
            self._stream.width, self._stream.height = width, height
            self._stream.pix_fmt = self.pix_fmt
            fmt = av.VideoFormat(self.pix_fmt)
            self._yuv = not (fmt.is_rgb or fmt.has_palette)
            options = dict(_QUIET_OPTIONS.get(av_codec.name, {}))
            if codec_options is not None:
                options.update(codec_options)
            elif av_codec.name == "libx264":
                options.update(crf="16", preset="medium")
            self._stream.options = options
            # BT.709; limited range, but full in the (deprecated) yuvj formats, which mean it
            self._range = "JPEG" if self.pix_fmt.startswith("yuvj") else "MPEG"
            if self._yuv:
                cc = self._stream.codec_context
                cc.colorspace, cc.color_range = 1, {"MPEG": 1, "JPEG": 2}[self._range]
                cc.color_primaries, cc.color_trc = 1, 1
            self._container.start_encoding()    # refusals now, before any frame is rendered

    @contextlib.contextmanager
    def _refusals(self):
        """FFmpeg's refusals (PyAV raises FFmpegError, or ValueError/TypeError for settings)
        -> one SieddInputError; the temporary file goes."""
        try:
            yield
        except (av.FFmpegError, ValueError, TypeError) as exc:
            self._abort()
            raise SieddInputError(f"{self.path}: cannot write with {self._name} "
                                  f"({_short(exc)})") from None

    def write(self, rgb: np.ndarray, keyframe: bool = False) -> None:
        """keyframe: code this frame as a key frame (an IDR for H.264), e.g. to start a segment."""
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"frame of shape {rgb.shape} {rgb.dtype}, expected "
                             f"({self.height}, {self.width}, 3) uint8")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        if self._pattern:
            target = pattern_file(self.path, self.count)
            data = _encode_png(frame)
            with atomic_path(target) as tmp:
                Path(tmp).write_bytes(data)
        else:
            with self._refusals():
                if self._yuv:
                    frame = frame.reformat(format=self.pix_fmt, dst_colorspace="itu709",
                                           dst_color_range=self._range)
                frame.pts = self.count
                frame.time_base = 1 / self.fps
                if keyframe:
                    frame.pict_type = PictureType.I
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
        self.count += 1

    @property
    def extradata(self) -> bytes:
        """The encoder's global headers (H.264 in MPEG-TS/HLS: its SPS and PPS, Annex B)."""
        return bytes(self._stream.codec_context.extradata or b"")

    def close(self) -> None:
        if self._pattern:
            return
        with self._refusals():
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
        self._atomic.__exit__(None, None, None)
        self._atomic = None

    def _abort(self) -> None:
        if self._atomic is None:
            return
        try:
            if getattr(self, "_container", None) is not None:
                self._container.close()
        except Exception:
            pass
        self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)
        self._atomic = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        elif not self._pattern:
            self._abort()


def _encode_png(frame) -> bytes:
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height, ctx.pix_fmt = frame.width, frame.height, "rgb24"
    packets = ctx.encode(frame) + ctx.encode(None)
    return b"".join(bytes(p) for p in packets)
