"""`siedd decode --ladder`: an HLS ladder rendered straight from a .siedd file at each size,
checked with PyAV (every variant and segment, against SieddReader's frames) and with the
project's ffprobe (the master playlist); and the README's one-command filter form of the same
ladder, run with the project's ffmpeg."""
from __future__ import annotations

import json
import math
import re
import shlex
import signal
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import ROOT, TINY_FRAMES, run_env
from siedd_codec.reader import SieddReader
from siedd_codec.video_io import frame_to_rgb

BIN = ROOT / ".venv" / "bin"
SPEC = "128x96,144p,320x180"             # tiny is 176x144: 144p is its own size
SIZES = [(128, 96), (176, 144), (320, 180)]
SEGMENT = 0.25          # 7 frames at 29.97 fps: 24 frames make 7 + 7 + 10 (the tail folded in)
SEGMENT_FRAMES = [7, 7, 10]


def run(cmd, ok=True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600,
                            env=run_env(), stdin=subprocess.DEVNULL, **kwargs)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def one_line_error(result, message: str, status: int) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == status, result.stderr
    assert len(lines) == 1 and lines[0].startswith("siedd: error: ") and message in lines[0], \
        result.stderr


def stream_inf(master: Path) -> list[tuple[dict, str]]:
    """(attributes, uri) of each variant a master playlist lists."""
    lines = master.read_text().splitlines()
    assert lines[0] == "#EXTM3U"
    out = []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))
            out.append(({k: v.strip('"') for k, v in attrs.items()}, lines[i + 1]))
    return out


def media_segments(playlist: Path) -> list[tuple[float, str]]:
    lines = playlist.read_text().splitlines()
    assert "#EXT-X-ENDLIST" in lines and "#EXT-X-PLAYLIST-TYPE:VOD" in lines
    return [(float(line[8:].split(",")[0]), lines[i + 1])
            for i, line in enumerate(lines) if line.startswith("#EXTINF:")]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255 ** 2 / mse)


