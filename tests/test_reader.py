"""SieddReader on a real encode (carphone, tiny preset): access, sizes, any-time, agreement with
the PyTorch model, honest PSNR and bpp, no torch on the decode path."""
import subprocess
import sys

import numpy as np
import pytest

from siedd_codec import container
from siedd_codec.errors import SieddError
from siedd_codec.metrics import bpp, mean_psnr
from siedd_codec.reader import SieddReader
from siedd_codec.weights import decode_encoder, iter_groups
from conftest import ROOT, TINY_FRAMES


@pytest.fixture(scope="module")
def reader(tiny_siedd):
    with SieddReader(tiny_siedd, device="cpu") as r:
        yield r


def test_python_protocol(reader):
    assert len(reader) == reader.frame_count == TINY_FRAMES
    assert reader.native_size == (176, 144) and (reader.width, reader.height) == (176, 144)
    assert float(reader.fps) == pytest.approx(29.97, abs=0.01)
    f0 = reader[0]
    assert f0.shape == (144, 176, 3) and f0.dtype == np.uint8
    assert np.array_equal(reader[-1], reader[TINY_FRAMES - 1])
    frames = list(reader)
    assert len(frames) == TINY_FRAMES and np.array_equal(frames[13], reader[13])
    assert np.array_equal(reader[2:5], np.stack(frames[2:5]))
    with pytest.raises(IndexError):
        reader[TINY_FRAMES]
    with pytest.raises(TypeError):
        reader["3"]
    assert reader.group_count == 3 and reader.group_range(2) == (20, 4)


def test_reported_psnr_and_bpp_are_honest(tiny_encode):
    """The encode's PSNR is the clip's MSE through the reader, the per-frame mean beside it; the
    numbers are stored in the file, and bytes and bpp are the final file's."""
    path, summary, source = tiny_encode
    with SieddReader(path, device="cpu") as r:
        frames = r[:]
    mse = np.mean((frames.astype(np.float64) - source.astype(np.float64)) ** 2)
    assert summary["psnr"] == pytest.approx(10 * np.log10(255 ** 2 / mse), abs=1e-9)
    assert summary["psnr_mean_frames"] == pytest.approx(mean_psnr(frames, source), abs=1e-9)
    assert 0 < summary["ssim"] < 1
    stored = container.read(path).meta["encoder"]["quality"]
    assert stored["psnr"] == pytest.approx(summary["psnr"], abs=1e-4)
    assert stored["ssim"] == pytest.approx(summary["ssim"], abs=1e-4)
    assert stored["frames"] == TINY_FRAMES
    assert summary["bytes"] == path.stat().st_size
    assert summary["bpp"] == pytest.approx(bpp(path.stat().st_size, TINY_FRAMES, 176, 144))
    assert summary["psnr"] > 20      # it learned the picture, not noise


@pytest.mark.parametrize("size", [(352, 288), (88, 72), (101, 37)])
def test_any_output_size(tiny_siedd, reader, size):
    with SieddReader(tiny_siedd, size=size, device="cpu") as r:
        frame = r[5]
    assert frame.shape == (size[1], size[0], 3)
    # the same picture at another sampling: compare against the native decode resampled
    import av
    native = av.VideoFrame.from_ndarray(reader[5], format="rgb24")
    resampled = native.reformat(width=size[0], height=size[1], interpolation="BILINEAR").to_ndarray()
    assert np.abs(frame.astype(float) - resampled).mean() < 12


@pytest.mark.parametrize("path", ["tiny", "format1"])
def test_onnxruntime_equals_pytorch(tiny_siedd, path):
    """Every group, predicted and moving ones included, and a file format 1.0 wrote."""
    from siedd_codec.weights import group_shifts
    from conftest import reference_frames
    path = tiny_siedd if path == "tiny" else ROOT / "tests" / "data" / "carphone_v1.siedd"
    sf = container.read(path)
    enc = decode_encoder(sf.encoder_weights, sf.hidden, sf.version)
    for size in [(176, 144), (211, 97)]:
        with SieddReader(path, size=size, device="cpu") as r:
            for g, w in iter_groups(sf):
                first, count = sf.groups[g]
                shifts = group_shifts(sf.group_weights[g], count, sf.version, g)
                ref, within = reference_frames(enc, w, sf.norm[first:first + count], *size,
                                               shifts, (sf.width, sf.height))
                got = r.decode_group(g)
                assert np.abs(ref - got).max() <= within


