"""HLS streaming ladder: one .siedd file rendered at several sizes, each size its own H.264
variant, all cut into segments at the same frames, behind one master playlist (README,
"Streaming ladder").

For `-o out/stream.m3u8` the ladder is two names: the master playlist out/stream.m3u8 and the
folder out/stream/ holding each variant's media playlist (426x240.m3u8) and its MPEG-TS segments
(426x240_00000.ts). FFmpeg's hls muxer (through PyAV) cuts and writes each variant: it keeps
the MPEG-TS timestamps and continuity counters running across a variant's segments and puts the
SPS/PPS before every key frame. The master playlist is written here, once the segments exist, so
that BANDWIDTH is the measured peak segment bit rate (RFC 8216, 4.3.4.2; the muxer's own master
playlist only estimates it from the nominal rate) and CODECS is read from the encoder's SPS."""
from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
from fractions import Fraction
from pathlib import Path

from .errors import SieddError, SieddInputError
from .fsutil import require_folder, temporary_folder
from .reader import MAX_SIDE
from .video_io import VideoWriter, output_rate

CODEC = "libx264"
PIX_FMT = "yuv420p"                 # what every HLS player decodes
CRF = 21
CAP_BITS_PER_PIXEL = 0.1            # maxrate = 0.1 x width x height x fps
BUFFER_SECONDS = 2                  # VBV buffer: 2 s at maxrate
SEGMENT_SECONDS = 6                 # Apple's HLS authoring spec's target
_VARIANT_FILE = re.compile(r"\d+x\d+(_\d+\.ts|\.m3u8)")


