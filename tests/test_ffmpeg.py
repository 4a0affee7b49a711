"""The siedd filters in the FFmpeg that `make setup` built: the real .venv/bin/ffmpeg and
ffprobe, run by their paths as separate processes, their output compared with SieddReader's
frames. Small sizes and the session's tiny .siedd keep every run to a second or two."""
from __future__ import annotations

import math
import re
import shlex
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, clip, run_env
from ffmpeg_tools import FFPROBE, assert_close, probe, raw_frames, run
from siedd_codec import capi
from siedd_codec.reader import SieddReader

ALL_OPTIONS = ("filename", "f", "w", "h", "s", "size", "r", "rate", "start", "frames",
               "duration", "device", "threads")
FILTER_LOG = re.compile(r"^\[(?:Parsed_)?siedd(?:src)?(?:_\d+)? @ 0x[0-9a-f]+\] (.*)$", re.M)


def render(ffmpeg, graph: str, *extra, env=None) -> bytes:
    """Frames of `-f lavfi -i GRAPH` as raw rgb24."""
    return run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", graph, *extra, "-fps_mode", "passthrough",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1", env=env).stdout


def assert_clean_failure(result, pattern: str) -> None:
    """Non-zero exit, not a signal (no crash), one error line from the filter naming the problem."""
    assert result.returncode > 0 and result.returncode < 128, (result.returncode, result.stderr)
    filter_lines = [m for m in FILTER_LOG.findall(result.stderr)]
    assert len(filter_lines) == 1, result.stderr
    assert pattern in filter_lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def tiny_reader(tiny_siedd):
    reader = SieddReader(tiny_siedd, device="cpu")
    yield reader
    reader.close()


def reader_at(tiny_siedd, width, height):
    return SieddReader(tiny_siedd, size=(width, height), device="cpu")


# -- build and registration ----------------------------------------------------------------------

def test_filters_registered_and_documented(ffmpeg):
    filters = run(ffmpeg, "-hide_banner", "-filters", text=True).stdout
    assert re.search(r"^ \S* siedd +V->V ", filters, re.M), filters
    assert re.search(r"^ \S* sieddsrc +\|->V ", filters, re.M), filters
    help_text = run(ffmpeg, "-hide_banner", "-h", "filter=siedd", text=True).stdout
    for option in ALL_OPTIONS:
        assert re.search(rf"^   {option} +<", help_text, re.M), f"option {option} undocumented"
    for device in ("auto", "cpu", "cuda"):
        assert re.search(rf"^     {device} ", help_text, re.M)


def listed(ffmpeg, kind: str) -> set[str]:
    """The names `ffmpeg -KIND` lists (decoders, encoders, demuxers, muxers, filters, bsfs,
    protocols: the input ones)."""
    out = run(ffmpeg, "-hide_banner", f"-{kind}", text=True).stdout
    if kind == "filters":
        return set(re.findall(r"^ [T.][S.][C.] (\S+) +\S+->\S+ ", out, re.M))
    if kind == "bsfs":
        return set(out.split()[2:])                       # after "Bitstream filters:"
    if kind == "protocols":
        return set(out.split("Output:")[0].split("Input:")[1].split())
    body = out.split(" --", 1)[1] if kind in ("demuxers", "muxers") else out.split(" ------", 1)[1]
    return {name for line in body.splitlines()[1:] if line.strip()
            for name in line.split()[1].split(",")}         # "mov,mp4,m4a,...": one demuxer


