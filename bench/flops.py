"""Analytic operation counts of siedd's training and decoding, and the machine's matmul peak.

Training FLOPs per step (one multiply-accumulate = 2 FLOPs). Forward + backward is the usual
3x the forward (the backward of a linear layer is two matmuls of the forward's size: the weight
gradient and the input gradient), less the input gradient of the first trained layer, which
nothing needs (its input is the coordinates in phase 1, the frozen features in phase 2):
  phase 1: S samples through the encoder (18*d + d*d MACs) and A anchor decoders
           (3*d*d + 3*d MACs each): 2 * S * (3 * forward - 18*d)
  phase 2: per group and step, S samples through the 3 shared d x d layers and F heads
           (3*d*d + 3*F*d MACs): 2 * S * (3 * forward - d*d)
  plus, once before phase 2, the frozen encoder over all H*W pixels (forward only).
Element-wise work (sin, the optimiser, the sampling gather) is not counted: at small widths it
is most of the time, which is what "achieved FLOP/s" against the matmul peak shows.

Decoding MACs per output pixel and frame (model_spec.macs_per_pixel): encoder 18d + d^2 once
per output size (cached), 3d^2 shared layers once per group of F frames, 3d per frame for the
head. Frame at a time (the reference's way): all of it for every frame.
"""
from __future__ import annotations

import math
import time

from siedd_codec.model_spec import PE_DIM, macs_per_pixel
from siedd_codec.training import plan_anchors, plan_groups  # noqa: F401 (torch import)


def samples_per_step(preset, width: int, height: int) -> int:
    pixels = width * height
    return min(pixels, max(preset.min_samples, round(preset.sample_fraction * pixels)))


def train_flops(preset, frames: int, width: int, height: int) -> dict:
    """Analytic training FLOPs. Phase 2 is counted per group-step (one group, one step): the total
    does not depend on how many groups the trainer batches together."""
    d = preset.hidden
    s = samples_per_step(preset, width, height)
    a = len(plan_anchors(frames, preset.anchors))
    groups = plan_groups(frames, preset.group_size)
    p1_fwd = PE_DIM * d + d * d + a * (3 * d * d + 3 * d)
    p1_step = 2.0 * s * (3 * p1_fwd - PE_DIM * d)
    p2_group_steps = [2.0 * s * (3 * (3 * d * d + 3 * f * d) - d * d) for _, f in groups]
    features = 2.0 * width * height * (PE_DIM * d + d * d)
    return {
        "samples_per_step": s, "anchors": a, "groups": len(groups),
        "phase1_flops_per_step": p1_step,
        "phase2_flops_per_group_step": p2_group_steps[0],   # a full group
        "phase1_flops": p1_step * preset.anchor_steps,
        "phase2_flops": sum(p2_group_steps) * preset.steps + features,
        "frozen_features_flops": features,
    }


def decode_macs_per_frame(hidden: int, width: int, height: int, group_frames: int,
                          mode: str) -> float:
    """mode: 'group_cached' (features cached, shared layers once per group: the steady state),
    'group_cold' (same, encoder run for this group too), 'frame' (the reference's way)."""
    m = macs_per_pixel(hidden)
    px = width * height
    if mode == "group_cached":
        per_px = m["group_shared"] / group_frames + m["head"]
    elif mode == "group_cold":
        per_px = (m["encoder"] + m["group_shared"]) / group_frames + m["head"]
    elif mode == "frame":
        per_px = m["encoder"] + m["group_shared"] + m["head"]
    else:
        raise ValueError(mode)
    return per_px * px


# -- matmul peak -----------------------------------------------------------------------------
def matmul_peak(device: str = "cpu", seconds: float = 1.0, sizes=(1024, 2048, 4096),
                dtypes=("float32", "bfloat16"), repeats: int = 2) -> dict:
    """Best achieved FLOP/s of a square torch matmul per dtype (GFLOP/s), over sizes and repeats.
    On CUDA fp32 is measured with TF32 off and on, plus float16."""
    import torch
    dev = torch.device(device)
    if dev.type == "cuda":
        dtypes = tuple(dtypes) + ("float32_tf32", "float16")
    out = {}
    for name in dtypes:
        if name == "bfloat16" and dev.type == "cpu":
            from siedd_codec.training import cpu_has_bf16_matmul
            if not cpu_has_bf16_matmul():
                # emulated: one 4096^2 matmul took minutes, and training does not use it here
                continue
        dt = getattr(torch, name.replace("_tf32", ""))
        tf32 = name.endswith("_tf32")
        if dev.type == "cuda":
            old = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
        per_size = {}
        for n in sizes:
            a = torch.randn(n, n, device=dev).to(dt)
            b = torch.randn(n, n, device=dev).to(dt)
            c = torch.empty(n, n, device=dev, dtype=dt)
            best = 0.0
            for _ in range(repeats):
                torch.matmul(a, b, out=c)          # warm-up
                _sync(dev)
                k, t0 = 0, time.perf_counter()
                while True:
                    torch.matmul(a, b, out=c)
                    k += 1
                    if k % 4 == 0 or dev.type == "cpu":
                        _sync(dev)
                        el = time.perf_counter() - t0
                        if el >= seconds / repeats:
                            break
                best = max(best, 2.0 * n ** 3 * k / el / 1e9)
            per_size[str(n)] = round(best, 1)
            del a, b, c
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = old
        out[name] = {"gflops": max(per_size.values()), "by_size": per_size}
    return out


def _sync(dev) -> None:
    if dev.type == "cuda":
        import torch
        torch.cuda.synchronize()


def gflops(flops: float, seconds: float) -> float | None:
    if not seconds or seconds <= 0 or not math.isfinite(seconds):
        return None
    return flops / seconds / 1e9