@pytest.fixture(scope="module")
def ladder(siedd_cli, tiny_siedd, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ladder")
    result = run([*siedd_cli, "decode", tiny_siedd, "--ladder", SPEC, "--segment", SEGMENT,
                  "--device", "cpu", "-o", out / "stream.m3u8"])
    assert "HLS ladder of 3 variants, 24 frames @ 29.97 fps in 3 segments" in result.stderr
    return out / "stream.m3u8"


def test_ladder_master_playlist(ladder):
    """Two names: the master playlist and its folder; each variant listed in the order given,
    with its size, frame rate, codec (the SPS in its segments), and its bit rates measured from
    the segments (BANDWIDTH the peak segment, as RFC 8216 defines it)."""
    folder = ladder.with_suffix("")
    assert sorted(p.name for p in ladder.parent.iterdir()) == ["stream", "stream.m3u8"]
    variants = stream_inf(ladder)
    assert [(a["RESOLUTION"], uri) for a, uri in variants] == [
        (f"{w}x{h}", f"stream/{w}x{h}.m3u8") for w, h in SIZES]
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in ladder.read_text()
    peaks = []
    for attrs, uri in variants:
        assert attrs["FRAME-RATE"] == "29.970"
        segments = media_segments(ladder.parent / uri)
        first = (folder / segments[0][1]).read_bytes()
        sps = first[first.index(b"\x00\x00\x01\x67") + 4:][:3]      # profile, flags, level
        assert attrs["CODECS"] == f"avc1.{sps.hex()}" and sps[0] == 100        # High
        rates = [(folder / name).stat().st_size * 8 / seconds for seconds, name in segments]
        seconds = [s for s, _ in segments]
        assert int(attrs["BANDWIDTH"]) == math.ceil(max(rates))
        assert int(attrs["AVERAGE-BANDWIDTH"]) == math.ceil(
            sum(r * s for r, s in zip(rates, seconds)) / sum(seconds))
        peaks.append(int(attrs["BANDWIDTH"]))
    assert peaks == sorted(peaks)           # more pixels, more bits


def test_ladder_segments_align_and_hold_the_renders(ladder, tiny_siedd):
    """Every variant is cut at the same frames, each segment starting with its only key frame
    (so a player switches variants at any segment boundary), H.264 4:2:0 tagged BT.709, and its
    pictures are SieddReader's at that size (no intermediate transcode: within x264's loss)."""
    folder = ladder.with_suffix("")
    fps = Fraction(30000, 1001)
    expected = [n / fps for n in SEGMENT_FRAMES]
    for width, height in SIZES:
        segments = media_segments(folder / f"{width}x{height}.m3u8")
        assert [s for s, _ in segments] == pytest.approx([float(e) for e in expected], abs=1e-5)
        decoded = []
        for (_, name), count in zip(segments, SEGMENT_FRAMES):
            with av.open(str(folder / name), format="mpegts") as c:
                stream = c.streams.video[0]
                frames = list(c.decode(stream))
                assert (stream.codec_context.name, stream.codec_context.pix_fmt) == \
                    ("h264", "yuv420p")
                assert (stream.width, stream.height) == (width, height)
                assert [f.key_frame for f in frames] == [True] + [False] * (count - 1), name
                assert frames[0].colorspace == 1                            # BT.709
            decoded += [frame_to_rgb(f) for f in frames]       # as tagged: BT.709
        with SieddReader(tiny_siedd, size=(width, height), device="cpu") as reader:
            assert len(decoded) == len(reader) == TINY_FRAMES
            worst = min(psnr(decoded[i], reader[i]) for i in (0, 7, 13, 23))
        # the rungs are capped at 0.1 bpp (ladder.CAP_BITS_PER_PIXEL); with global motion two
        # of the tiny file's three groups follow carphone's camera, and its 128x96 rung came to
        # 29.3 dB (above 30 before); a misplaced or wrong segment reads far below
        assert worst > 28, (width, height, worst)
    # the hls demuxer reads the whole ladder from the master playlist
    with av.open(str(ladder)) as c:
        streams = c.streams.video
        assert sorted((s.width, s.height) for s in streams) == SIZES
        counts = {}
        for frame in c.decode(*streams):
            counts[frame.width] = counts.get(frame.width, 0) + 1
        assert counts == {w: TINY_FRAMES for w, _ in SIZES}


def test_ladder_probed_by_ffprobe(ladder):
    """The project's ffprobe reads the master playlist: every variant, its size and frames."""
    out = run([BIN / "ffprobe", "-v", "error", "-count_frames", "-show_entries",
               "stream=codec_name,width,height,pix_fmt,nb_read_frames", "-of", "json",
               ladder]).stdout
    streams = sorted(json.loads(out)["streams"], key=lambda s: s["width"])
    assert [(s["codec_name"], s["pix_fmt"], s["width"], s["height"], int(s["nb_read_frames"]))
            for s in streams] == [("h264", "yuv420p", w, h, TINY_FRAMES) for w, h in SIZES]


def test_ladder_replaced_only_with_y(siedd_cli, tiny_siedd, tmp_path):
    """An existing ladder stays unless -y; with -y it is replaced whole (no variant of the old
    one left behind); a failed run leaves it as it was; a folder holding anything a ladder does
    not write is never replaced; no temporary folder is left."""
    master = tmp_path / "s.m3u8"
    quick = ["--frames", "0:2", "--device", "cpu", "-o", master, "--quiet"]
    run([*siedd_cli, "decode", tiny_siedd, "--ladder", "64x48", *quick])
    one_line_error(run([*siedd_cli, "decode", tiny_siedd, "--ladder", "32x24", *quick], ok=False),
                   f"{master}: exists; add -y (--overwrite) to replace it", 1)
    run([*siedd_cli, "decode", tiny_siedd, "--ladder", "32x24,48x36", *quick, "-y"])
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "32x24.m3u8", "32x24_00000.ts", "48x36.m3u8", "48x36_00000.ts"]
    assert [a["RESOLUTION"] for a, _ in stream_inf(master)] == ["32x24", "48x36"]
    before = master.read_bytes()
    one_line_error(run([*siedd_cli, "decode", tiny_siedd, "--ladder", "64x48", *quick, "-y",
                        "--frames", "0:99"], ok=False), "past the end", 1)
    assert master.read_bytes() == before
    (tmp_path / "s" / "notes.txt").write_text("mine")
    one_line_error(run([*siedd_cli, "decode", tiny_siedd, "--ladder", "64x48", *quick, "-y"],
                       ok=False), "holds 'notes.txt', which no ladder writes", 1)
    assert (tmp_path / "s" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s", "s.m3u8"]      # no litter


@pytest.mark.parametrize("args,status,message", [
    (["--ladder", ""], 2, "bad ladder '': expected sizes separated by commas"),
    (["--ladder", "128x96,,320x180"], 2, "expected sizes separated by commas"),
    (["--ladder", "128x96,big"], 2, "bad ladder size 'big': expected WxH (1280x720) or Hp (720p)"),
    (["--ladder", "127x96"], 2, "bad ladder size '127x96': H.264 4:2:0 needs even sides; use "
                                "128x96"),
    (["--ladder", "0x96"], 2, "each side must be in 2..16384"),
    (["--ladder", "128x96,128x96"], 1, "the ladder lists 128x96 twice"),
    (["--ladder", "176x144,144p"], 1, "the ladder lists 176x144 twice"),
    (["--ladder", "128x96", "--codec", "libx265"], 2, "--codec and --pix-fmt do not apply"),
    (["--ladder", "128x96", "--size", "64x48"], 2, "not allowed with argument --ladder"),
])
def test_bad_ladders_are_one_line(siedd_cli, tiny_siedd, tmp_path, args, status, message):
    one_line_error(run([*siedd_cli, "decode", tiny_siedd, "-o", tmp_path / "s.m3u8", *args],
                       ok=False), message, status)
    assert list(tmp_path.iterdir()) == []


def test_m3u8_and_ladder_go_together(siedd_cli, tiny_siedd, tmp_path):
    for args, message in [(["-o", tmp_path / "s.m3u8"], "an .m3u8 output is an HLS ladder"),
                          (["-o", tmp_path / "s.mp4", "--ladder", "128x96"],
                           "--ladder writes an HLS master playlist: -o NAME.m3u8"),
                          (["-o", tmp_path / "s.mp4", "--segment", "2"],
                           "--segment applies to --ladder only")]:
        one_line_error(run([*siedd_cli, "decode", tiny_siedd, *args], ok=False), message, 2)
    assert list(tmp_path.iterdir()) == []


def test_sigterm_leaves_no_half_ladder(siedd_cli, tiny_siedd, tmp_path):
    """A ladder killed while rendering leaves nothing: its temporary folder goes."""
    proc = subprocess.Popen([*siedd_cli, "decode", str(tiny_siedd), "--ladder", "2048x1536",
                             "-o", str(tmp_path / "s.m3u8")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=run_env())
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".s.m3u8.*/s/*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(".s.m3u8.*")), "the ladder never started writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.strip() == "siedd: terminated", err
    assert list(tmp_path.iterdir()) == []


def readme_ladder_command() -> str:
    """The ffmpeg command of README.md's "Streaming ladder" section (continued lines joined)."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^### Streaming ladder.*?(?=^#{1,3} )", text, re.M | re.S)
    assert section, "README.md has no 'Streaming ladder' section"
    blocks = re.findall(r"```sh\n(.*?)```", section.group(0), re.S)
    commands = [c for c in (b.replace("\\\n", " ") for b in blocks)
                if c.strip().startswith(".venv/bin/ffmpeg")]
    assert len(commands) == 1, commands
    return commands[0].strip()


def test_readme_filter_form_writes_the_ladder(tiny_siedd, tmp_path):
    """The README's one ffmpeg command (siedd source filters, x264, the hls muxer), run as
    written but at small sizes (the render is what costs), gives the same ladder shape: a master
    playlist over one variant per size, each with every frame, key frames aligned."""
    small = {"426x240": "128x96", "1280x720": "176x144", "1920x1080": "320x180"}
    command = readme_ladder_command()
    for size, replacement in small.items():
        assert f"s={size}" in command
        command = command.replace(f"s={size}", f"s={replacement}")
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/ffmpeg"
    argv[0] = str(BIN / "ffmpeg")
    (tmp_path / "clip.siedd").symlink_to(tiny_siedd)
    (tmp_path / "out").mkdir()
    run([argv[0], "-v", "error", *argv[1:]], cwd=tmp_path)
    master = tmp_path / "out" / "stream.m3u8"
    variants = stream_inf(master)
    assert [a["RESOLUTION"] for a, _ in variants] == ["128x96", "176x144", "320x180"]
    assert all(a["CODECS"].startswith("avc1.64") for a, _ in variants)
    out = run([BIN / "ffprobe", "-v", "error", "-count_frames", "-show_entries",
               "stream=width,height,pix_fmt,nb_read_frames", "-of", "json", master]).stdout
    streams = sorted(json.loads(out)["streams"], key=lambda s: s["width"])
    assert [(s["width"], s["height"], s["pix_fmt"], int(s["nb_read_frames"])) for s in streams] \
        == [(w, h, "yuv420p", TINY_FRAMES) for w, h in SIZES]
