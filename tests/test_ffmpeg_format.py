""".siedd as a native FFmpeg format: the siedd demuxer and the libsiedd decoder of the FFmpeg
that `make setup` built, through the real ffmpeg and ffprobe (any libavformat-based tool opens
.siedd files the same way), their pictures compared with SieddReader's. The session's tiny
.siedd (24 frames at 29.97 fps, groups of 10) keeps every run to a second or two."""
from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from ffmpeg_tools import FFPROBE, probe, raw_frames, run
from siedd_codec import capi, container
from siedd_codec.reader import SieddReader

DEMUXER_LOG = re.compile(r"^\[siedd @ 0x[0-9a-f]+\] (.*)$", re.M)
DECODER_LOG = re.compile(r"^\[libsiedd @ 0x[0-9a-f]+\] (.*)$", re.M)


@pytest.fixture(scope="module")
def clip(tiny_siedd, tmp_path_factory) -> Path:
    """The tiny file under the name a user gives it."""
    path = tmp_path_factory.mktemp("native") / "clip.siedd"
    path.symlink_to(tiny_siedd)
    return path


@pytest.fixture(scope="module")
def reader(tiny_siedd):
    with SieddReader(tiny_siedd, device="cpu") as reader:
        yield reader


def decode_rgb(ffmpeg, clip, size, *options, before=()) -> np.ndarray:
    """The frames of `ffmpeg [before] -siedd_pix_fmt rgb24 -i CLIP [options]`, (w, h) each."""
    out = run(ffmpeg, "-v", "error", *before, "-siedd_pix_fmt", "rgb24", "-i", clip, *options,
              "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1").stdout
    return raw_frames(out, *size)


def assert_one_error(result, log: re.Pattern, text: str) -> None:
    """A clean failure: exit status 1..127 (no signal, no crash), one error line from the
    component naming the problem, no Python traceback."""
    assert 0 < result.returncode < 128, (result.returncode, result.stderr)
    lines = log.findall(result.stderr)
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert "Traceback" not in result.stderr


# -- what ffprobe shows --------------------------------------------------------------------------

def test_ffprobe_shows_size_rate_frames_and_duration(ffmpeg, clip, reader):
    out = run(FFPROBE, "-v", "error", "-show_streams", "-show_format", "-of", "json", clip,
              text=True).stdout
    info = json.loads(out)
    fps = reader.fps
    duration = reader.frame_count / fps
    (stream,) = info["streams"]
    assert {key: stream[key] for key in ("codec_name", "codec_type", "width", "height",
                                         "r_frame_rate", "avg_frame_rate", "nb_frames",
                                         "pix_fmt")} == {
        "codec_name": "siedd", "codec_type": "video", "width": reader.native_size[0],
        "height": reader.native_size[1], "r_frame_rate": f"{fps.numerator}/{fps.denominator}",
        "avg_frame_rate": f"{fps.numerator}/{fps.denominator}",
        "nb_frames": str(reader.frame_count), "pix_fmt": "yuv420p"}
    assert float(stream["duration"]) == pytest.approx(float(duration), abs=1e-5)
    assert info["format"]["format_name"] == "siedd"
    assert float(info["format"]["duration"]) == pytest.approx(float(duration), abs=1e-5)


def test_probed_by_its_magic_not_its_name(ffmpeg, tiny_siedd, tmp_path):
    renamed = tmp_path / "video.bin"
    renamed.write_bytes(Path(tiny_siedd).read_bytes())
    assert probe(renamed, "stream=codec_name") == [{"codec_name": "siedd"}]


def test_decoder_documents_its_options(ffmpeg):
    help_text = run(ffmpeg, "-hide_banner", "-h", "decoder=libsiedd", text=True).stdout
    for option in ("siedd_size", "siedd_pix_fmt", "siedd_device", "siedd_threads"):
        assert re.search(rf"^  -{option} +<", help_text, re.M), f"-{option} undocumented"
    assert "Common extensions: siedd." in run(ffmpeg, "-hide_banner", "-h", "demuxer=siedd",
                                              text=True).stdout


# -- decoding ------------------------------------------------------------------------------------