# What users expect of an ffmpeg binary (issue 13): the native components, the Debian codec
# libraries, local files only. The counts are the 5.1 build's, a little under, so that losing
# a family of components fails.
EXPECTED = {
    "decoders": ({"cinepak", "h264", "hevc", "vp8", "vp9", "av1", "libdav1d", "mpeg4",
                  "msmpeg4", "prores", "dnxhd", "mjpeg", "png", "gif", "aac", "mp3", "opus",
                  "flac", "libsiedd"}, 480),
    "encoders": ({"libx264", "libx264rgb", "libx265", "libvpx", "libvpx-vp9", "libopus",
                  "libmp3lame", "libvorbis", "libsvtav1", "cinepak", "ffv1", "png", "prores",
                  "aac", "flac", "mpeg4"}, 170),
    "demuxers": ({"avi", "mov", "matroska", "hls", "dash", "mpegts", "image2", "lavfi",
                  "siedd"}, 320),
    "muxers": ({"webm", "mp4", "matroska", "hls", "dash", "mpegts", "gif", "image2"}, 160),
    "filters": ({"hstack", "overlay", "psnr", "ssim", "drawtext", "scale", "xfade", "siedd",
                 "sieddsrc"}, 420),
    "bsfs": ({"h264_mp4toannexb", "extract_extradata", "vp9_superframe"}, 35),
    "protocols": ({"file", "pipe", "hls", "concat", "data"}, 8),
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_build_has_what_users_expect(ffmpeg, kind):
    names = listed(ffmpeg, kind)
    wanted, at_least = EXPECTED[kind]
    assert wanted <= names, f"missing {kind}: {sorted(wanted - names)}"
    assert len(names) >= at_least, f"only {len(names)} {kind}"
    if kind == "protocols":                      # local files only: --disable-network
        assert not names & {"http", "https", "tcp", "rtmp"}, names


def test_build_is_gpl_and_names_its_libraries(ffmpeg):
    text = run(ffmpeg, "-hide_banner", "-buildconf", text=True).stdout
    for flag in ("--enable-gpl", "--disable-autodetect", "--disable-network", "--enable-libx264",
                 "--enable-libx265", "--enable-libvpx", "--enable-libdav1d", "--enable-libopus"):
        assert flag in text, flag
    licence = run(ffmpeg, "-hide_banner", "-L", text=True).stdout
    assert "GNU General Public License" in licence and "Lesser" not in licence


def test_cinepak_avi_through_vf_siedd_into_webm(ffmpeg, tiny_siedd, tmp_path):
    """A real Cinepak AVI (OpenCV's tree.avi) as the -vf form's input, its frames replaced by
    the render at their timestamps, into WebM (VP8 through libvpx)."""
    source = clip("tree.avi")
    assert probe(source, "stream=codec_name,width,height") == [
        {"codec_name": "cinepak", "width": 320, "height": 240}]
    out = tmp_path / "out.webm"
    run(ffmpeg, "-v", "error", "-i", source, "-frames:v", "6", "-vf", f"siedd={tiny_siedd}:s=64x48",
        "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", out)
    assert probe(out, "stream=codec_name,width,height,pix_fmt", False, "-count_frames") == [
        {"codec_name": "vp8", "width": 64, "height": 48, "pix_fmt": "yuv420p"}]
    assert len(probe(out, "frame=pts")) == 6
    source_times = [float(f["pts_time"]) for f in probe(source, "frame=pts_time", False,
                                                        "-read_intervals", "%+#6")]
    out_times = [float(f["pts_time"]) for f in probe(out, "frame=pts_time")]
    assert out_times == pytest.approx([t - source_times[0] for t in source_times], abs=2e-3)


def test_psnr_ssim_and_hstack_compare_the_render_with_its_source(ffmpeg, tiny_encode):
    """The classic filters on the render: PSNR and SSIM against the clip it was encoded from,
    and a side-by-side picture."""
    path, _, source_frames = tiny_encode
    carphone_clip = clip("carphone_pristine.mp4")
    graph = (f"[0:v]trim=end_frame={len(source_frames)},split[a][b];"
             f"[a]siedd={path}[r];[r]format=yuv420p,split[r1][r2];[b]format=yuv420p,split[b1][b2];"
             "[r1][b1]psnr[p];[p][b2]ssim[s];[s][r2]hstack")
    result = run(ffmpeg, "-i", carphone_clip, "-filter_complex", graph, "-f", "null", "-")
    psnr = float(re.search(r"PSNR .* average:([0-9.]+)", result.stderr).group(1))
    ssim = float(re.search(r"SSIM .* All:([0-9.]+)", result.stderr).group(1))
    assert 18 < psnr < 60 and 0.5 < ssim <= 1, result.stderr


def test_make_rebuilds_nothing_when_nothing_changed(ffmpeg):
    result = subprocess.run(["make", "-q", "ffmpeg"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, "make ffmpeg would rebuild: " + result.stdout + result.stderr


# -- source form ---------------------------------------------------------------------------------

def test_source_frames_equal_reader_at_odd_size(ffmpeg, tiny_siedd):
    width, height = 37, 23
    with reader_at(tiny_siedd, width, height) as reader:
        frames = raw_frames(render(ffmpeg, f"siedd={tiny_siedd}:w={width}:h={height}:threads=1"),
                            width, height)
        assert len(frames) == reader.frame_count
        for i, frame in enumerate(frames):
            assert_close(frame, reader[i], f"frame {i}")


def test_source_native_size_rate_and_timestamps(ffmpeg, tiny_siedd, tiny_reader):
    fps = tiny_reader.fps
    rows = probe(f"siedd={tiny_siedd}", "stream=width,height,r_frame_rate,pix_fmt", lavfi=True)
    assert rows == [{"width": tiny_reader.native_size[0], "height": tiny_reader.native_size[1],
                     "r_frame_rate": f"{fps.numerator}/{fps.denominator}", "pix_fmt": "yuv420p"}]
    pts = [f["pts"] for f in probe(f"siedd={tiny_siedd}:s=16x12", "frame=pts", lavfi=True)]
    assert pts == list(range(tiny_reader.frame_count))


def test_source_retimed_with_r(ffmpeg, tiny_siedd):
    width, height, rate = 24, 18, 60
    with reader_at(tiny_siedd, width, height) as reader:
        expected_count = math.ceil(Fraction(reader.frame_count) / reader.fps * rate)
        frames = raw_frames(render(ffmpeg, f"siedd={tiny_siedd}:s={width}x{height}:r={rate}"),
                            width, height)
        assert len(frames) == expected_count
        for k, frame in enumerate(frames):
            assert_close(frame, reader.frame_at(k / rate), f"t={k}/{rate}")
        graph = f"siedd={tiny_siedd}:s={width}x{height}:r={rate}"
        assert probe(graph, "stream=r_frame_rate,time_base", lavfi=True) == [
            {"r_frame_rate": f"{rate}/1", "time_base": f"1/{rate}"}]
        assert [f["pts"] for f in probe(graph, "frame=pts", lavfi=True)] == list(range(expected_count))


def test_source_start_frames_duration(ffmpeg, tiny_siedd):
    width, height = 20, 16
    with reader_at(tiny_siedd, width, height) as reader:
        frames = raw_frames(render(ffmpeg, f"siedd={tiny_siedd}:s={width}x{height}:start=0.5:frames=3"),
                            width, height)
        assert len(frames) == 3
        for k, frame in enumerate(frames):
            assert_close(frame, reader.frame_at(0.5 + k / float(reader.fps)), f"start+{k}")
        frames = raw_frames(render(ffmpeg, f"siedd={tiny_siedd}:s={width}x{height}:duration=0.2"),
                            width, height)
        assert len(frames) == math.ceil(0.2 * reader.fps)
        for i, frame in enumerate(frames):
            assert_close(frame, reader[i], f"frame {i}")


@pytest.mark.parametrize("pix_fmt, asked", [
    ("yuv420p", "default"),                      # nothing asked: 4:2:0
    ("yuv444p", "graph"),                        # siedd=...,format=yuv444p
    ("yuv444p", "-pix_fmt"),                     # the output's -pix_fmt reaches the source
    ("yuv444p", "-pix_fmt before -i"),           # the lavfi input's pixel_format
])
def test_source_yuv_output_is_libsiedds_bt709(ffmpeg, tiny_siedd, pix_fmt, asked):
    """Every way of asking gives libsiedd's own conversion (BT.709, limited range), not an
    upsampling or a swscale conversion of something else."""
    width, height = 31, 17                       # odd: 4:2:0 chroma planes round up
    fmt = {"yuv420p": capi.FMT_YUV420P, "yuv444p": capi.FMT_YUV444P}[pix_fmt]
    graph = f"siedd={tiny_siedd}:w={width}:h={height}:frames=4"
    before, after = [], []
    if asked == "graph":
        graph += f",format={pix_fmt}"
    elif asked == "-pix_fmt":
        after = ["-pix_fmt", pix_fmt]
    elif asked == "-pix_fmt before -i":
        before = ["-pix_fmt", pix_fmt]
    data = run(ffmpeg, "-v", "error", *before, "-f", "lavfi", "-i", graph, *after,
               "-f", "rawvideo", "pipe:1").stdout
    sizes = capi.plane_sizes(fmt, width, height)
    frame_bytes = sum(w * h for w, h in sizes)
    assert len(data) == 4 * frame_bytes
    with reader_at(tiny_siedd, width, height) as reader:
        for i in range(4):
            offset = i * frame_bytes
            expected = capi.rgb_to_yuv(reader[i], fmt)
            for plane, (w, h) in zip(expected, sizes):
                actual = np.frombuffer(data, np.uint8, w * h, offset).reshape(h, w)
                assert_close(actual, plane, f"frame {i} plane {w}x{h}")
                offset += w * h


@pytest.mark.parametrize("encoder, name, options", [
    ("libx264", "out.mp4", ["-preset", "ultrafast"]),
    ("libvpx-vp9", "out.webm", ["-deadline", "realtime", "-cpu-used", "8"]),
    ("libx265", "out.mkv", ["-preset", "ultrafast", "-x265-params", "log-level=error"]),
])
def test_source_form_gives_encoders_420(ffmpeg, tiny_siedd, tmp_path, encoder, name, options):
    """The source form negotiates like -vf does: 4:2:0, what these encoders and every player
    take, unless 4:4:4 or RGB is asked for."""
    out = tmp_path / name
    run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"siedd={tiny_siedd}:s=64x48:frames=3",
        "-c:v", encoder, *options, out)
    assert probe(out, "stream=pix_fmt") == [{"pix_fmt": "yuv420p"}]
    asked = tmp_path / f"444_{name}"
    run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"siedd={tiny_siedd}:s=64x48:frames=3",
        "-c:v", encoder, *options, "-pix_fmt", "yuv444p", asked)
    assert probe(asked, "stream=pix_fmt") == [{"pix_fmt": "yuv444p"}]


def test_source_odd_size_to_libx264_is_one_clear_error(ffmpeg, tiny_siedd, tmp_path):
    """H.264 4:2:0 needs even sides: libx264 says so once and ffmpeg exits 1, never a silent
    4:4:4 file; asked for, 4:4:4 takes the odd size."""
    out = tmp_path / "odd.mp4"
    result = run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"siedd={tiny_siedd}:s=37x23:frames=2",
                 "-c:v", "libx264", out, check=False)
    assert result.returncode == 1, result.stderr
    x264_lines = re.findall(r"^\[libx264 @ 0x[0-9a-f]+\] (.*)$", result.stderr, re.M)
    assert x264_lines == ["width not divisible by 2 (37x23)"], result.stderr
    assert not out.exists() or out.stat().st_size == 0
    run(ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"siedd={tiny_siedd}:s=37x23:frames=2",
        "-c:v", "libx264", "-pix_fmt", "yuv444p", out)
    assert probe(out, "stream=width,height,pix_fmt") == [
        {"width": 37, "height": 23, "pix_fmt": "yuv444p"}]