def test_format1_file_decodes_as_it_did(carphone):
    """tests/data/carphone_v1.siedd was written by format 1.0's encoder (carphone, 12 frames at
    88x72, d=32); its reader measured 25.2628 dB on those frames."""
    from siedd_codec.video_io import read_video
    source = read_video(carphone, frames=12, size=(88, 72)).frames
    with SieddReader(ROOT / "tests" / "data" / "carphone_v1.siedd", device="cpu") as r:
        assert r.meta["model"]["hidden"] == 32 and len(r) == 12
        assert mean_psnr(r, source) == pytest.approx(25.2628, abs=0.01)


def test_seeking_into_a_predicted_group(tiny_siedd, reader):
    """A fresh reader asked for a frame of a predicted group first decodes the weights of the
    groups it builds on; the picture is the one sequential decoding gives."""
    sf = container.read(tiny_siedd)
    kinds = [payload[0] for payload in sf.group_weights]
    assert 1 in kinds, "the tiny encode should hold a predicted group"
    g = kinds.index(1)
    first, _ = sf.groups[g]
    with SieddReader(tiny_siedd, device="cpu") as fresh:
        assert np.array_equal(fresh[first + 1], reader[first + 1])


def test_frame_at_blends_between_frames(reader):
    fps = float(reader.fps)
    assert np.array_equal(reader.frame_at(3 / fps), reader[3])
    mid = reader.frame_at(3.5 / fps)
    expect = np.rint((reader[3].astype(float) + reader[4]) / 2)
    assert np.abs(mid - expect).max() <= 1
    quarter = reader.frame_at(9.25 / fps)                    # across a group border (10)
    expect = np.rint(0.75 * reader[9].astype(float) + 0.25 * reader[10])
    assert np.abs(quarter - expect).max() <= 1
    assert np.array_equal(reader.frame_at(-1.0), reader[0])
    assert np.array_equal(reader.frame_at(1e6), reader[TINY_FRAMES - 1])
    with pytest.raises(ValueError):
        reader.frame_at(float("nan"))


def test_bad_sizes_and_devices(tiny_siedd):
    for size in [(0, 10), (10, -1), "12", "axb", (1, 2, 3)]:
        with pytest.raises(SieddError):
            SieddReader(tiny_siedd, size=size)
    with pytest.raises(SieddError, match="device"):
        SieddReader(tiny_siedd, device="tpu")


def test_cuda_absent_is_quiet_and_explicit(tiny_siedd):
    """auto falls back to CPU without a word; cuda asked for on a machine without it is an error."""
    code = ("import sys; from siedd_codec.reader import SieddReader; "
            f"r = SieddReader({str(tiny_siedd)!r}); r[0]; print(r.device)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr == ""
    assert result.stdout.strip() in ("cpu", "cuda")
    if result.stdout.strip() == "cpu":
        with pytest.raises(SieddError, match="cuda"):
            SieddReader(tiny_siedd, device="cuda")


def test_decode_path_imports_no_torch(tiny_siedd):
    code = ("import sys; from siedd_codec import SieddReader; "
            f"r = SieddReader({str(tiny_siedd)!r}, size=(64, 48), device='cpu'); r[0]; r.frame_at(0.1); "
            "bad = sorted(m for m in ('torch', 'onnx') if m in sys.modules); print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_closed_reader_refuses(tiny_siedd):
    r = SieddReader(tiny_siedd, device="cpu")
    r.close()
    with pytest.raises(SieddError, match="closed"):
        r[0]


@pytest.mark.parametrize("family", ["siedd", "grid"])
def test_large_sizes_decode_frame_by_frame(family, monkeypatch, tmp_path):
    """Above reader.GROUP_BYTES a group's frames are rendered one at a time, so memory is that
    of one frame whatever the group size (16384x16384 would otherwise hold all its frames:
    15 GiB for 20); the pictures are the same."""
    import tracemalloc
    from golden import synthetic_file, synthetic_grid_file
    from siedd_codec import reader as reader_module
    sf = synthetic_file() if family == "siedd" else synthetic_grid_file()
    path = tmp_path / "f.siedd"
    path.write_bytes(container.to_bytes(sf))
    size = (768, 512)
    frame_bytes = size[0] * size[1] * 3
    with SieddReader(path, size=size, device="cpu", threads=1) as whole:
        expected = whole[:]
        blend = whole.frame_at(0.5 / float(whole.fps))
    monkeypatch.setattr(reader_module, "GROUP_BYTES", int(1.5 * frame_bytes))
    with SieddReader(path, size=size, device="cpu", threads=1) as framewise:
        framewise[0]                           # sessions and caches warm
        tracemalloc.start()
        first = framewise[1]
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 2.5 * frame_bytes        # the rendered frame and the copy handed out
        assert np.array_equal(first, expected[1])
        assert np.array_equal(np.stack(list(framewise)), expected)
        assert np.array_equal(framewise.frame_at(0.5 / float(framewise.fps)), blend)
        assert 0 not in framewise._group_cache and 1 not in framewise._group_cache
