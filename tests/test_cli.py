"""The siedd command line, run as a user would: a real process, real files."""
import json
from fractions import Fraction
import subprocess

import av
import numpy as np
import onnxruntime as ort
import pytest

from siedd_codec.reader import SieddReader
from siedd_codec.model_spec import coordinate_grid
from conftest import TINY_FRAMES, run_env


def run(cli, *args, ok=True):
    result = subprocess.run(cli + [str(a) for a in args], capture_output=True, text=True, timeout=300)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def assert_one_line_error(result, pattern):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("siedd: error:") and pattern in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def test_encode_json_summary(siedd_cli, carphone, tmp_path):
    out = tmp_path / "c.siedd"
    result = run(siedd_cli, "encode", carphone, "-o", out, "--start", 10, "--frames", 6,
                 "--size", "88x72", "--group-size", 3, "--steps", 20, "--anchor-steps", 40,
                 "--seed", 3, "--device", "cpu", "--json")
    summary = json.loads(result.stdout)
    for key in ("psnr", "bpp", "bytes", "frames", "width", "height", "seconds"):
        assert key in summary
    assert (summary["frames"], summary["width"], summary["height"]) == (6, 88, 72)
    assert summary["bytes"] == out.stat().st_size
    assert "estimated training time" in result.stderr   # --json keeps progress (stderr)


def test_encode_human_summary_and_progress(siedd_cli, carphone, tmp_path):
    result = run(siedd_cli, "encode", carphone, "-o", tmp_path / "h.siedd", "--frames", 4,
                 "--group-size", 2, "--steps", 10, "--anchor-steps", 10, "--set", "hidden=16")
    assert "PSNR" in result.stdout and "bpp" in result.stdout
    assert "phase 1" in result.stderr and "phase 2" in result.stderr   # progress
    quiet = run(siedd_cli, "encode", carphone, "-o", tmp_path / "q.siedd", "--frames", 4,
                "--group-size", 2, "--steps", 10, "--anchor-steps", 10, "--set", "hidden=16",
                "--quiet")
    assert quiet.stderr == ""


def test_encode_quality_and_size_from_the_cli(siedd_cli, carphone, tmp_path):
    """--quality Q sets lambda by the documented scale; --bytes N lands within 10% of N in one
    encode (a fixed width, d=32, whose natural size here at Q=50 is ~7.6 kB)."""
    from siedd_codec.ratecontrol import quality_to_lambda
    common = ["--frames", 12, "--size", "88x72", "--group-size", 6, "--anchor-steps", 150,
              "--steps", 300, "--set", "anchors=2", "--set", "hidden=32", "--device", "cpu",
              "--json"]
    q = json.loads(run(siedd_cli, "encode", carphone, "-o", tmp_path / "q.siedd",
                       "--quality", 80, *common).stdout)
    assert q["rate_lambda"] == pytest.approx(quality_to_lambda(80), rel=1e-3)
    out = tmp_path / "b.siedd"
    s = json.loads(run(siedd_cli, "encode", carphone, "-o", out, "--bytes", "5.5k", *common).stdout)
    assert s["target_bytes"] == 5500 and s["bytes"] == out.stat().st_size
    assert abs(s["bytes"] / 5500 - 1) < 0.10, s["bytes"]


@pytest.mark.parametrize("name,codec,pix_fmt", [("out.mp4", "h264", "yuv420p"),
                                                ("out.mkv", "h264", "yuv420p"),
                                                ("out.nut", "ffv1", "bgr0")])
def test_decode_to_video(siedd_cli, tiny_siedd, tmp_path, name, codec, pix_fmt):
    out = tmp_path / name
    run(siedd_cli, "decode", tiny_siedd, "-o", out, "--size", "352x288")
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        frames = [f for f in c.decode(stream)]
        assert stream.codec_context.name == codec
        assert stream.codec_context.pix_fmt == pix_fmt      # 4:2:0 for players, RGB lossless
        assert (stream.width, stream.height) == (352, 288) and len(frames) == TINY_FRAMES
    if codec == "ffv1":   # lossless: exactly the reader's frames
        with SieddReader(tiny_siedd, size=(352, 288)) as r:
            assert np.array_equal(frames[7].to_ndarray(format="rgb24"), r[7])