# -- -vf form ------------------------------------------------------------------------------------

@pytest.mark.parametrize("in_fmt", ["nv12", "gray", "rgba"])
def test_vf_renders_at_input_timestamps(ffmpeg, tiny_siedd, in_fmt):
    width, height = 40, 30
    out = run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s=64x48:r=10:d=1,format={in_fmt}",
              "-vf", f"siedd={tiny_siedd}:w={width}:h={height}:start=0.25", "-fps_mode", "passthrough",
              "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1").stdout
    frames = raw_frames(out, width, height)
    assert len(frames) == 10
    with reader_at(tiny_siedd, width, height) as reader:
        for k, frame in enumerate(frames):
            assert_close(frame, reader.frame_at(k / 10 + 0.25), f"input frame {k}")


def test_vf_keeps_timestamps_and_stops_at_frames(ffmpeg, tiny_siedd, tmp_path):
    out = tmp_path / "vf.nut"
    run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=32x32:r=7:d=2",
        "-vf", f"siedd={tiny_siedd}:s=16x16:frames=5", "-c:v", "ffv1", out)
    times = [float(f["pts_time"]) for f in probe(out, "frame=pts_time")]
    assert times == pytest.approx([k / 7 for k in range(5)], abs=1e-3)
    result = run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=32x32:r=5:d=2",
                 "-vf", f"siedd={tiny_siedd}:s=16x16:duration=0.5", "-f", "framemd5", "-")
    lines = [l for l in result.stdout.decode().splitlines() if not l.startswith("#")]
    assert len(lines) == 3                       # t = 0, 0.2, 0.4


