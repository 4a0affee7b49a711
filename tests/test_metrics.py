"""The numbers siedd reports: PSNR of the clip's whole MSE (the per-frame mean beside it) and SSIM,
on real frames of a real clip."""
import numpy as np
import pytest

from conftest import clip
from siedd_codec.metrics import clip_quality, frame_ssim, mean_psnr


@pytest.fixture(scope="module")
def frames():
    from siedd_codec.video_io import read_video
    return read_video(clip("carphone_pristine.mp4"), frames=60).frames


def degraded(frames, sigma=6.0, seed=0):
    rng = np.random.default_rng(seed)
    noisy = frames.astype(np.float64) + rng.normal(0, sigma, frames.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def test_one_perfect_frame_cannot_lift_the_clip(frames):
    """Adding one perfectly coded frame (a black one, coded perfectly) to 60 moves the reported
    PSNR by less than 0.1 dB (by 10 log10(61/60) = 0.07: one frame's share of the MSE); the
    per-frame mean jumps by over a dB, which is why it is not the main figure."""
    decoded = degraded(frames)
    base = clip_quality(decoded, frames)
    black = np.zeros_like(frames[:1])
    lifted = clip_quality(np.concatenate([black, decoded]), np.concatenate([black, frames]))
    assert abs(lifted["psnr"] - base["psnr"]) < 0.1
    assert lifted["psnr_mean_frames"] - base["psnr_mean_frames"] > 1
    assert lifted["psnr_mean_frames"] == pytest.approx(
        mean_psnr(np.concatenate([black, decoded]), np.concatenate([black, frames])))


def test_clip_psnr_is_the_whole_mse(frames):
    decoded = degraded(frames)
    mse = np.mean((decoded.astype(np.float64) - frames) ** 2)
    assert clip_quality(decoded, frames)["psnr"] == pytest.approx(10 * np.log10(255 ** 2 / mse))


def test_ssim_matches_a_direct_2d_window(frames):
    """The separable SSIM equals a direct 11x11 Gaussian window (torch conv2d), and orders
    degradations as it should."""
    import torch
    a, b = frames[3], degraded(frames[3:4], sigma=10)[0]
    x = torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[:, None]
    y = torch.from_numpy(b.astype(np.float64)).permute(2, 0, 1)[:, None]
    g = torch.exp(-(torch.arange(11, dtype=torch.float64) - 5) ** 2 / (2 * 1.5 ** 2))
    w = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    conv = lambda t: torch.nn.functional.conv2d(t, w)   # noqa: E731
    mx, my = conv(x), conv(y)
    vx, vy, cov = conv(x * x) - mx ** 2, conv(y * y) - my ** 2, conv(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ref = (((2 * mx * my + c1) * (2 * cov + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    assert frame_ssim(b, a) == pytest.approx(float(ref.mean()), abs=1e-9)
    assert frame_ssim(a, a) == pytest.approx(1.0)
    mild, strong = degraded(frames[3:4], 3)[0], degraded(frames[3:4], 20)[0]
    assert 1 > frame_ssim(mild, a) > frame_ssim(b, a) > frame_ssim(strong, a) > 0
    tiny = frames[3][:8, :9]
    assert frame_ssim(tiny, tiny) == pytest.approx(1.0)
