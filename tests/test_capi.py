"""libsiedd's C API (ffmpeg_filter/siedd.h) from C: ffmpeg_filter/capi_check.c, compiled against
the library `make setup` built and run in its own process with a minimal environment, against
SieddReader's frames. (libsiedd embeds Python: it is for programs that don't already run one.)"""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ROOT
from siedd_codec import capi
from siedd_codec.reader import SieddReader

LIBDIR = ROOT / ".venv" / "lib"
HEADER = ROOT / "ffmpeg_filter" / "siedd.h"
CHECK_SOURCE = ROOT / "ffmpeg_filter" / "capi_check.c"
WIDTH, HEIGHT = 21, 13


def test_header_matches_capi():
    constants = dict(re.findall(r"#define\s+SIEDD_(\w+)\s+(-?(?:0x[0-9a-fA-F]+|\d+))",
                                HEADER.read_text()))
    assert "ABI_VERSION" in constants and "FMT_YUV420P" in constants
    for name, value in constants.items():
        assert getattr(capi, name) == int(value, 0), name


@pytest.fixture(scope="module")
def capi_run(tiny_siedd, tmp_path_factory):
    """(printed lines as {key: [values]}, output folder) of one capi_check run."""
    library = LIBDIR / "libsiedd.so"
    if not library.is_file():
        pytest.fail(f"{library} missing: run `make setup` (make ffmpeg builds it)")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.fail("no C compiler (make setup installs build tools for FFmpeg)")
    folder = tmp_path_factory.mktemp("capi")
    exe = folder / "capi_check"
    subprocess.run([compiler, "-O1", "-Wall", "-Werror", f"-I{HEADER.parent}", str(CHECK_SOURCE),
                    f"-L{LIBDIR}", f"-Wl,-rpath,{LIBDIR}", "-lsiedd", "-lpthread", "-o", str(exe)],
                   check=True, capture_output=True, timeout=120)
    result = subprocess.run([str(exe), str(tiny_siedd), str(WIDTH), str(HEIGHT), str(folder)],
                            capture_output=True, text=True, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(folder)})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {}
    for line in result.stdout.splitlines():
        key, _, rest = line.partition(" ")
        lines[key] = rest
    return lines, folder


def code_and_message(lines, key):
    code, _, message = lines[key].partition(" ")
    return int(code), message


@pytest.fixture(scope="module")
def reader(tiny_siedd):
    with SieddReader(tiny_siedd, size=(WIDTH, HEIGHT), device="cpu") as reader:
        yield reader


def test_handshake_and_open_errors(capi_run, tiny_siedd):
    lines, folder = capi_run
    assert int(lines["abi"], 16) == capi.ABI_VERSION == 0x53450002   # minor 2: *_buffer calls
    expected = {
        "open_missing": (capi.ERR_NOT_FOUND, f"{folder}/missing.siedd: No such file"),
        "open_not_siedd": (capi.ERR_FORMAT, "not a .siedd file"),
        "open_negative_size": (capi.ERR_ARG, "bad size -5x10"),
        "open_huge_size": (capi.ERR_ARG, "bad size 20000x10"),
        "open_bad_device": (capi.ERR_ARG, "tpu"),
        "open_bad_threads": (capi.ERR_ARG, "thread"),
        "open_null": (capi.ERR_ARG, "no .siedd file given"),
        "close_unknown": (capi.ERR_HANDLE, "12345"),
    }
    for key, (code, text) in expected.items():
        got_code, message = code_and_message(lines, key)
        assert got_code == code and text in message, (key, lines[key])


def test_info(capi_run, reader):
    lines, _ = capi_run
    fps = reader.fps
    assert lines["info"].split() == [str(v) for v in (capi.OK, WIDTH, HEIGHT, reader.frame_count,
                                                      fps.numerator, fps.denominator)]
    assert lines["native"].split() == [str(capi.OK), *map(str, reader.native_size)]
    assert code_and_message(lines, "info_nulls")[0] == capi.OK
    native_w, native_h = reader.native_size
    assert lines["width_only_size"].split() == [
        str(capi.OK), str(2 * WIDTH), str(max(1, round(native_h * 2 * WIDTH / native_w)))]