# -- the README's commands -----------------------------------------------------------------------

def readme_commands() -> list[str]:
    """The `.venv/bin/ffmpeg` / `ffprobe` lines of README.md's "Use with FFmpeg" section."""
    match = re.search(r"^(#+) Use with FFmpeg\s*$(.*?)(?=^#{1,2} |\Z)",
                      (ROOT / "README.md").read_text(), re.M | re.S)
    assert match, "README.md has no 'Use with FFmpeg' section"
    text = match.group(2)
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        commands += [line.strip() for line in block.splitlines()
                     if line.strip().startswith((".venv/bin/ffmpeg", ".venv/bin/ffprobe"))]
    return commands


def test_readme_commands(ffmpeg, tiny_siedd, tiny_reader, tmp_path):
    commands = readme_commands()
    assert len(commands) >= 9, commands
    (tmp_path / "clip.siedd").symlink_to(tiny_siedd)
    run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=0.32", "-f", "lavfi",
        "-i", "sine=d=0.32", "-c:v", "libx264", "-c:a", "aac", "-shortest", tmp_path / "anything.mp4")
    outputs = {}
    for command in commands:
        argv = shlex.split(command)
        argv[0] = str(ROOT / argv[0])
        result = run(*argv, cwd=tmp_path, text=True)
        outputs[command] = result.stdout

    fps = tiny_reader.fps
    n = tiny_reader.frame_count
    rate = f"{fps.numerator}/{fps.denominator}"
    # the native format: ffprobe's line, clip.mp4 (native size, 4:2:0), clip720.mp4, still.png
    probe_line = next(out for cmd, out in outputs.items() if "ffprobe" in cmd and "clip.siedd" in cmd)
    width, height = tiny_reader.native_size
    assert probe_line.strip() == f"siedd,{width},{height},{rate},{float(n / fps):.6f},{n}"
    assert probe(tmp_path / "clip.mp4", "stream=codec_name,width,height,pix_fmt,nb_frames") == [
        {"codec_name": "h264", "width": width, "height": height, "pix_fmt": "yuv420p",
         "nb_frames": str(n)}]
    assert probe(tmp_path / "clip720.mp4", "stream=width,height,nb_frames") == [
        {"width": 1280, "height": 720, "nb_frames": str(n)}]
    import av
    with av.open(str(tmp_path / "still.png")) as still:
        picture = next(still.decode(video=0)).to_ndarray(format="rgb24")
    assert np.array_equal(picture, tiny_reader[math.ceil(Fraction("0.5") * fps)])
    # out.mp4: the source form, 1920x1080, every frame, the file's rate, 4:2:0
    assert probe(tmp_path / "out.mp4", "stream=codec_name,width,height,nb_frames,r_frame_rate,"
                                       "pix_fmt") == [
        {"codec_name": "h264", "width": 1920, "height": 1080, "nb_frames": str(n),
         "r_frame_rate": rate, "pix_fmt": "yuv420p"}]
    # out.mkv: the -vf form keeps the input's 8 frames and its audio, at 1280x720, BT.709 tagged
    streams = probe(tmp_path / "out.mkv", "stream=codec_type,width,height,pix_fmt,color_space")
    assert streams[0] == {"codec_type": "video", "width": 1280, "height": 720,
                          "pix_fmt": "yuv420p", "color_space": "bt709"}
    assert streams[1]["codec_type"] == "audio"
    video_frames = [f for f in probe(tmp_path / "out.mkv", "frame=media_type")
                    if f["media_type"] == "video"]
    assert len(video_frames) == 8
    # out60.mp4: re-timed to 60 fps, 4:2:0, with its ffprobe line in the README
    expected = math.ceil(Fraction(n) / fps * 60)
    probe_line = next(out for cmd, out in outputs.items() if "ffprobe" in cmd and "out60" in cmd)
    assert probe_line.strip() == f"640,360,yuv420p,60/1,{expected}"
    # frames.rgb: exactly the decoder's RGB
    frames = raw_frames((tmp_path / "frames.rgb").read_bytes(), 320, 240)
    with reader_at(tiny_siedd, 320, 240) as reader:
        assert len(frames) == n
        for i in (0, n // 2, n - 1):
            assert_close(frames[i], reader[i], f"frame {i}")


# -- environment ---------------------------------------------------------------------------------

def test_minimal_path_finds_its_environment(ffmpeg, tiny_siedd, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    data = render(ffmpeg, f"siedd={tiny_siedd}:s=12x10:frames=2", env=env)
    with reader_at(tiny_siedd, 12, 10) as reader:
        frames = raw_frames(data, 12, 10)
        assert len(frames) == 2
        assert_close(frames[1], reader[1])
    run(FFPROBE, "-v", "error", "-f", "lavfi", f"siedd={tiny_siedd}:s=12x10:frames=1", env=env)


def test_device_choice(ffmpeg, tiny_siedd):
    render(ffmpeg, f"siedd={tiny_siedd}:s=8x8:frames=1:device=cpu")
    result = run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"siedd={tiny_siedd}:s=8x8:frames=1:device=cuda",
                 "-f", "null", "-", check=False)
    if result.returncode:                        # no GPU here: a clean error, not a crash
        assert_clean_failure(result, "cuda")


# -- errors --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_files(tiny_siedd, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    data = bytearray(Path(tiny_siedd).read_bytes())
    data[len(data) * 3 // 4] ^= 0x55
    (folder / "damaged.siedd").write_bytes(bytes(data))
    (folder / "text.siedd").write_text("hello, I am not a video\n")
    (folder / "cut.siedd").write_bytes(Path(tiny_siedd).read_bytes()[:200])
    return folder


@pytest.mark.parametrize("case, options, message", [
    ("missing", "{folder}/missing.siedd", "No such file or directory"),
    ("damaged", "{folder}/damaged.siedd", "checksum mismatch"),
    ("not siedd", "{folder}/text.siedd", "not a .siedd file"),
    ("truncated", "{folder}/cut.siedd", "truncated"),
    ("bad size", "{tiny}:s=20000x10", "bad size 20000x10"),
    ("size twice", "{tiny}:s=20x10:w=30", "given twice"),
    ("bad rate", "{tiny}:r=-3", "bad frame rate"),
    ("start past end", "{tiny}:start=5", "not before the end"),
    ("no file", "w=20:h=10", "no .siedd file given"),
])
def test_source_errors(ffmpeg, tiny_siedd, bad_files, case, options, message):
    graph = "siedd=" + options.format(folder=bad_files, tiny=tiny_siedd)
    result = run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", graph, "-f", "rawvideo", "-pix_fmt",
                 "rgb24", "pipe:1", check=False)
    assert_clean_failure(result, message)
    assert result.stdout == b"", "no frames on failure"


@pytest.mark.parametrize("case, options, message", [
    ("missing", "{folder}/missing.siedd", "No such file or directory"),
    ("damaged", "{folder}/damaged.siedd", "checksum mismatch"),
    ("bad size", "{tiny}:w=20000:h=0", "out of range"),
    ("rate in -vf", "{tiny}:r=30", "source form"),
])
def test_vf_errors(ffmpeg, tiny_siedd, bad_files, tmp_path, case, options, message):
    out = tmp_path / "out.mkv"
    result = run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=32x32:r=5:d=1",
                 "-vf", "siedd=" + options.format(folder=bad_files, tiny=tiny_siedd), out, check=False)
    if case == "bad size":                       # FFmpeg's own option check speaks for the filter
        assert 0 < result.returncode < 128 and message in result.stderr, result.stderr
    else:
        assert_clean_failure(result, message)
    assert not out.exists() or out.stat().st_size == 0