def written(path) -> tuple:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        count = sum(1 for _ in c.decode(stream))
        return (stream.codec_context.name, stream.codec_context.pix_fmt, stream.width,
                stream.height, count)


def test_decode_pixel_formats_players_take(siedd_cli, tiny_siedd, tmp_path):
    """4:2:0 by default, also at odd sizes where the codec carries them (VP9, MPEG-4); H.264 and
    HEVC cannot (their 4:2:0 crops in whole chroma samples): one line saying what to do, before
    anything is rendered or written. 4:4:4 only on request."""
    two = ["--frames", "0:2", "--size", "241x177"]
    run(siedd_cli, "decode", tiny_siedd, "-o", tmp_path / "odd.webm", *two)
    assert written(tmp_path / "odd.webm") == ("vp9", "yuv420p", 241, 177, 2)
    run(siedd_cli, "decode", tiny_siedd, "-o", tmp_path / "odd.avi", *two)
    assert written(tmp_path / "odd.avi") == ("mpeg4", "yuv420p", 241, 177, 2)
    run(siedd_cli, "decode", tiny_siedd, "-o", tmp_path / "odd444.mp4", *two, "--pix-fmt",
        "yuv444p")
    assert written(tmp_path / "odd444.mp4") == ("h264", "yuv444p", 241, 177, 2)
    cases = [
        (["-o", tmp_path / "odd.mp4", *two], "yuv420p needs an even width and height with "
         "libx264 (241x177 asked); use --size 242x178 (or 240x176), or --pix-fmt yuv444p"),
        (["-o", tmp_path / "odd.mkv", *two, "--codec", "libx265"], "yuv420p needs an even width "
         "and height with libx265"),
        (["-o", tmp_path / "odd422.mkv", *two, "--pix-fmt", "yuv422p"], "yuv422p needs an even "
         "width with libx264"),
        (["-o", tmp_path / "x.mp4", "--pix-fmt", "rgb48be"], "libx264 takes no rgb48be; it takes "
         "yuv420p, "),
        (["-o", tmp_path / "x.mp4", "--pix-fmt", "yuv42"], "unknown pixel format 'yuv42'"),
        (["-o", tmp_path / "f_%03d.png", "--pix-fmt", "yuv420p"], "png codec, in rgb24"),
    ]
    for args, message in cases:
        result = run(siedd_cli, "decode", tiny_siedd, *args, ok=False)
        assert_one_line_error(result, message)
        assert result.returncode == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.avi", "odd.webm", "odd444.mp4"]


def test_decode_png_pattern_fps_and_range(siedd_cli, tiny_siedd, tmp_path):
    run(siedd_cli, "decode", tiny_siedd, "-o", tmp_path / "f_%03d.png", "--frames", "4:9")
    files = sorted(tmp_path.glob("f_*.png"))
    assert len(files) == 5
    with SieddReader(tiny_siedd) as r, av.open(str(files[0])) as c:
        assert np.array_equal(next(c.decode(video=0)).to_ndarray(format="rgb24"), r[4])
    out = tmp_path / "fast.nut"
    run(siedd_cli, "decode", tiny_siedd, "-o", out, "--fps", "60000/1001", "--frames", "0:10")
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.average_rate == Fraction(60000, 1001) and sum(1 for _ in c.decode(s)) == 20


def test_info(siedd_cli, tiny_siedd):
    info = json.loads(run(siedd_cli, "info", tiny_siedd, "--json").stdout)
    assert (info["width"], info["height"], info["frame_count"]) == (176, 144, TINY_FRAMES)
    assert info["fps"] == pytest.approx(29.97, abs=0.01) and info["group_size"] == 10
    assert info["file_bytes"] == tiny_siedd.stat().st_size
    assert info["bpp"] == pytest.approx(info["file_bytes"] * 8 / (TINY_FRAMES * 176 * 144))
    d = info["hidden"]
    assert info["macs_per_pixel"] == 18 * d + d * d + 16 + 3 * d * d + 3 * d
    assert info["macs_per_pixel_amortized"] == pytest.approx(3 * d * d / (TINY_FRAMES / 3) + 3 * d)
    assert sum(info["sections"].values()) < info["file_bytes"]
    assert "preset" in info and "hidden" in info
    assert "frames @" in run(siedd_cli, "info", tiny_siedd).stdout