def test_frames_equal_reader(capi_run, reader):
    lines, folder = capi_run
    frames = np.fromfile(folder / "rgb.raw", np.uint8).reshape(-1, HEIGHT, WIDTH, 3)
    assert len(frames) == reader.frame_count
    for i, frame in enumerate(frames):
        assert np.array_equal(frame, reader[i]), f"frame {i}"
    assert lines["padding_untouched"] == "1"
    assert code_and_message(lines, "render_time")[0] == capi.OK
    picture = np.fromfile(folder / "time.raw", np.uint8).reshape(HEIGHT, WIDTH, 3)
    assert np.array_equal(picture, reader.frame_at(0.123))
    assert lines["threads_mismatches"] == "0"


def test_render_errors_write_nothing(capi_run):
    lines, _ = capi_run
    for key, code, text in [("render_out_of_range", capi.ERR_RANGE, "out of range"),
                            ("render_negative", capi.ERR_RANGE, "out of range"),
                            ("render_short_stride", capi.ERR_ARG, "stride"),
                            ("render_null", capi.ERR_ARG, "NULL"),
                            ("render_bad_format", capi.ERR_ARG, "pixel format")]:
        got_code, message = code_and_message(lines, key)
        assert got_code == code and text in message, (key, lines[key])
    assert lines["failed_calls_wrote_nothing"] == "1"


def test_close(capi_run):
    lines, _ = capi_run
    assert code_and_message(lines, "close")[0] == capi.OK
    assert code_and_message(lines, "close_again")[0] == capi.ERR_HANDLE
    assert code_and_message(lines, "info_closed")[0] == capi.ERR_HANDLE


def test_yuv420p_planes(capi_run, reader):
    lines, folder = capi_run
    assert code_and_message(lines, "render_yuv420p")[0] == capi.OK
    data = np.fromfile(folder / "yuv420p.raw", np.uint8)
    expected = capi.rgb_to_yuv(reader[5], capi.FMT_YUV420P)
    assert [p.shape for p in expected] == [(13, 21), (7, 11), (7, 11)]
    assert np.array_equal(data, np.concatenate([p.ravel() for p in expected]))


def test_bt709_limited_range_conversion():
    colours = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 0, 255]]], np.uint8)
    y, cb, cr = capi.rgb_to_yuv(colours, capi.FMT_YUV444P)
    assert y.tolist() == [[235, 16, 63, 32]]
    assert cb.tolist() == [[128, 128, 102, 240]]
    assert cr.tolist() == [[128, 128, 240, 118]]
    y, cb, cr = capi.rgb_to_yuv(np.repeat(colours, 3, axis=0), capi.FMT_YUV420P)
    assert y.shape == (3, 4) and cb.shape == (2, 2) and cr.shape == (2, 2)
    assert (cb[0, 0], cr[0, 0]) == (128, 128)      # white and black average to neutral grey


def test_buffer_calls(capi_run, reader, tiny_siedd):
    """siedd_buffer_info and siedd_open_buffer on the file's bytes: what the file declares, the
    same frames as opening it by path, and one clean error for bytes that are not a file."""
    from siedd_codec import container
    lines, _ = capi_run
    sf = container.read(tiny_siedd)
    fps = reader.fps
    assert lines["buffer_info"].split() == [str(v) for v in (
        capi.OK, *reader.native_size, sf.frame_count, sf.frame_count, fps.numerator,
        fps.denominator)]
    complete = sum(count for _, count in sf.groups[:-1])
    assert lines["buffer_info_cut"].split() == [str(capi.OK), str(sf.frame_count), str(complete)]
    for key, code, text in [("buffer_info_header_only", capi.ERR_FORMAT, "section table"),
                            ("buffer_info_junk", capi.ERR_FORMAT, "not a .siedd file"),
                            ("buffer_info_null", capi.ERR_ARG, "NULL"),
                            ("buffer_info_empty", capi.ERR_ARG, "0 bytes"),
                            ("buffer_info_too_large", capi.ERR_ARG, "512 MiB"),
                            ("open_buffer_junk", capi.ERR_FORMAT, "not a .siedd file")]:
        got_code, message = code_and_message(lines, key)
        assert got_code == code and text in message, (key, lines[key])
        assert str(tiny_siedd) not in message          # bytes have no file name
    assert code_and_message(lines, "open_buffer")[0] == capi.OK
    assert lines["buffer_handle_info"].split() == lines["info"].split()
    assert lines["buffer_frames_equal"] == "1"
    assert code_and_message(lines, "buffer_close")[0] == capi.OK