# -- damage found only while rendering ---------------------------------------------------------

DAMAGE_SIZE = (64, 48)
GIVE_UP_S = 60                                   # far above a healthy run's 1-2 s: a hang fails


def damaged_decoder_graph(graph: bytes) -> bytes:
    """The decoder graph with a Gather of an index far out of range on its output: ONNX Runtime
    accepts it (only allowed operators, valid shapes) and fails when it runs."""
    import onnx
    from onnx import TensorProto, helper
    model = onnx.load_from_string(graph)
    out = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = [name + "_raw" if name == out else name for name in node.output]
    model.graph.node.extend([
        helper.make_node("Constant", [], ["bad_index"], value=helper.make_tensor(
            "bad_index_value", TensorProto.INT64, [1], [1 << 40])),
        helper.make_node("Gather", [out + "_raw", "bad_index"], [out], axis=0),
    ])
    return model.SerializeToString()


@pytest.fixture(scope="module")
def render_failures(tiny_siedd, tmp_path_factory):
    """Files whose checksums are all valid and that cannot be fully rendered: two open and fail
    only when a group is decoded; one has a decoder graph ONNX Runtime would accept but cannot
    run, which siedd refuses at open: {case: (path, the failing group's first frame, what the
    error says)}."""
    from siedd_codec import container
    from siedd_codec.errors import SieddError
    folder = tmp_path_factory.mktemp("render_failures")
    groups = container.read(tiny_siedd).groups
    assert len(groups) >= 3, "the damaged middle group needs a group before and after it"
    middle = len(groups) // 2
    cases = {}
    for case, group in (("group 0", 0), ("middle group", middle)):
        sf = container.read(tiny_siedd)
        sf.group_weights[group] = sf.group_weights[group][:4]   # cut, then re-checksummed
        path = folder / f"group{group}.siedd"
        path.write_bytes(container.to_bytes(sf))
        cases[case] = (path, groups[group][0], f"group {group} weights")
    sf = container.read(tiny_siedd)
    sf.decoder_graph = damaged_decoder_graph(sf.decoder_graph)
    path = folder / "graph.siedd"
    path.write_bytes(container.to_bytes(sf))
    cases["graph not siedd's"] = (path, 0, "GDEC graph is not one siedd builds")
    with pytest.raises(SieddError, match="GDEC graph"):  # refused before ONNX Runtime runs it
        container.read(path)
    for case, (path, first_bad, _) in cases.items():   # they open; the damage shows at decode
        if case == "graph not siedd's":
            continue
        with SieddReader(path, size=DAMAGE_SIZE, device="cpu") as reader:
            if first_bad:
                reader[first_bad - 1]
            with pytest.raises(Exception) as failure:
                reader[first_bad]
            assert isinstance(failure.value, (SieddError, RuntimeError)), failure.value
    return cases