def test_every_frame_equals_the_reader(ffmpeg, clip, reader):
    frames = decode_rgb(ffmpeg, clip, reader.native_size)
    assert len(frames) == reader.frame_count
    for i, frame in enumerate(frames):
        assert np.array_equal(frame, reader[i]), f"frame {i}"


def test_read_from_a_pipe(ffmpeg, tiny_siedd, reader):
    """No file size to go by (the demuxer reads until the end): the same frames."""
    with open(tiny_siedd, "rb") as stdin:
        out = run(ffmpeg, "-v", "error", "-siedd_pix_fmt", "rgb24", "-f", "siedd", "-i", "pipe:0",
                  "-frames:v", "3", "-f", "rawvideo", "pipe:1", stdin=stdin).stdout
    frames = raw_frames(out, *reader.native_size)
    assert len(frames) == 3 and np.array_equal(frames[2], reader[2])


def test_siedd_size_renders_at_that_size(ffmpeg, clip, tiny_siedd):
    width, height = 45, 31
    with SieddReader(tiny_siedd, size=(width, height), device="cpu") as sized:
        frames = decode_rgb(ffmpeg, clip, (width, height), "-frames:v", "3",
                            before=("-siedd_size", f"{width}x{height}"))
        assert frames.shape == (3, height, width, 3)
        for i, frame in enumerate(frames):
            assert np.array_equal(frame, sized[i]), f"frame {i}"


@pytest.mark.parametrize("pix_fmt, fmt", [("yuv420p", capi.FMT_YUV420P),
                                          ("yuv444p", capi.FMT_YUV444P)])
def test_yuv_output_is_libsiedds_bt709(ffmpeg, clip, tiny_siedd, pix_fmt, fmt):
    """yuv420p is the default; both are libsiedd's own conversion (odd size: 4:2:0 chroma
    rounds up), not swscale's."""
    width, height = 31, 17
    options = [] if pix_fmt == "yuv420p" else ["-siedd_pix_fmt", pix_fmt]
    data = run(ffmpeg, "-v", "error", "-siedd_size", f"{width}x{height}", *options, "-i", clip,
               "-frames:v", "2", "-f", "rawvideo", "-pix_fmt", pix_fmt, "pipe:1").stdout
    sizes = capi.plane_sizes(fmt, width, height)
    frame_bytes = sum(w * h for w, h in sizes)
    assert len(data) == 2 * frame_bytes
    with SieddReader(tiny_siedd, size=(width, height), device="cpu") as sized:
        offset = frame_bytes                     # frame 1
        for plane, (w, h) in zip(capi.rgb_to_yuv(sized[1], fmt), sizes):
            actual = np.frombuffer(data, np.uint8, w * h, offset).reshape(h, w)
            assert np.array_equal(actual, plane)
            offset += w * h


def test_to_h264_is_420_and_keeps_every_frame(ffmpeg, clip, reader, tmp_path):
    out = tmp_path / "out.mp4"
    run(ffmpeg, "-v", "error", "-i", clip, "-c:v", "libx264", "-preset", "ultrafast", out)
    fps = reader.fps
    assert probe(out, "stream=codec_name,width,height,pix_fmt,nb_frames,r_frame_rate,"
                      "color_space,color_range") == [
        {"codec_name": "h264", "width": reader.native_size[0], "height": reader.native_size[1],
         "pix_fmt": "yuv420p", "nb_frames": str(reader.frame_count),
         "r_frame_rate": f"{fps.numerator}/{fps.denominator}", "color_space": "bt709",
         "color_range": "tv"}]


@pytest.mark.parametrize("seconds", [0.4, 0.5])
def test_seek_lands_on_the_frame_inside_a_group(ffmpeg, clip, reader, seconds):
    """-ss T gives the first frame at or after T (FFmpeg's accurate seek), frame ceil(T x fps):
    frames 12 and 15, both inside the group of frames 10-19."""
    index = math.ceil(Fraction(str(seconds)) * reader.fps)
    first, count = reader.group_range(1)
    assert first < index < first + count - 1
    frames = decode_rgb(ffmpeg, clip, reader.native_size, "-frames:v", "1",
                        before=("-ss", str(seconds)))
    assert len(frames) == 1 and np.array_equal(frames[0], reader[index])


