"""Encoder: inputs (video files, PNG folders, odd sizes), colour conversion, presets, resume."""
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest
import torch

from siedd_codec.encoder import encode
from siedd_codec.errors import SieddInputError
from siedd_codec.optim import ScheduleFreeAdamW
from siedd_codec.presets import PRESETS, get_preset, parse_override
from siedd_codec.reader import SieddReader
from siedd_codec.training import nearest_anchor, plan_anchors, plan_groups, resolve_bf16
from siedd_codec.video_io import VideoWriter, frame_to_rgb, read_video
from conftest import clip, encode_cli, folder_bytes, same_encode

FAST = dict(anchor_steps=60, steps=30, anchors=2, group_size=4)


def test_colour_conversion_matches_pyav_for_sd(carphone):
    """Unstated SD colour: BT.601 limited, which is also swscale's default - so equal to PyAV's."""
    ours = read_video(carphone, frames=3).frames
    with av.open(str(carphone)) as c:
        theirs = [f.to_ndarray(format="rgb24") for _, f in zip(range(3), c.decode(video=0))]
    assert np.array_equal(ours, np.stack(theirs))


def _bt709_reference(frame) -> np.ndarray:
    """Textbook BT.709 limited-range YUV 4:2:0 -> RGB, chroma nearest-neighbour upsampled."""
    y = frame.to_ndarray(format="yuv420p")
    h, w = frame.height, frame.width
    Y = y[:h].astype(np.float64)
    U = y[h:h + h // 4].reshape(h // 2, w // 2).astype(np.float64)
    V = y[h + h // 4:].reshape(h // 2, w // 2).astype(np.float64)
    U = U.repeat(2, 0).repeat(2, 1) - 128
    V = V.repeat(2, 0).repeat(2, 1) - 128
    Yn = (Y - 16) * 255 / 219
    Un, Vn = U * 255 / 224, V * 255 / 224
    r = Yn + 1.5748 * Vn
    g = Yn - 0.1873 * Un - 0.4681 * Vn
    b = Yn + 1.8556 * Un
    return np.clip(np.rint(np.stack([r, g, b], -1)), 0, 255)


def test_colour_conversion_hd_uses_bt709():
    path = clip("bigbuckbunny.mp4")
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
    ours = frame_to_rgb(frame).astype(np.float64)
    ref = _bt709_reference(frame)
    pyav_601 = frame.to_ndarray(format="rgb24").astype(np.float64)
    assert np.abs(ours - ref).mean() < 1.5            # chroma filtering differs slightly
    assert np.abs(pyav_601 - ref).mean() > np.abs(ours - ref).mean() + 1


def test_read_range_and_resample(carphone):
    v = read_video(carphone, start=100, frames=20, size=(88, 72))
    assert v.frames.shape == (20, 72, 88, 3)
    with pytest.raises(SieddInputError, match="past the end"):
        read_video(carphone, start=110, frames=20)
    with pytest.raises(SieddInputError, match="past the end"):
        read_video(carphone, start=500)


def test_frames_are_read_on_demand(carphone, tmp_path):
    """A clip is not held in memory: reads decode what they ask for, forwards or from the start
    again, and give the frames a whole reading gives."""
    whole = read_video(carphone, start=3, frames=12, size=(40, 32)).frames
    v = read_video(carphone, start=3, frames=12, size=(40, 32))
    assert v._array is None and (len(v), v.width, v.height) == (12, 40, 32)
    assert np.array_equal(v.read(5, 3), whole[5:8])
    assert np.array_equal(v.take([0, 2, 11]), whole[[0, 2, 11]])    # back to the start
    assert np.array_equal(v.take([7]), whole[[7]])
    assert np.array_equal(np.stack(list(v)), whole) and v._array is None
    with pytest.raises(ValueError, match="ascend"):
        v.take([3, 2])
    with pytest.raises(ValueError, match="ascend"):
        v.read(10, 3)


def test_a_clip_that_changes_size_needs_size(tmp_path, carphone):
    """Two MPEG-TS files joined: the picture size changes mid-stream (as broadcast streams do)."""
    import av
    frames = read_video(carphone, frames=4).frames
    parts = []
    for k, part in enumerate((frames[:2], frames[2:, :72, :88])):
        path = tmp_path / f"part{k}.ts"
        with av.open(str(path), "w", format="mpegts") as c:
            s = c.add_stream("mpeg2video", rate=25)
            s.width, s.height, s.pix_fmt = part.shape[2], part.shape[1], "yuv420p"
            for f in part:
                c.mux(s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
            c.mux(s.encode())
        parts.append(path.read_bytes())
    clip = tmp_path / "two_sizes.ts"
    clip.write_bytes(b"".join(parts))
    with pytest.raises(SieddInputError, match="give --size"):
        read_video(clip)
    v = read_video(clip, size=(88, 72))
    assert v.frames.shape[1:] == (72, 88, 3) and len(v) >= 3


def test_png_folder_and_odd_size_round_trip(tmp_path, carphone):
    src = read_video(carphone, frames=6, size=(41, 23)).frames
    folder = tmp_path / "pngs"
    folder.mkdir()
    with VideoWriter(str(folder / "f_%03d.png"), 41, 23, 25) as w:
        for f in src:
            w.write(f)
    back = read_video(folder)
    assert np.array_equal(back.frames, src) and back.fps == 25
    out = tmp_path / "odd.siedd"
    summary = encode(str(folder), str(out), get_preset("tiny", **FAST), device="cpu", quiet=True)
    assert (summary["width"], summary["height"], summary["frames"]) == (41, 23, 6)
    with SieddReader(out) as r:
        assert r[5].shape == (23, 41, 3) and len(r) == 6


def test_odd_size_641x359_from_video(tmp_path):
    out = tmp_path / "bikes.siedd"
    summary = encode(str(clip("bikes.mp4")), str(out), get_preset("tiny", **FAST, hidden=16),
                     frames=3, size=(641, 359), device="cpu", quiet=True)
    assert (summary["width"], summary["height"]) == (641, 359) and summary["psnr"] > 10
    with SieddReader(out, size=(320, 179)) as r:
        assert r[2].shape == (179, 320, 3)


def test_presets_are_data_and_overridable():
    assert {p.hidden for p in PRESETS.values() if p.family == "siedd"} >= {512, 768, 1024}
    assert {"grid-tiny", "grid-s", "grid-m"} <= set(PRESETS)
    s = PRESETS["s"]
    # the reference's steps a frame, in groups of 40
    assert (s.steps, s.anchor_steps, s.group_size, s.anchors, s.lr) == (40002, 20001, 40, 20, 1e-4)
    for field in s.as_dict():
        if field == "name":
            continue
        value = getattr(s, field)
        text = "1/64" if isinstance(value, float) and value < 0.01 else str(value)
        key, parsed = parse_override(f"{field}={text}")
        assert get_preset("s", **{key: parsed}).as_dict()[field] == parsed
    with pytest.raises(SieddInputError):
        parse_override("nosuchfield=3")
    with pytest.raises(SieddInputError):
        get_preset("s", hidden=3)


def test_precision_choice():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_bf16("auto", cuda) and resolve_bf16("bf16", cpu)
    assert not resolve_bf16("fp32", cuda) and not resolve_bf16("fp32", cpu)
    with pytest.raises(SieddInputError):
        get_preset("tiny", precision="fp16")


def test_bf16_batched_training_matches_fp32(tmp_path, carphone):
    """bf16 autocast with three groups trained in one batched step (the CUDA path's shape, run on
    the CPU) learns the clip as well as float32 one group at a time; the file records which."""
    summaries = {}
    for precision, per_batch in (("fp32", 1), ("bf16", 3)):
        out = tmp_path / f"{precision}.siedd"
        preset = get_preset("tiny", **{**FAST, "steps": 120}, precision=precision,
                            groups_per_batch=per_batch)
        s = encode(str(carphone), str(out), preset, frames=12, device="cpu", quiet=True)
        assert s["precision"] == precision and s["groups"] == 3
        with SieddReader(out) as r:
            assert r.meta["encoder"]["precision"] == precision
            assert r.meta["encoder"]["preset"]["groups_per_batch"] == per_batch
        summaries[precision] = s
    # 120 steps a group: far from trained, but learning (a flat picture scores 11.6 dB here)
    assert summaries["fp32"]["psnr"] > 18 and summaries["bf16"]["psnr"] > 18
    assert abs(summaries["bf16"]["psnr"] - summaries["fp32"]["psnr"]) < 1.5


def _steps_at_spike(clip: float) -> torch.Tensor:
    """Two banks trained on unit-noise gradients; at step 2000 bank 0's gradient is 1000x.
    Returns |z step| at the spike, per bank (max over the bank's weights)."""
    gen = torch.Generator().manual_seed(0)
    p = torch.nn.Parameter(torch.zeros(2, 8))
    opt = ScheduleFreeAdamW([p], lr=1e-2, warmup_steps=10, clip=clip, per_bank=True)
    for k in range(2001):
        g = torch.randn(2, 8, generator=gen)
        if k == 2000:
            g[0] *= 1000
        p.grad = g
        before = opt.z[0].clone()
        opt.step()
    return (opt.z[0] - before).abs().amax(dim=1)


def test_spike_guard_clips_the_spiking_bank_only():
    free, guarded = _steps_at_spike(0.0), _steps_at_spike(2.0)
    assert free[0] > 10 * free[1]                   # unguarded: Adam's step jumps ~30x
    assert guarded[0] < 3 * guarded[1]              # guarded: about the clip factor
    assert guarded[1] > 0.8 * free[1]               # the calm bank is not scaled down with it
    with pytest.raises(SieddInputError):
        get_preset("tiny", grad_clip=0.5)


def test_lr_scales_slow_one_tensor_and_carry_into_the_hard_stage():
    """A tensor's lr scale moves it that much less per step, in the schedule-free stage and in
    the decaying Adam that continues it; the other tensors move as before."""
    from siedd_codec.optim import DecayingAdam

    def moves(scales):
        a, b = torch.nn.Parameter(torch.zeros(4)), torch.nn.Parameter(torch.zeros(4))
        opt = ScheduleFreeAdamW([a, b], lr=1e-2, warmup_steps=0, lr_scales=scales)
        for _ in range(20):
            a.grad, b.grad = torch.ones(4), torch.ones(4)
            opt.step()
        soft = (opt.z[0].abs().mean().item(), opt.z[1].abs().mean().item())
        hard = DecayingAdam(opt, 1e-2, 10)
        start = (a.detach().clone(), b.detach().clone())
        for _ in range(10):
            a.grad, b.grad = torch.ones(4), torch.ones(4)
            hard.step()
        return soft, ((a - start[0]).abs().mean().item(), (b - start[1]).abs().mean().item())
    (soft_a, soft_b), (hard_a, hard_b) = moves(None)
    (scaled_a, same_b), (scaled_hard_a, same_hard_b) = moves([0.25, 1.0])
    assert scaled_a == pytest.approx(0.25 * soft_a, rel=1e-5)
    assert same_b == pytest.approx(soft_b, rel=1e-6)
    assert scaled_hard_a == pytest.approx(0.25 * hard_a, rel=1e-5)
    assert same_hard_b == pytest.approx(hard_b, rel=1e-6)
    for field, bad in (("residual_lr", 0.0), ("residual_lr", 1.5), ("encoder_lambda", 0.0)):
        with pytest.raises(SieddInputError):
            get_preset("tiny", **{field: bad})


def test_group_and_anchor_planning():
    assert plan_groups(45, 20) == [(0, 20), (20, 20), (40, 5)]
    assert plan_anchors(600, 20) == [round(i * 30) for i in range(20)]
    anchors = plan_anchors(100, 5)                         # 0 20 40 60 80
    assert nearest_anchor(anchors, 20, 20) == 1            # centre 29.5 -> anchor 20
    assert nearest_anchor(anchors, 80, 20) == 4            # centre 89.5 -> anchor 80, not 0
    assert plan_anchors(3, 20) == [0, 1, 2]


def test_resume_after_kill(tmp_path, carphone, siedd_cli):
    """SIGKILL an encode after its first group is saved; --resume restores it and finishes."""
    out = tmp_path / "resume.siedd"
    partial = tmp_path / "resume.siedd.partial"
    cmd = siedd_cli + ["encode", str(carphone), "-o", str(out), "--frames", "12", "--size", "64x48",
                       "--group-size", "4", "--anchor-steps", "30", "--steps", "400",
                       "--set", "anchors=2", "--set", "hidden=16", "--device", "cpu", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}      # see conftest.encode_cli

    def kill_when(path):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            deadline = time.time() + 120
            while not path.exists():
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.time() < deadline
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    kill_when(partial / "group_00000.npz")
    assert not out.exists() and (partial / "phase1.npz").exists()
    done = len(list(partial.glob("group_*.npz")))
    assert 1 <= done < 3
    result = subprocess.run(cmd[:-1] + ["--resume", "--json"], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stderr
    assert out.exists() and not partial.exists()
    import json
    assert json.loads(result.stdout)["groups_restored"] == done
    with SieddReader(out) as r:
        assert len(r) == 12
    # a resume from a different setting is refused, not silently mixed, and the work is kept
    kill_when(partial / "phase1.npz")
    saved = folder_bytes(partial)
    other = cmd[:-1] + ["--seed", "7", "--resume", "--quiet"]
    result = subprocess.run(other, capture_output=True, text=True, env=env)
    assert result.returncode == 1 and "different input or settings" in result.stderr
    assert folder_bytes(partial) == saved


# saved work for the tests below: 3 groups (key 0, key 2, predicted 1, trained in that order),
# rate control on (--bytes), so that resuming must restore its bookkeeping too
RESUME_ARGS = ["--frames", "12", "--size", "64x48", "--group-size", "4", "--anchor-steps", "30",
               "--steps", "30", "--set", "anchors=2", "--set", "hidden=16", "--bytes", "3000",
               "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, carphone):
    out = tmp_path_factory.mktemp("uninterrupted") / "clip.siedd"
    assert encode_cli(carphone, out, RESUME_ARGS) == 0
    return out


@pytest.fixture(scope="module")
def killed(tmp_path_factory, carphone):
    """The state a kill right after group 0 (the first trained) leaves: phase 1 and 1 group."""
    out = tmp_path_factory.mktemp("killed") / "clip.siedd"
    assert encode_cli(carphone, out, RESUME_ARGS, stop_after="group_00000") == 130
    partial = out.with_name("clip.siedd.partial")
    assert sorted(folder_bytes(partial)) == ["group_00000.npz", "phase1.npz", "state.json"]
    return partial


def _with_state(tmp_path, killed):
    out = tmp_path / "clip.siedd"
    shutil.copytree(killed, out.with_name("clip.siedd.partial"))
    return out, out.with_name("clip.siedd.partial")


def test_rerun_without_resume_keeps_saved_work(tmp_path, carphone, killed, capsys):
    """Saved work is never discarded unless asked: a rerun without --resume, or with other
    settings, stops with one line saying what is saved and what to do; --restart discards."""
    out, partial = _with_state(tmp_path, killed)
    saved = folder_bytes(partial)
    capsys.readouterr()
    for extra, words in (([], "holds saved work of this encode (phase 1 and 1 of 3 groups); "
                               "continue it with --resume, or discard it with --restart"),
                         (["--seed", "5"], "different input or settings (--seed differs)"),
                         (["--seed", "5", "--resume"], "different input or settings")):
        assert encode_cli(carphone, out, RESUME_ARGS + extra) == 1
        err = capsys.readouterr().err
        assert err.startswith("siedd: error: ") and err.count("\n") == 1 and words in err, err
        assert folder_bytes(partial) == saved and not out.exists()
    assert encode_cli(carphone, out, RESUME_ARGS + ["--restart"]) == 0
    assert out.exists() and not partial.exists()


def test_resumed_encode_is_exact(tmp_path, carphone, killed, uninterrupted):
    """Resumed after group 0 (phase 1 restored, groups 2 and 1 trained) or after phase 1 (phase
    1 restored, with its rate estimate), the file is the uninterrupted one's."""
    out, partial = _with_state(tmp_path, killed)
    assert encode_cli(carphone, out, RESUME_ARGS + ["--resume"]) == 0
    assert not partial.exists() and same_encode(out, uninterrupted)
    out = tmp_path / "phase1.siedd"
    assert encode_cli(carphone, out, RESUME_ARGS, stop_after="phase1") == 130
    assert encode_cli(carphone, out, RESUME_ARGS + ["--resume"]) == 0
    assert same_encode(out, uninterrupted)


def _truncate(path):
    path.write_bytes(path.read_bytes()[:200])


def _garbage(path):
    path.write_bytes(np.random.default_rng(0).bytes(3000))


def _foreign_arrays(path):
    np.savez(path, x=np.zeros(3))


def _pickled(path):
    np.savez(path, x=np.array([{"a": 1}], dtype=object))


@pytest.mark.parametrize("name, damage", [("phase1.npz", _truncate), ("group_00000.npz", _garbage),
                                          ("group_00000.npz", _foreign_arrays),
                                          ("group_00000.npz", _pickled),
                                          ("state.json", _garbage)])
def test_damaged_state_is_one_line_and_kept(tmp_path, carphone, killed, capsys, name, damage):
    """Damaged saved state: one line saying what to do, exit 1, and nothing deleted - with
    --resume and without."""
    out, partial = _with_state(tmp_path, killed)
    damage(partial / name)
    saved = folder_bytes(partial)
    capsys.readouterr()
    for extra in (["--resume"], []):
        assert encode_cli(carphone, out, RESUME_ARGS + extra) == 1
        err = capsys.readouterr().err
        assert err.startswith("siedd: error: ") and err.count("\n") == 1, err
        assert "--restart" in err and "Traceback" not in err
        assert folder_bytes(partial) == saved and not out.exists()


RATE = dict(anchor_steps=150, steps=300, anchors=2, group_size=6, hidden=32)


def test_quality_knob_orders_the_rate(tmp_path, carphone):
    """--quality sets lambda: a higher quality keeps more bits and more PSNR."""
    from siedd_codec.ratecontrol import lambda_to_quality, quality_to_lambda
    sizes = {}
    for q in (0, 100):
        preset = get_preset("tiny", **RATE, rate_lambda=quality_to_lambda(q))
        sizes[q] = encode(str(carphone), str(tmp_path / f"q{q}.siedd"), preset, frames=12,
                          size=(88, 72), device="cpu", quiet=True)
    assert sizes[100]["bytes"] > 1.2 * sizes[0]["bytes"]
    assert sizes[100]["psnr"] > sizes[0]["psnr"]
    # 2 dB per doubling of the rate at Q=50; every +25 halves it
    assert 10 * math.log10(2) * quality_to_lambda(50) == pytest.approx(2.0)
    assert quality_to_lambda(25) == pytest.approx(2 * quality_to_lambda(50))
    assert lambda_to_quality(quality_to_lambda(70)) == pytest.approx(70)


def test_rate_control_lands_on_the_target(tmp_path, carphone):
    """--bpp in one encode: lambda is steered while training runs; the file lands within 10%
    (here at a fixed width, d=32, whose natural rate at --quality 50 is ~0.8 bpp)."""
    for target in (0.55, 1.0):
        s = encode(str(carphone), str(tmp_path / f"t{target}.siedd"),
                   get_preset("tiny", **RATE), frames=12, size=(88, 72), device="cpu",
                   quiet=True, target_bpp=target)
        assert abs(s["bpp"] / target - 1) < 0.10, (target, s["bpp"])