def ffmpeg_form(form: str, path: Path) -> list[str]:
    """The input arguments of one way to render `path` with the project's ffmpeg."""
    size = "{}x{}".format(*DAMAGE_SIZE)
    if form == "-vf":
        return ["-f", "lavfi", "-i", "testsrc2=s=32x32:r=30:d=1", "-vf", f"siedd={path}:s={size}"]
    if form == "-f lavfi":
        return ["-f", "lavfi", "-i", f"siedd={path}:s={size}"]
    if form == "-f lavfi, re-timed, yuv420p":
        return ["-f", "lavfi", "-i", f"siedd={path}:s={size}:r=50,format=yuv420p"]
    assert form == "-filter_complex"
    return ["-filter_complex", f"sieddsrc={path}:s={size}"]


@pytest.mark.parametrize("case", ["group 0", "middle group", "graph not siedd's"])
@pytest.mark.parametrize("form", ["-vf", "-f lavfi", "-f lavfi, re-timed, yuv420p",
                                  "-filter_complex"])
def test_render_failure_ends_with_status_1(ffmpeg, render_failures, case, form):
    """A file that cannot be fully rendered: every form ends promptly (no hang on frame 0), with
    the filter's one error line and exit status 1, never 0 (even after frames were written)."""
    path, first_bad, message = render_failures[case]
    try:
        result = run(ffmpeg, "-nostdin", "-v", "error", *ffmpeg_form(form, path), "-f", "rawvideo",
                     "-pix_fmt", "rgb24", "pipe:1", check=False, timeout=GIVE_UP_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{form} on a file whose {case} cannot be rendered: still running after "
                    f"{GIVE_UP_S} s")
    assert_clean_failure(result, message)
    assert result.returncode == 1, (result.returncode, result.stderr)
    if form in ("-f lavfi", "-filter_complex"):         # the frames before the damage are kept
        assert len(raw_frames(result.stdout, *DAMAGE_SIZE)) == first_bad