def parse_ladder(text: str) -> list[tuple[int, int]]:
    """'426x240,1280x720,1080p' -> [(426, 240), (1280, 720), (0, 1080)]: WxH is rendered at
    exactly that size; Hp at H lines, its width (0 here) from the clip's aspect ratio. Every
    side must be even: H.264 codes 4:2:0 pictures with even sides only."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise SieddInputError(f"bad ladder {text!r}: expected sizes separated by commas, e.g. "
                              "426x240,1280x720,1080p")
    rungs = []
    for item in items:
        sides = re.fullmatch(r"(\d+)x(\d+)|(\d+)p", item.lower())
        if not sides:
            raise SieddInputError(f"bad ladder size {item!r}: expected WxH (1280x720) or Hp "
                                  "(720p)")
        width, height, lines = sides.groups()
        given = (int(width), int(height)) if lines is None else (int(lines),)
        if not all(2 <= side <= MAX_SIDE for side in given):
            raise SieddInputError(f"bad ladder size {item!r}: each side must be in 2..{MAX_SIDE}")
        if any(side % 2 for side in given):
            even = "x".join(str(side + side % 2) for side in given) + ("p" if lines else "")
            raise SieddInputError(f"bad ladder size {item!r}: H.264 4:2:0 needs even sides; "
                                  f"use {even}")
        rungs.append(given if lines is None else (0, given[0]))
    return rungs


def resolve_ladder(rungs: list[tuple[int, int]], native: tuple[int, int] | None
                   ) -> list[tuple[int, int]]:
    """The ladder's sizes: each Hp at the aspect ratio of `native` (the clip's size), its width
    rounded to an even number. A size listed twice is an error (two variants alike waste the encode and confuse a
    player's choice)."""
    sizes: list[tuple[int, int]] = []
    for width, height in rungs:
        if not width:
            width = max(2, 2 * round(height * native[0] / native[1] / 2))
            if width > MAX_SIDE:
                raise SieddInputError(f"ladder size {height}p is {width}x{height} at the clip's "
                                      f"aspect ratio; each side must be at most {MAX_SIDE}")
        if (width, height) in sizes:
            raise SieddInputError(f"the ladder lists {width}x{height} twice")
        sizes.append((width, height))
    return sizes


def outputs(master: str | os.PathLike) -> tuple[Path, Path]:
    """(master playlist, variants folder) of a ladder written to `master`."""
    master = Path(master)
    return master, master.with_suffix("")


def refuse_existing(master: str | os.PathLike, overwrite: bool) -> None:
    """Like decode's files: an existing ladder stays unless -y asks to replace it; and -y
    replaces a folder only if it holds nothing but what a ladder writes."""
    master, folder = outputs(master)
    require_folder(master)
    for path in (master, folder):
        if not overwrite and (path.exists() or path.is_symlink()):
            raise SieddInputError(f"{path}: exists; add -y (--overwrite) to replace it")
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise SieddInputError(f"{folder}: is not a ladder's folder; -y replaces only one")
    if folder.is_dir():
        foreign = sorted(p.name for p in folder.iterdir() if not _VARIANT_FILE.fullmatch(p.name))
        if foreign:
            raise SieddInputError(f"{folder}: holds {foreign[0]!r}, which no ladder writes; "
                                  "-y replaces only a ladder's folder")


def write_ladder(master: str | os.PathLike, readers, fps: Fraction, count: int, picture,
                 segment_seconds: float = SEGMENT_SECONDS) -> list[dict]:
    """Renders `count` pictures (picture(reader, k)) through each reader (one per size) into
    an HLS ladder at `master`, atomically: everything is written in a temporary folder beside
    it and renamed into place once complete. -> one dict per variant."""
    master, folder = outputs(master)
    fps = output_rate(fps, CODEC)
    per_segment = max(1, round(segment_seconds * fps))
    # Key frames, and so segment starts, at the same frames in every variant; a short tail is
    # folded into the last segment (a segment of a frame or two would be all key frame, and
    # its bit rate would set BANDWIDTH).
    starts = {k * per_segment for k in range(max(1, round(count / per_segment)))}
    # The muxer cuts at the first key frame at or past segment n x hls_time: at every one of
    # ours when hls_time is at most their spacing (rounded down to its microseconds).
    hls_time = math.floor(per_segment / fps * 1_000_000) / 1_000_000
    work = temporary_folder(master)
    try:
        variants = work / folder.name
        variants.mkdir()
        with contextlib.ExitStack() as stack:
            writers = []
            for reader in readers:      # every encoder opened (and any refusal) before rendering
                name = f"{reader.width}x{reader.height}"
                maxrate = math.ceil(CAP_BITS_PER_PIXEL * reader.width * reader.height * fps)
                writers.append(stack.enter_context(VideoWriter(
                    str(variants / f"{name}.m3u8"), reader.width, reader.height, fps, CODEC,
                    PIX_FMT,
                    codec_options={"preset": "medium", "crf": str(CRF), "maxrate": str(maxrate),
                                   "bufsize": str(BUFFER_SECONDS * maxrate), "forced-idr": "1",
                                   # key frames only where a segment starts
                                   "x264-params": "keyint=infinite:scenecut=0"},
                    muxer_options={"hls_time": f"{hls_time:.6f}", "hls_playlist_type": "vod",
                                   "hls_segment_type": "mpegts",
                                   "hls_segment_filename": str(variants / f"{name}_%05d.ts"),
                                   "hls_flags": "independent_segments"})))
            for k in range(count):
                for reader, writer in zip(readers, writers):
                    writer.write(picture(reader, k), keyframe=k in starts)
        summary = [_variant(variants, writer, fps) for writer in writers]
        _write_master(work / master.name, folder.name, summary)
        _publish(work, master, folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return summary


def _variant(variants: Path, writer: VideoWriter, fps: Fraction) -> dict:
    """A written variant's numbers, from its media playlist and segment files."""
    name = f"{writer.width}x{writer.height}"
    segments = _segments(variants / f"{name}.m3u8")
    bits = [(variants / uri).stat().st_size * 8 for _, uri in segments]
    seconds = [duration for duration, _ in segments]
    return {"name": name, "width": writer.width, "height": writer.height, "fps": fps,
            "frames": writer.count, "segments": len(segments), "codecs": _avc_codecs(writer),
            "bandwidth": math.ceil(max(b / s for b, s in zip(bits, seconds))),
            "average_bandwidth": math.ceil(sum(bits) / sum(seconds))}


def _segments(playlist: Path) -> list[tuple[float, str]]:
    """(duration, uri) of each segment a media playlist lists."""
    lines = playlist.read_text().splitlines()
    return [(float(line.split(":", 1)[1].split(",")[0]), lines[i + 1].strip())
            for i, line in enumerate(lines) if line.startswith("#EXTINF:")]


def _avc_codecs(writer: VideoWriter) -> str:
    """RFC 6381's avc1.PPCCLL: the SPS's profile_idc, constraint flags and level_idc."""
    for nal in writer.extradata.split(b"\x00\x00\x01")[1:]:
        if nal and nal[0] & 0x1F == 7:
            return "avc1." + nal[1:4].hex()
    raise SieddError(f"{CODEC} gave no SPS in its headers")


def _write_master(path: Path, folder: str, variants: list[dict]) -> None:
    """The master playlist, variants in the order given (a player starts with the first)."""
    lines = ["#EXTM3U", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in variants:
        lines += [f"#EXT-X-STREAM-INF:BANDWIDTH={v['bandwidth']},"
                  f"AVERAGE-BANDWIDTH={v['average_bandwidth']},RESOLUTION={v['name']},"
                  f"FRAME-RATE={float(v['fps']):.3f},CODECS=\"{v['codecs']}\"",
                  f"{folder}/{v['name']}.m3u8"]
    path.write_text("\n".join(lines) + "\n")


def _publish(work: Path, master: Path, folder: Path) -> None:
    """Renames the finished ladder in `work` into place. The old master playlist goes first and
    the new one comes last, so no moment shows a master playlist whose variants are not all
    there and whole."""
    for path in [p for p in work.rglob("*") if p.is_file()] + [work / folder.name, work]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        master.unlink()
    if folder.exists():
        os.rename(folder, work / f"{folder.name}.old")     # removed with `work`
    os.rename(work / folder.name, folder)
    os.replace(work / master.name, master)
    shutil.rmtree(work)