def test_seek_reads_from_the_target_frame(ffmpeg, clip, reader):
    """A seek is the demuxer moving to the frame: the first packet ffmpeg reads after -ss is
    the target's, nothing before it is read or decoded."""
    result = run(ffmpeg, "-debug_ts", "-ss", "0.5", "-i", clip, "-frames:v", "1", "-f", "null",
                 "-")
    read = [int(pts) for pts in re.findall(r"^demuxer -> ist_index:0 .* pkt_pts:(\d+) ",
                                            result.stderr, re.M)]
    assert read and read[0] == math.ceil(Fraction("0.5") * reader.fps), result.stderr


# -- errors --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_files(tiny_siedd, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_native")
    data = Path(tiny_siedd).read_bytes()
    damaged = bytearray(data)
    damaged[len(damaged) * 3 // 4] ^= 0x55
    (folder / "damaged.siedd").write_bytes(bytes(damaged))
    (folder / "header_only.siedd").write_bytes(data[:60])
    with open(folder / "huge.siedd", "wb") as fh:       # sparse: nothing is written
        fh.write(data[:48])
        fh.truncate(capi.MAX_BUFFER_BYTES + 1)
    sf = container.read(tiny_siedd)
    sf.group_weights[1] = sf.group_weights[1][:4]        # checksummed again: found at render
    (folder / "bad_group.siedd").write_bytes(container.to_bytes(sf))
    return folder


@pytest.mark.parametrize("name, message", [
    ("damaged.siedd", "checksum mismatch"),
    ("header_only.siedd", "section table is incomplete"),
    ("huge.siedd", "more than the 512 MiB"),
])
def test_refused_at_open_with_one_line(ffmpeg, bad_files, name, message):
    for tool in (ffmpeg, FFPROBE):
        result = run(tool, "-v", "error", "-i" if tool == ffmpeg else "-show_streams",
                     bad_files / name, *(["-f", "null", "-"] if tool == ffmpeg else []),
                     check=False, timeout=60)
        assert_one_error(result, DEMUXER_LOG, message)


def test_cut_short_gives_its_groups_then_exit_1(ffmpeg, tiny_siedd, tmp_path):
    sf = container.read(tiny_siedd)
    data = Path(tiny_siedd).read_bytes()
    cut = tmp_path / "cut.siedd"
    cut.write_bytes(data[:len(data) - len(sf.group_weights[-1]) // 2])
    complete = sum(count for _, count in sf.groups[:-1])
    result = run(ffmpeg, "-v", "error", "-siedd_pix_fmt", "rgb24", "-i", cut, "-f", "rawvideo",
                 "pipe:1", check=False, timeout=60)
    assert_one_error(result, DEMUXER_LOG, "cut short")
    assert result.returncode == 1
    assert len(raw_frames(result.stdout, sf.width, sf.height)) == complete
    assert probe(cut, "stream=nb_frames") == [{"nb_frames": str(sf.frame_count)}]


def test_damage_found_at_render_is_exit_1(ffmpeg, bad_files, reader):
    """A group whose weights were damaged under a recomputed checksum: its frames fail, each
    with the decoder's line; the frames of the other groups are written; exit status 1."""
    result = run(ffmpeg, "-v", "error", "-siedd_pix_fmt", "rgb24", "-i",
                 bad_files / "bad_group.siedd", "-f", "rawvideo", "pipe:1", check=False,
                 timeout=120)
    assert result.returncode == 1, result.stderr
    lines = DECODER_LOG.findall(result.stderr)
    first, count = reader.group_range(1)
    assert lines and all("group 1" in line for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    frames = raw_frames(result.stdout, *reader.native_size)
    assert np.array_equal(frames[first - 1], reader[first - 1])


@pytest.mark.parametrize("options, message", [
    (["-siedd_pix_fmt", "gray"], "siedd_pix_fmt gray"),
    (["-siedd_size", "20000x10"], "bad size 20000x10"),
    (["-siedd_device", "cuda"], "cuda"),
])
def test_decoder_option_errors(ffmpeg, clip, options, message):
    result = run(ffmpeg, "-v", "error", *options, "-i", clip, "-f", "null", "-", check=False,
                 timeout=60)
    if "cuda" in options and result.returncode == 0:      # a machine with a working GPU
        return
    assert_one_error(result, DECODER_LOG, message)