# -- the latent-grid family through both forms ---------------------------------------------------

def test_grid_file_through_both_filter_forms(ffmpeg, grid_siedd):
    width, height = 45, 31
    with reader_at(grid_siedd, width, height) as reader:
        frames = raw_frames(render(ffmpeg, f"siedd={grid_siedd}:w={width}:h={height}"),
                            width, height)
        assert len(frames) == reader.frame_count
        for i, frame in enumerate(frames):
            assert_close(frame, reader[i], f"source form, frame {i}")
        out = run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=0.5",
                  "-vf", f"siedd={grid_siedd}:w={width}:h={height}:start=0.1",
                  "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24",
                  "pipe:1").stdout
        frames = raw_frames(out, width, height)
        assert len(frames) == 5
        for k, frame in enumerate(frames):
            assert_close(frame, reader.frame_at(k / 10 + 0.1), f"-vf form, input frame {k}")


@pytest.mark.parametrize("form", ["-vf", "-f lavfi", "-filter_complex"])
def test_cut_short_file_renders_its_groups_then_fails(ffmpeg, tiny_siedd, tmp_path, form):
    """A file cut inside its last group: the complete groups' frames come out, then ffmpeg
    stops with one line saying the file is cut short and exit status 1, as `siedd decode`
    refuses it: never exit 0 on a file it could not fully render."""
    from siedd_codec import container
    data = Path(tiny_siedd).read_bytes()
    sf = container.read(tiny_siedd)
    cut = tmp_path / "cut.siedd"
    cut.write_bytes(data[:len(data) - len(sf.group_weights[-1]) // 2])
    complete = sum(count for _, count in sf.groups[:-1])
    result = run(ffmpeg, "-nostdin", "-v", "error", *ffmpeg_form(form, cut), "-f", "rawvideo",
                 "-pix_fmt", "rgb24", "pipe:1", check=False, timeout=GIVE_UP_S)
    assert_clean_failure(result, "cut short")
    assert result.returncode == 1, (result.returncode, result.stderr)
    if form != "-vf":
        assert len(raw_frames(result.stdout, *DAMAGE_SIZE)) == complete


@pytest.mark.parametrize("rate", ["60", "24000/1001", "7"])
def test_decode_fps_and_source_rate_give_the_same_frames(ffmpeg, tiny_siedd, siedd_cli, tmp_path,
                                                         rate):
    """One re-timing rule for `siedd decode --fps R` and `-f lavfi -i siedd=...:r=R`: frames at
    k/R for every k whose time falls inside the clip, ceil(frames x R / fps) of them, the same
    pictures."""
    import av
    size = (32, 24)
    out = tmp_path / "retimed.nut"
    subprocess.run([*siedd_cli, "decode", str(tiny_siedd), "--fps", rate, "--size",
                    "{}x{}".format(*size), "-o", str(out), "--quiet"], check=True, env=run_env(),
                   capture_output=True)
    with av.open(str(out)) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    rendered = raw_frames(render(ffmpeg, f"siedd={tiny_siedd}:s={size[0]}x{size[1]}:r={rate}"),
                          *size)
    with SieddReader(tiny_siedd) as reader:
        expected = math.ceil(Fraction(reader.frame_count) / reader.fps * Fraction(rate))
    assert len(decoded) == len(rendered) == expected
    assert np.abs(decoded.astype(int) - rendered).max() <= 1


def test_vf_past_the_clip_end_warns_once(ffmpeg, tiny_siedd):
    """-vf holds the last frame past the clip's end, and says so once, not per frame."""
    with SieddReader(tiny_siedd) as reader:
        seconds = float(reader.frame_count / reader.fps)
        last = reader.render_group(reader.group_count - 1, 16, 16)[-1]
    result = run(ffmpeg, "-nostdin", "-v", "warning", "-f", "lavfi", "-i",
                 f"testsrc2=s=16x16:r=10:d={seconds + 1:.2f}", "-vf", f"siedd={tiny_siedd}:s=16x16",
                 "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1", text=False)
    assert result.stderr.count("past the clip's end") == 1, result.stderr
    frames = raw_frames(result.stdout, 16, 16)
    assert np.abs(frames[-1].astype(int) - last).max() <= 1