def test_export_onnx_runs_in_plain_onnxruntime(siedd_cli, tiny_siedd, tmp_path):
    out = tmp_path / "onnx"
    run(siedd_cli, "export-onnx", tiny_siedd, out)
    recipe = json.loads((out / "siedd_onnx.json").read_text())

    def recipe_coords(w, h):     # step 1 of the recipe, as its text says, not siedd's code
        axis = lambda n: np.zeros(1) if n == 1 else -1 + 2 * np.arange(n) / (n - 1)  # noqa: E731
        y, x = np.meshgrid(axis(h), axis(w), indexing="ij")
        return np.stack([y.ravel(), x.ravel()], 1).astype(np.float32)
    native = recipe_coords(recipe["width"], recipe["height"])
    assert np.allclose(recipe["example_coords_first_rows"], native[:3])
    assert recipe["example_coords_first_rows"][0] == [-1.0, -1.0]
    w, h = 64, 40
    assert np.allclose(recipe_coords(w, h), coordinate_grid(w, h))
    enc = ort.InferenceSession(str(out / "encoder.onnx"), providers=["CPUExecutionProvider"])
    feats = enc.run(None, {"coords": recipe_coords(w, h)})[0]
    group = recipe["groups"][1]
    dec = ort.InferenceSession(str(out / group["file"]), providers=["CPUExecutionProvider"])
    assert [i.name for i in dec.get_inputs()] == ["features"]
    frames = dec.run(None, {"features": feats})[0].reshape(-1, h, w, 3)
    with SieddReader(tiny_siedd, size=(w, h)) as r:
        for k in range(group["frame_count"]):
            assert np.abs(frames[k].astype(int) - r[group["first_frame"] + k]).max() <= 1


def test_error_paths_are_one_line(siedd_cli, tiny_siedd, carphone, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["encode", tmp_path / "missing.mp4", "-o", tmp_path / "x.siedd"], "no such file"),
        (["encode", text, "-o", tmp_path / "x.siedd"], "cannot open as video"),
        (["encode", empty, "-o", tmp_path / "x.siedd"], "no .png frames"),
        (["encode", carphone, "-o", tmp_path / "x.siedd", "--start", 500], "past the end"),
        (["encode", carphone, "-o", tmp_path / "x.siedd", "--frames", 500], "past the end"),
        (["encode", carphone, "-o", tmp_path / "x.siedd", "--frames", 0], ">= 1"),
        (["encode", carphone, "-o", tmp_path / "x.siedd", "--size", "12"], "bad size"),
        (["encode", carphone, "-o", tmp_path / "x.siedd", "--size", "0x5"], "bad size"),
        (["encode", carphone, "-o", carphone], "overwrite the input"),
        (["encode", carphone, "-o", tmp_path / "x.siedd", "--quality", "101"], "quality must be"),
        (["encode", carphone, "-o", tmp_path / "x.siedd", "--quality", "good"], "bad quality"),
        (["encode", carphone, "-o", tmp_path / "x.siedd", "--bpp", "0"], "bpp must be"),
        (["encode", carphone, "-o", tmp_path / "x.siedd", "--bytes", "lots"], "bad size"),
        (["encode", carphone, "-o", tmp_path / "x.siedd", "--bpp", "0.1", "--quality", "50"],
         "not allowed with"),
        (["encode", carphone, "-o", tmp_path / "x.siedd", "--frames", 4, "--bytes", "300"],
         "too small"),
        (["decode", tmp_path / "missing.siedd", "-o", tmp_path / "x.mp4"], "No such file"),
        (["decode", carphone, "-o", tmp_path / "x.mp4"], "not a .siedd"),
        (["decode", tiny_siedd, "-o", tmp_path / "x.mp4", "--frames", "5:900"], "past the end"),
        (["decode", tiny_siedd, "-o", tmp_path / "x.mp4", "--frames", "9:3"], "bad frame range"),
        (["decode", tiny_siedd, "-o", tmp_path / "x.mp4", "--codec", "nonesuch"], "unknown video encoder"),
        (["decode", tiny_siedd, "-o", tmp_path / "noext"], "extension"),
        (["decode", tiny_siedd, "-o", tmp_path / "a%d%s.png"], "bad PNG pattern"),
        (["info", text], "not a .siedd"),
    ]
    for args, pattern in cases:
        assert_one_line_error(run(siedd_cli, *args, ok=False), pattern)
    assert not (tmp_path / "x.siedd").exists() and not (tmp_path / "x.mp4").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp litter


def retimed(src, dst, fps):
    """A copy of src declaring another frame rate (checksums recomputed)."""
    from siedd_codec import container
    sf = container.read(src)
    sf.meta["video"]["fps"] = list(fps)
    dst.write_bytes(container.to_bytes(sf))
    return dst


def test_what_ffmpeg_cannot_write_is_one_line(siedd_cli, tiny_siedd, tmp_path):
    """Frame rates beyond what containers hold (FORMAT.md allows 1/2^30 fps), non-video encoders,
    sizes an encoder refuses, unknown extensions: one line, not a PyAV traceback."""
    slow = retimed(tiny_siedd, tmp_path / "slow.siedd", [1, 2 ** 30])
    x = tmp_path / "x.mp4"
    cases = [
        (["decode", slow, "-o", x, "--frames", "0:2"], 1, "outside what video files hold"),
        (["decode", slow, "-o", x, "--frames", "0:2", "--fps", 25], 1, "at most 16777216"),
        (["decode", tiny_siedd, "-o", x, "--fps", "1/1000000000"], 2, "bad rate"),
        (["decode", tiny_siedd, "-o", x, "--codec", "pcm_s16le"], 1, "not a video encoder"),
        (["decode", tiny_siedd, "-o", x, "--codec", "mjpeg", "--size", "87x71", "--frames", "0:1"],
         1, "cannot write with mjpeg"),
        (["decode", tiny_siedd, "-o", tmp_path / "x.xyz", "--frames", "0:1"], 1, "'.xyz'"),
        (["decode", tiny_siedd, "-o", tmp_path / "x.gif", "--fps", 200], 1, "gif files hold"),
    ]
    for args, status, pattern in cases:
        result = run(siedd_cli, *args, ok=False)
        assert_one_line_error(result, pattern)
        assert result.returncode == status, (args, result.returncode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.siedd"]    # no output, no litter


def test_rates_with_large_terms_are_written_at_the_nearest_one(siedd_cli, tiny_siedd, tmp_path):
    odd = retimed(tiny_siedd, tmp_path / "odd.siedd", [2 ** 30 - 1, 2 ** 30])
    out = tmp_path / "odd.avi"          # MPEG-4 Part 2 takes time bases up to 65535 only
    run(siedd_cli, "decode", odd, "-o", out, "--frames", "0:2")
    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == 1
        assert sum(1 for _ in c.decode(video=0)) == 2


def test_missing_output_folders_are_refused_not_made(siedd_cli, tiny_siedd, carphone, tmp_path):
    """One rule for every command: the folder an output goes into must exist."""
    missing = tmp_path / "typo"
    for args in (["encode", carphone, "-o", missing / "x.siedd", "--frames", 2],
                 ["decode", tiny_siedd, "-o", missing / "x.mp4"],
                 ["decode", tiny_siedd, "-o", missing / "f_%03d.png"],
                 ["export-onnx", tiny_siedd, missing / "onnx"]):
        result = run(siedd_cli, *args, ok=False)
        assert_one_line_error(result, f"{missing}: no such folder")
        assert result.returncode == 1
    assert list(tmp_path.iterdir()) == []


def with_section(data: bytes, index: int, payload: bytes) -> bytes:
    """A .siedd file (any version) with section `index` replaced: offsets, sizes and checksums
    recomputed, as a writer would."""
    import struct
    import zlib
    from siedd_codec.container import HEADER, TABLE_ENTRY
    count = struct.unpack_from("<I", data, 12)[0]
    entries = [TABLE_ENTRY.unpack_from(data, HEADER.size + i * TABLE_ENTRY.size)
               for i in range(count)]
    payloads = [data[off:off + length] for _, _, off, length in entries]
    payloads[index] = payload
    offset, table = HEADER.size + count * TABLE_ENTRY.size + 4, b""
    for (kind, *_), p in zip(entries, payloads):
        table += TABLE_ENTRY.pack(kind, zlib.crc32(p), offset, len(p))
        offset += len(p)
    head = bytearray(data[:HEADER.size])
    head[16:24] = struct.pack("<Q", offset)
    head[44:48] = struct.pack("<I", zlib.crc32(bytes(head[:44])))
    return bytes(head) + table + struct.pack("<I", zlib.crc32(table)) + b"".join(payloads)


def test_names_from_a_file_are_quoted_and_cut_short(siedd_cli, tmp_path):
    """A format-1 tensor name is 255 bytes of the file's choosing: the message shows it as a
    short repr, so no escape sequence reaches the terminal."""
    from golden import DATA
    from siedd_codec.container import HEADER, TABLE_ENTRY
    data = (DATA / "carphone_v1.siedd").read_bytes()
    _, _, off, length = TABLE_ENTRY.unpack_from(data, HEADER.size + 4 * TABLE_ENTRY.size)
    wenc = data[off:off + length]        # u32 count, u8 name length, the first name
    assert wenc[4:11] == b"\x06enc.w1"
    name = b"\x1b[31m" + b"A" * 250
    bad = tmp_path / "names.siedd"
    bad.write_bytes(with_section(data, 4, wenc[:4] + bytes([len(name)]) + name + wenc[11:]))
    result = run(siedd_cli, "decode", bad, "-o", tmp_path / "x.mp4", ok=False)
    assert_one_line_error(result, "unexpected tensor '\\x1b[31mAAA")
    assert "\x1b" not in result.stderr and "A" * 41 not in result.stderr
    assert result.returncode == 1


def test_damaged_siedd_is_one_line(siedd_cli, tiny_siedd, tmp_path):
    data = bytearray(tiny_siedd.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.siedd"
    bad.write_bytes(bytes(data))
    before = bad.read_bytes()
    assert_one_line_error(run(siedd_cli, "decode", bad, "-o", tmp_path / "o.mp4", ok=False),
                          "checksum mismatch")
    assert_one_line_error(run(siedd_cli, "info", bad, ok=False), "checksum mismatch")
    assert bad.read_bytes() == before           # inputs are never touched
    assert not (tmp_path / "o.mp4").exists()


def group_section(path, g):
    """(offset, length) of group g's section in a .siedd file."""
    from siedd_codec.container import ESSENTIAL, HEADER, TABLE_ENTRY
    entry = TABLE_ENTRY.unpack_from(path.read_bytes(),
                                    HEADER.size + (len(ESSENTIAL) + g) * TABLE_ENTRY.size)
    return entry[2], entry[3]


@pytest.fixture(scope="module")
def hurt_files(tiny_siedd, tmp_path_factory):
    """The tiny file (groups of frames 0-9, 10-19, 20-23) hurt three ways."""
    from siedd_codec import container
    folder = tmp_path_factory.mktemp("hurt")
    data = tiny_siedd.read_bytes()
    off, length = group_section(tiny_siedd, 1)
    flipped = bytearray(data)
    flipped[off + length // 2] ^= 0x40
    (folder / "crc.siedd").write_bytes(bytes(flipped))           # group 1's checksum fails
    off, length = group_section(tiny_siedd, 2)
    (folder / "cut.siedd").write_bytes(data[:off + length // 2])   # cut inside group 2
    sf = container.read(tiny_siedd)                                 # valid checksums, group 1
    sf.group_weights[1] = sf.group_weights[1][:len(sf.group_weights[1]) // 2]   # cut in half
    (folder / "inner.siedd").write_bytes(container.to_bytes(sf))
    return folder


def statuses(report):
    return [g["status"] for g in report["groups"]]


def test_verify_checks_every_group_now(siedd_cli, tiny_siedd, hurt_files):
    """Damage a checksum cannot see is found by verify, not only when its group is decoded;
    exit 0 only for a whole, intact file."""
    ok = run(siedd_cli, "verify", tiny_siedd)
    assert "intact: 3 of 3 groups decode, 24 of 24 frames" in ok.stdout and ok.stderr == ""
    report = json.loads(run(siedd_cli, "verify", tiny_siedd, "--json").stdout)
    assert report["intact"] and statuses(report) == ["intact"] * 3
    inner = hurt_files / "inner.siedd"
    assert run(siedd_cli, "info", inner).returncode == 0     # the checksums say all is well
    for extra in ([], ["--json"]):
        result = run(siedd_cli, "verify", inner, *extra, ok=False)
        assert_one_line_error(result, "1 of 3 groups cannot be decoded (group 1: damaged")
        assert result.returncode == 1
    report = json.loads(result.stdout)
    assert statuses(report) == ["intact", "damaged", "intact"] and not report["intact"]
    assert "group 1 weights" in report["groups"][1]["reason"]
    assert report["decodable_frames"] == 14


def test_verify_lists_damaged_and_missing_groups(siedd_cli, hurt_files):
    crc = run(siedd_cli, "verify", hurt_files / "crc.siedd", ok=False)
    assert_one_line_error(crc, "group 1: damaged: checksum mismatch")
    assert "group 1 (frames 10-19): damaged: checksum mismatch" in crc.stdout
    report = json.loads(run(siedd_cli, "verify", hurt_files / "crc.siedd", "--json",
                            ok=False).stdout)
    assert statuses(report) == ["intact", "damaged", "unchecked"]
    assert report["decodable_frames"] == 10
    report = json.loads(run(siedd_cli, "verify", hurt_files / "cut.siedd", "--json",
                            ok=False).stdout)
    assert statuses(report) == ["intact", "intact", "missing"]
    assert report["file_bytes"] < report["declared_bytes"]


def test_info_says_what_is_really_there(siedd_cli, tiny_siedd, hurt_files):
    """A cut-short file: the bytes present, the complete groups, the frames that can be decoded
    and their bpp; exit 1 after the description, one error line."""
    cut = hurt_files / "cut.siedd"
    result = run(siedd_cli, "info", cut, "--json", ok=False)
    assert_one_line_error(result, "cut short")
    assert result.returncode == 1
    info = json.loads(result.stdout)
    present = cut.stat().st_size
    assert (info["file_bytes"], info["declared_bytes"]) == (present, tiny_siedd.stat().st_size)
    assert info["truncated"] and not info["intact"] and info["complete_groups"] == 2
    assert info["decodable_frames"] == 20
    assert info["bpp"] == pytest.approx(present * 8 / (20 * 176 * 144))
    text = run(siedd_cli, "info", cut, ok=False).stdout
    assert "TRUNCATED" in text and f"{present} bytes present of" in text
    crc = run(siedd_cli, "info", hurt_files / "crc.siedd", "--json", ok=False)
    assert_one_line_error(crc, "group 1 (frames 10-19) is damaged (checksum mismatch)")
    info = json.loads(crc.stdout)
    assert info["damaged_groups"] == [1] and info["decodable_frames"] == 10


def test_decode_of_a_hurt_file_fails_unless_asked_for_the_frames_before(siedd_cli, hurt_files,
                                                                        tmp_path):
    """No shorter video without a word: all frames asked for, or exit 1; --frames inside the
    part before the damage decodes."""
    for name, readable in (("cut.siedd", 20), ("crc.siedd", 10)):
        out = tmp_path / f"{name}.nut"
        result = run(siedd_cli, "decode", hurt_files / name, "-o", out, ok=False)
        assert_one_line_error(result, f"--frames 0:{readable} decodes the ones before")
        assert result.returncode == 1 and not out.exists()
        run(siedd_cli, "decode", hurt_files / name, "-o", out, "--frames", f"0:{readable}")
        with av.open(str(out)) as c:
            assert sum(1 for _ in c.decode(video=0)) == readable


def test_existing_output_replaced_atomically(siedd_cli, tiny_siedd, tmp_path):
    """An existing output stays unless -y asks (like ffmpeg -n); with -y it is replaced
    atomically, and a failed run leaves it alone."""
    out = tmp_path / "o.nut"
    out.write_bytes(b"old")
    assert_one_line_error(run(siedd_cli, "decode", tiny_siedd, "-o", out, "--frames", "0:2",
                              ok=False), "exists; add -y (--overwrite)")
    assert out.read_bytes() == b"old"
    run(siedd_cli, "decode", tiny_siedd, "-o", out, "--frames", "0:2", "-y")
    assert out.read_bytes()[:4] != b"old"
    assert_one_line_error(run(siedd_cli, "decode", tiny_siedd, "-o", out, "--frames", "0:999",
                              "--overwrite", ok=False), "past the end")
    pattern = tmp_path / "f_%03d.png"
    (tmp_path / "f_000.png").write_bytes(b"old")
    assert_one_line_error(run(siedd_cli, "decode", tiny_siedd, "-o", pattern, "--frames", "0:1",
                              ok=False), "f_000.png: exists")
    assert out.stat().st_size > 3            # a failed run left the previous file alone


def test_outputs_get_the_usual_permissions(siedd_cli, tiny_siedd, tmp_path):
    import os
    out = tmp_path / "perm.nut"
    run(siedd_cli, "decode", tiny_siedd, "-o", out, "--frames", "0:1")
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


def test_sigterm_leaves_no_temporary_output(siedd_cli, tiny_siedd, tmp_path):
    """A decode killed with SIGTERM (a job scheduler, `timeout`) ends like Ctrl-C: exit 143, one
    line, and no temporary file beside the output."""
    import signal
    import time
    out = tmp_path / "big.y4m"
    proc = subprocess.Popen([*siedd_cli, "decode", str(tiny_siedd), "--size", "2048x1536", "-o",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=run_env())
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".big.y4m.*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(".big.y4m.*")), "the decode never started writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip() == "siedd: terminated"
    assert list(tmp_path.iterdir()) == []


def test_encode_into_an_unwritable_folder_fails_before_training(siedd_cli, carphone):
    """The output's folder is checked by writing to it before the first frame is read, not
    after the training the file would have held."""
    result = run(siedd_cli, "encode", carphone, "-o", "/proc/siedd_out.siedd", "--frames", "2",
                 ok=False)
    assert_one_line_error(result, "/proc: cannot write there")


def test_unknown_set_field_lists_the_valid_ones(siedd_cli, carphone, tmp_path):
    result = run(siedd_cli, "encode", carphone, "-o", tmp_path / "x.siedd", "--set", "hiden=64",
                 ok=False)
    assert_one_line_error(result, "unknown field 'hiden' for preset tiny; its fields: ")
    assert "hidden" in result.stderr and "steps" in result.stderr


def test_info_shows_the_encode_quality_and_decode_cost(siedd_cli, tiny_encode):
    path, summary, _ = tiny_encode
    text = run(siedd_cli, "info", path).stdout
    assert f"PSNR {summary['psnr']:.2f} dB (clip MSE" in text and "SSIM" in text
    assert "MAC/pixel" in text
    info = json.loads(run(siedd_cli, "info", path, "--json").stdout)
    assert info["quality"]["psnr"] == pytest.approx(summary["psnr"], abs=1e-4)
    assert info["quality"]["ssim"] == pytest.approx(summary["ssim"], abs=1e-4)


def test_encode_help_shows_defaults_and_every_presets_cost(siedd_cli):
    """--help: the defaults, and a table of the presets with their groups and the encode time
    per frame to expect on a CPU (the benchmark's projection, for the steps and groups the
    preset has now) and on a GPU (the paper's, labelled)."""
    from siedd_codec.cli import _cpu_cost
    from siedd_codec.preset_costs import CPU, GPU_PAPER
    from siedd_codec.presets import PRESETS
    text = run(siedd_cli, "encode", "--help").stdout
    for default in ("(default: tiny)", "(default: auto)", "(default: 0)", "(default: all)"):
        assert default in text
    table = text[text.index("presets and the encode time to expect"):]
    assert "CPU s/frame" in table and "GPU s/frame" in table
    shown = 0
    for name, preset in PRESETS.items():
        line = next(line for line in table.splitlines() if line.split()[:1] == [name])
        assert f" {preset.group_size} frames " in line, line
        row = line.split()
        cpu = _cpu_cost(name, preset)
        if cpu is not None:
            assert cpu == CPU["seconds_per_frame"][name]
            assert CPU["measured_for"][name]["steps"] == preset.steps
            shown += 1
        whole = name in CPU.get("whole_runs", ())
        assert (("" if whole else "~") + f"{cpu:.3g}" if cpu is not None else "not") in row, row
        gpu = GPU_PAPER["seconds_per_frame"].get(name)
        if gpu is not None:
            assert row[-2:] == [f"{gpu:.3g}", "(paper)"], row
        else:
            assert row[-2:] == ["not", "measured"], row
    assert shown >= 1
    assert f"{CPU['size'][0]}x{CPU['size'][1]}" in table and "not measured by siedd" in table
    # a preset whose steps changed since the benchmark measured it shows no stale figure
    stale = PRESETS["tiny"].replace(steps=PRESETS["tiny"].steps + 1)
    assert _cpu_cost("tiny", stale) is None
