"""SIEDD training, both phases, on CPU or CUDA, with quantisation and the rate in the loop.

Phase 1: the shared encoder trains jointly with one full decoder per anchor frame (anchors
evenly spaced, round(i N / A)). Phase 2: the encoder is frozen - its output over the pixel grid
is computed once, from the encoder weights exactly as the file stores them - and each group of G
consecutive frames gets a decoder: a key group starts from the anchor nearest its centre, a
predicted group (every group but each `key_interval`-th) from the group before it, whose shared
layers it then codes as a residual. Groups of one position in their chains are independent;
several train in one batched step (their parameters stacked), the rest of the time one by one.
Each step samples the same pixel positions for every frame, walking a reshuffled permutation.
Where a group's frames follow a panning camera (motion.integer_shifts), its shared layers are
evaluated over a canvas, and each frame is compared where its moved window covers the sampled
canvas pixels (canvas.py).

Every stored tensor is trained against its quantiser (qat.py): soft rounding with noise first,
straight-through rounding for the last `hard_fraction` of the steps, and the loss is
    distortion + lambda x rate,
distortion the per-frame z-scored MSE, rate the estimated bits of the stored tensors per pixel
of the frames they serve, scaled by 1 / (mean std^2) so that lambda trades RGB MSE against bpp.
The codes written to the file are those the last training step evaluated."""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from . import canvas as canvas_geometry
from .container import norm_to_file
from .errors import SieddError
from .model import DecoderBank, SharedEncoder, decoder_forward, encoder_forward
from .model_spec import FRAME_DELTAS, PREDICTED, coordinate_grid, tensor_bits
from .motion import integer_shifts
from .optim import DecayingAdam, ScheduleFreeAdamW
from .presets import Preset
from .progress import CALIBRATION_STEPS, Progress, Stage, Stopwatch
from .model_spec import encoder_shapes, encoder_weight_count, group_shapes, group_weight_count
from .qat import STEP_GAIN, StoredTensors
from .ratecontrol import (DEFAULT_QUALITY, GROUP_BITS_PRIOR, Lagrangian, encoder_share,
                          quality_to_lambda, steering_bounds)
from .resume import ResumeState
from .tensor_codec import dequantize
from .video_io import Video
from .weights import HEAD_DELTAS, PREDICTED_GROUP, encode_encoder, encode_group, reconstruct

if TYPE_CHECKING:
    from .distributed import Job

# soft-rounding temperature, annealed over the soft stage (C3 / Cool-chic: 0.3 -> 0.1)
SOFT_T_START, SOFT_T_END = 0.3, 0.1
# the hard stage's Adam starts at this fraction of the preset's lr and decays linearly to 0
HARD_LR_SCALE = 0.3
# the step search's factors (besides 1)
STEP_SEARCH = (0.5, 0.71, 1.41, 2.0, 2.83)

Codes = dict[str, tuple[np.ndarray, float]]     # name -> (integer codes, step)


@dataclass
class TrainedModel:
    """What training hands the file writer: codes and steps of every stored tensor (a
    predicted group's PREDICTED tensors as residuals), and their decoded float values."""
    hidden: int
    encoder_codes: Codes
    group_codes: list[Codes]
    group_flags: list[int]          # weights.PREDICTED_GROUP | weights.HEAD_DELTAS
    group_ranges: list[tuple[int, int]]
    norm: np.ndarray
    anchors: list[int]
    group_shifts: list[np.ndarray | None] = field(default_factory=list)   # motion, or None
    encoder: dict[str, np.ndarray] = field(default_factory=dict)       # decoded values
    groups: list[dict[str, np.ndarray]] = field(default_factory=list)  # decoded values
    stats: dict = field(default_factory=dict)


def decoded(codes: Codes, flags: int = 0, base: dict[str, np.ndarray] | None = None
            ) -> dict[str, np.ndarray]:
    """The float32 values a decoder computes from codes (weights.decode_group's arithmetic)."""
    return reconstruct({k: dequantize(c, step) for k, (c, step) in codes.items()}, flags, base)


def is_key_group(g: int, key_interval: int) -> bool:
    return g % key_interval == 0


def group_flags(g: int, preset: Preset) -> int:
    """How group g's weights are coded (weights.py's flags byte)."""
    return (0 if is_key_group(g, preset.key_interval) else PREDICTED_GROUP) | \
        (HEAD_DELTAS if preset.head_deltas == "on" else 0)


def plan_groups(frame_count: int, group_size: int, cuts=()) -> list[tuple[int, int]]:
    """(first, count) of each group: runs of group_size frames, a new run at every cut (a
    frame that starts a shot, scenes.py), so no group straddles two shots."""
    starts = sorted({0, *(c for c in cuts if 0 < c < frame_count)})
    groups = []
    for begin, end in zip(starts, [*starts[1:], frame_count]):
        groups += [(first, min(group_size, end - first)) for first in range(begin, end, group_size)]
    return groups


def plan_anchors(frame_count: int, anchors: int) -> list[int]:
    a = min(anchors, frame_count)
    return sorted({min(frame_count - 1, round(i * frame_count / a)) for i in range(a)})


def nearest_anchor(anchors: list[int], first: int, count: int) -> int:
    centre = first + (count - 1) / 2
    return min(range(len(anchors)), key=lambda i: (abs(anchors[i] - centre), i))


def group_seed(seed: int, group: int) -> int:
    """The seed of a group's random draws (pixel samples, quantisation noise), its own: a group
    trains the same whichever run trains it, so a resumed encode equals an uninterrupted one."""
    digest = hashlib.blake2b(f"siedd group {seed} {group}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def saved_shifts(shifts: np.ndarray | None, frames: int) -> np.ndarray:
    """A group's motion as resume states and distributed runs carry it: float64, 0 for none."""
    return np.zeros((frames, 2)) if shifts is None else shifts.astype(np.float64)


def restored_shifts(saved: np.ndarray) -> np.ndarray | None:
    shifts = np.asarray(saved)
    return shifts.astype(np.int16) if shifts.any() else None


def frame_norm(frames: np.ndarray) -> np.ndarray:
    """Per-frame scalar mean and std of RGB in [0, 1], (N, 2) float32, as the file stores them
    (float16); std floored for flat frames."""
    x = frames.reshape(frames.shape[0], -1).astype(np.float64) / 255.0
    mean, std = x.mean(axis=1), x.std(axis=1)
    norm = np.stack([mean, np.maximum(std, 1e-3)], axis=1)
    return norm_to_file(norm).astype(np.float32)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SieddError("device cuda asked for, but torch sees no CUDA device")
    if device not in ("cpu", "cuda"):
        raise SieddError(f"unknown device {device!r}; choose from auto, cpu, cuda")
    return torch.device(device)


def cpu_has_bf16_matmul() -> bool:
    """True where the CPU multiplies bf16 in hardware (AMX or AVX512-BF16); elsewhere bf16 is
    emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_bf16(precision: str, device: torch.device) -> bool:
    """auto: bf16 on CUDA and on CPUs with bf16 hardware. The measured trade on CPUs (faster,
    PSNR within seed noise or slightly lower at small widths) is the benchmarks' precision
    section."""
    if precision == "auto":
        return device.type == "cuda" or cpu_has_bf16_matmul()
    return precision == "bf16"


# the most frame bytes (uint8 RGB) a batch of groups holds when several train at once (CUDA)
BATCH_FRAME_BYTES = 1 << 30


@dataclass
class CanvasMaps:
    """A batch of moving groups: for each canvas pixel and each of the batch's frames (B x F, in
    frame_ids order), the frame's value there (its nearest pixel where it does not cover it) and
    whether it covers it. Canvas-pixel major, as the frames in training are: a step's samples
    are contiguous rows (a gather through per-frame indices was 2x the step's time)."""
    pixels: int
    video: torch.Tensor       # (pixels, B*F, 3) uint8
    covered: torch.Tensor     # (pixels, B*F) bool


class PixelSampler:
    """Consecutive slices of a reshuffled permutation: every pixel once per epoch."""

    def __init__(self, pixels: int, per_step: int, gen: torch.Generator, device: torch.device):
        self.pixels, self.per_step, self.gen, self.device = pixels, per_step, gen, device
        self._perm = None
        self._pos = pixels

    def next(self) -> torch.Tensor:
        if self._pos + self.per_step > self.pixels:
            self._perm = torch.randperm(self.pixels, generator=self.gen).to(self.device)
            self._pos = 0
        out = self._perm[self._pos:self._pos + self.per_step]
        self._pos += self.per_step
        return out


class Trainer:
    def __init__(self, video: Video, preset: Preset, device: str = "auto", seed: int = 0,
                 progress: Progress | None = None, state: ResumeState | None = None, log=None,
                 budget_bits: float | None = None, job: Job | None = None):
        """video: read on demand - phase 1 holds the anchor frames, phase 2 one batch of groups'
        frames, so memory does not grow with the clip's length.
        budget_bits: rate control - the bits the coded weights (encoder and groups, with
        their per-section headers) may take; lambda is then steered to it (ratecontrol.py).
        job: this process's share of a torchrun job (distributed.py): phase 1 on rank 0, the
        chains of groups dealt out by rank."""
        self.job = job
        self.preset = preset
        self.budget_bits = budget_bits
        self.rate_on = preset.rate_lambda > 0 or budget_bits is not None
        self.lam = preset.rate_lambda or quality_to_lambda(DEFAULT_QUALITY)
        self.lam_bounds = steering_bounds(self.lam)
        self.device = resolve_device(device)
        self.seed = seed
        self.progress = progress or Progress(enabled=False)
        self.state = state
        self.log = log or (lambda msg: None)
        self.source = video
        self.n, self.h, self.w = len(video), video.height, video.width
        self.pixels = self.h * self.w
        self.norm = np.concatenate([frame_norm(frame[None]) for frame in video])
        self.samples = min(self.pixels, max(preset.min_samples,
                                            round(preset.sample_fraction * self.pixels)))
        dev = self.device
        self.video = None                       # the frames in training: _load
        self.loaded: list[int] = []             # ... their ids
        self.slot = torch.full((self.n,), -1, dtype=torch.long, device=dev)
        self.mean = torch.from_numpy(self.norm[:, 0]).to(dev)
        self.std = torch.from_numpy(self.norm[:, 1]).to(dev)
        self.coords = torch.from_numpy(coordinate_grid(self.w, self.h)).to(dev)
        self.maps: CanvasMaps | None = None     # the batch in training moves (phase 2)
        # bf16 autocast: the matmuls run on tensor cores / AMX with float32 accumulation, the
        # sines stay float32 (model.sine). bf16 keeps float32's range, so no loss scaling.
        self.bf16 = resolve_bf16(preset.precision, dev)
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True

    # -- helpers -------------------------------------------------------------------------------
    def _reseed(self, seed: int, noise_seed: int) -> None:
        """The generators of the next model's training (phase 1, or one batch of groups)."""
        self.gen = torch.Generator().manual_seed(seed)
        self.noise_gen = torch.Generator(device=self.device).manual_seed(noise_seed)

    def _load(self, frame_ids: list[int]) -> None:
        """Hold these frames (ascending) for training, and only these."""
        if self.video is not None and frame_ids == self.loaded:
            return
        self.loaded = list(frame_ids)
        frames = self.source.take(frame_ids)
        self.video = None
        # pixel-major uint8: one gather fetches a sample's value in every frame
        self.video = torch.from_numpy(frames.reshape(len(frame_ids), self.pixels, 3)
                                      .transpose(1, 0, 2).copy()).to(self.device)
        self.slot.fill_(-1)
        self.slot[torch.tensor(frame_ids, device=self.device)] = torch.arange(
            len(frame_ids), device=self.device)

    def _targets(self, pix: torch.Tensor, frame_ids: torch.Tensor) -> torch.Tensor:
        """frame_ids (B, F) -> z-scored targets (B, S, F, 3)."""
        B, F = frame_ids.shape
        flat = frame_ids.reshape(-1)
        if self.maps is None:
            t = self.video[pix[:, None], self.slot[flat][None, :]].float() / 255.0   # (S, B*F, 3)
        else:
            t = self.maps.video[pix].float() / 255.0
        t = (t - self.mean[flat][None, :, None]) / self.std[flat][None, :, None]
        return t.reshape(-1, B, F, 3).permute(1, 0, 2, 3)

    def _use_compile(self) -> bool:
        choice = self.preset.compile
        return choice == "yes" or (choice == "auto" and self.device.type == "cuda")

    def _quantized(self) -> bool:
        return self.preset.qat == "on"

    def _train(self, raw: dict, stored: StoredTensors, steps: int, forward, frame_ids: torch.Tensor,
               lagrangian: Lagrangian, detail: str, per_bank: bool = False,
               lr: float | None = None, stopwatch: Stopwatch | None = None,
               lr_scales: dict[str, float] | None = None) -> None:
        """Train `raw` (float parameters, not stored) and `stored` (the quantised tensors and their
        steps) for `steps` steps. forward(pix, weights) -> z-scored predictions (B, S, F, 3).
        stopwatch: calibration - run `steps` soft steps only, timing them, and stop there.
        lr_scales: stored tensor name -> factor on its lr (the others: 1)."""
        p = self.preset
        lr = lr or p.lr
        quantized = self._quantized()
        hard_steps = round(p.hard_fraction * steps) if quantized else 0
        soft_steps = steps - hard_steps
        params = list(raw.values()) + list(stored.params.values()) + stored.trainable()
        rate_on = quantized and self.rate_on

        def step_loss(pix, stage: str, temperature, rate_weight):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                if stage == "float":
                    weights, bits, stored_bits = dict(stored.params), None, None
                else:
                    weights, bits, stored_bits = stored(stage, temperature, self.noise_gen,
                                                        measure=lagrangian.steered)
                pred = forward(pix, {**raw, **weights})
            target = self._targets(pix, frame_ids)
            # per model mean squared error, summed over models: each trains as if alone
            if self.maps is None:
                mse = (pred.float() - target).square().mean(dim=(1, 2, 3))
            else:      # over the frames' pixels the samples cover
                B, F = frame_ids.shape
                covered = self.maps.covered[pix].reshape(-1, B, F).transpose(0, 1)[..., None]
                mse = ((pred.float() - target).square() * covered).sum(dim=(1, 2, 3)) / \
                    (3 * covered.sum(dim=(1, 2, 3)).clamp(min=1))
            loss = mse + rate_weight * bits if rate_on else mse
            return loss, mse.detach(), None if bits is None else bits.detach(), stored_bits

        compiled = {}

        def run(pix, stage, temperature):
            args = (pix, stage, temperature, lagrangian.weight())
            if not self._use_compile() or stopwatch is not None:   # calibration: eager
                return step_loss(*args)
            if stage not in compiled:
                compiled[stage] = torch.compile(step_loss, dynamic=False)
                try:
                    return compiled[stage](*args)
                except Exception as exc:   # a compiler problem must not cost the encode
                    self.log(f"torch.compile failed ({type(exc).__name__}); training eagerly")
                    compiled[stage] = step_loss
            return compiled[stage](*args)

        sampler = PixelSampler(self.pixels if self.maps is None else self.maps.pixels,
                               self.samples, self.gen, self.device)
        if stopwatch is not None:
            hard_steps, soft_steps = 0, steps

        def progress():
            if stopwatch is not None:
                stopwatch.tick()
            else:
                self.progress.advance(1, detail)

        # soft stage (or float training when quantisation is off): schedule-free AdamW
        scales = None
        if lr_scales:
            scales = [1.0] * len(raw) + [lr_scales.get(n, 1.0) for n in stored.params] + \
                [1.0] * len(stored.trainable())
        opt = ScheduleFreeAdamW(params, lr=lr, warmup_steps=p.warmup_steps, clip=p.grad_clip,
                                per_bank=per_bank, lr_scales=scales)
        for step in range(soft_steps):
            frac = step / max(1, soft_steps - 1)
            # a tensor, so that a compiled step is not recompiled for every value
            temperature = torch.tensor(SOFT_T_START + (SOFT_T_END - SOFT_T_START) * frac,
                                       device=self.device)
            loss, mse, bits, stored_bits = run(sampler.next(),
                                               p.soft_quant if quantized else "float", temperature)
            loss = loss.sum()
            loss.backward()
            opt.step()
            opt.zero_grad()
            if rate_on:
                lagrangian.observe(step, mse, bits, stored_bits)
            progress()
        if stopwatch is not None:
            return
        with torch.no_grad():
            for param, x in zip(opt.params, opt.averaged()):
                param.copy_(x)
        # hard stage: straight-through rounding; Adam continuing from the schedule-free state
        # (its second moment and spike guard: a fresh Adam, or schedule-free itself, lost 1-1.5
        # dB here), its lr decaying to 0 on the last step, so the weights stored are the ones
        # that step evaluated
        if quantized and rate_on and p.step_search == "on":
            self._search_steps(stored, lambda pix: step_loss(pix, "hard", None, lagrangian.weight())[0])
        if quantized and lagrangian.steered:
            # rate control: the rate lags lambda, so what dual ascent left over is trimmed by
            # scaling every step of the model together until the codes' bits meet the budget;
            # the steps then stay, the weights adapt to them in the hard stage
            self._trim_to_budget(stored, lagrangian.budget)
            stored.log_step.requires_grad_(False)
        if hard_steps:
            hard = DecayingAdam(opt, lr * HARD_LR_SCALE, hard_steps)
            for k in range(hard_steps):
                loss, mse, bits, stored_bits = run(sampler.next(), "hard", None)
                loss = loss.sum()
                loss.backward()
                hard.step()
                hard.zero_grad()
                if lagrangian.steered:     # the steps are fixed now: lambda holds the budget
                    lagrangian.observe(soft_steps + k, mse, bits, stored_bits)
                progress()

    @torch.no_grad()
    def _search_steps(self, stored: StoredTensors, hard_loss) -> None:
        """Per-tensor step search: each stored tensor's step (each model's on its own) is
        scaled by the factor in STEP_SEARCH that minimises distortion + lambda x rate with
        straight-through rounding, on a fixed sample of pixels; one pass, tensor by tensor."""
        count = min(self.pixels, 4 * self.samples)
        pix = torch.randperm(self.pixels, generator=self.gen)[:count].to(self.device)
        chunks = [pix[i:i + self.samples] for i in range(0, count, self.samples)]

        def cost():
            per_model = sum(hard_loss(c) * len(c) for c in chunks) / count
            # one encoder serves every anchor: its step is chosen for their sum
            return per_model if stored.banked else per_model.sum()
        for t in range(len(stored.names)):
            column = stored.log_step[:, t]
            start = column.detach().clone()
            best_cost = cost()
            best = torch.zeros_like(best_cost)
            for factor in STEP_SEARCH:
                shift = math.log(factor) / STEP_GAIN
                column.copy_(start + shift)
                c = cost()
                better = c < best_cost
                best_cost = torch.where(better, c, best_cost)
                best = torch.where(better, torch.full_like(best, shift), best)
            column.copy_(start + best)

    def _stored(self, params: dict, banked: bool, init_bits: dict | None = None,
                init_steps: dict | None = None, base: dict | None = None,
                deltas: tuple = ()) -> StoredTensors:
        learn = self._quantized() and self.rate_on
        return StoredTensors(params, banked=banked, learn_steps=learn, init_bits=init_bits,
                             init_steps=init_steps, base=base, deadzone=self.preset.deadzone,
                             deltas=deltas)

    @torch.no_grad()
    def _trim_to_budget(self, stored: StoredTensors, budget: torch.Tensor) -> None:
        """Scale all of each model's steps by one factor (bisection on its log) so that the
        estimated bits of its codes meet its budget."""
        start = stored.log_step.detach().clone()
        lo = torch.full_like(budget, math.log(1 / 16) / STEP_GAIN)
        hi = torch.full_like(budget, math.log(16.0) / STEP_GAIN)
        for _ in range(24):
            mid = (lo + hi) / 2
            stored.log_step.copy_(start + mid.reshape(-1, 1))
            over = self._estimate(stored) > budget          # too many bits: coarser steps
            lo = torch.where(over, mid, lo)
            hi = torch.where(over, hi, mid)
        stored.log_step.copy_(start + ((lo + hi) / 2).reshape(-1, 1))

    @torch.no_grad()
    def _estimate(self, stored: StoredTensors) -> torch.Tensor:
        """The rate term's estimate of the bits of the codes as they are now (per model)."""
        return stored("hard", measure=True)[2]

    def _bits_of(self, names) -> dict[str, int]:
        quant = self.preset.quant()
        return {n: tensor_bits(n, quant) for n in names}

    # -- phases --------------------------------------------------------------------------------
    def _phase1_model(self, anchors: list[int]):
        """Phase 1's encoder, anchor decoders and their training set-up, anchor frames loaded:
        -> (bank, stored, raw, forward, frame_ids, lagrangian)."""
        d = self.preset.hidden
        init_gen = torch.Generator().manual_seed(self.seed + 1)
        encoder = SharedEncoder(d, init_gen).to(self.device)
        bank = DecoderBank(len(anchors), d, 1, init_gen).to(self.device)
        frame_ids = torch.tensor(anchors, device=self.device)[:, None]
        self._load(sorted(set(anchors)))
        enc_params = encoder.weights()
        stored = self._stored(enc_params, banked=False, init_bits=self._bits_of(enc_params))
        raw = {f"anchor.{k}": v for k, v in bank.weights().items()}
        # the encoder's bits serve every frame; its distortion is the anchors'; besides its own
        # bits the clip pays for the groups', estimated before they exist
        groups = plan_groups(self.n, self.preset.group_size)
        group_bits = sum(GROUP_BITS_PRIOR * group_weight_count(d, count) for _, count in groups)
        budget = None
        if self.budget_bits is not None:
            share = encoder_share(encoder_weight_count(d), group_weight_count(d, self.preset.group_size),
                                  len(groups))
            budget = torch.tensor(share * self.budget_bits, device=self.device)
            group_bits = (1 - share) * self.budget_bits
        # encoder_lambda: whether the encoder, which every group then adapts to, is worth a
        # different slope than its anchors' distortion suggests (measured: no)
        lam = self.lam * self.preset.encoder_lambda
        lagrangian = Lagrangian(lam, torch.tensor(float(group_bits), device=self.device),
                                budget, self.preset.warmup_steps, shared=True,
                                bounds=steering_bounds(lam))

        def forward(pix, w):
            features = encoder_forward(self.coords[pix], w)
            return decoder_forward(features, {k.split(".", 1)[1]: v for k, v in w.items()
                                              if k.startswith("anchor.")})
        return bank, stored, raw, forward, frame_ids, lagrangian

    def phase1(self, anchors: list[int]) -> tuple[Codes, dict]:
        self._reseed(self.seed, self.seed + 2)
        bank, stored, raw, forward, frame_ids, lagrangian = self._phase1_model(anchors)
        # each anchor's loss carries the rate term: summed, A x (mean distortion + rate)
        self.progress.start("phase 1")
        self._train(raw, stored, self.preset.anchor_steps, forward, frame_ids, lagrangian,
                    f"encoder + {len(anchors)} anchors")
        # the groups start from the quality's lambda, not from where steering left the encoder's:
        # the encoder's rate answers lambda far more slowly than a group's (carried over, it
        # started the groups 16x too high and cost them 10 dB)
        self.estimated_bits = float(self._estimate(stored))
        anchors_w = {f"a{i}.{k}": v for i in range(len(anchors)) for k, v in bank.export(i).items()}
        return stored.codes(), anchors_w

    def calibrate(self, anchors: list[int], train_phase1: bool, batch: list[int] | None,
                  phase2_steps: int, groups: list[tuple[int, int]]) -> list[Stage]:
        """The stages ahead, each with its seconds per step timed here: a few steps of phase 1's
        real model, and of phase 2's decoders (one batch of them, on stand-in features: the
        encoder is not trained yet). Eager: with torch.compile (CUDA) the estimate is high.
        batch: the first batch of groups phase 2 will train (None: all restored);
        phase2_steps: the steps of every batch, restored ones too."""
        stages = []
        if train_phase1:
            self._reseed(self.seed, self.seed + 2)
            _, stored, raw, forward, frame_ids, lagrangian = self._phase1_model(anchors)
            watch = Stopwatch(self.device.type)
            self._train(raw, stored, watch.steps, forward, frame_ids, lagrangian, "",
                        stopwatch=watch)
            stages.append(Stage("phase 1", self.preset.anchor_steps, watch.seconds))
            del stored, raw, forward, lagrangian
        seconds = 0.0
        if batch is not None:
            d, width, frames = self.preset.hidden, len(batch), groups[batch[0]][1]
            self._reseed(self.seed, self.seed + 2)
            self._load(sorted(set(anchors)))
            params = DecoderBank(width, d, frames).to(self.device).weights()
            stored = self._stored(params, banked=True, init_bits=self._bits_of(params))
            rows = min(self.pixels, 4 * self.samples)
            features = torch.randn(rows, d, generator=self.gen).to(self.device)
            frame_ids = torch.tensor([[anchors[k % len(anchors)] for k in range(frames)]] * width,
                                     device=self.device)
            lagrangian = Lagrangian(self.lam, torch.zeros(width, device=self.device), None,
                                    self.preset.warmup_steps, bounds=self.lam_bounds)
            watch = Stopwatch(self.device.type)
            self._train({}, stored, watch.steps,
                        lambda pix, w: decoder_forward(features[pix % rows], w),
                        frame_ids, lagrangian, "", per_bank=True, stopwatch=watch)
            seconds = watch.seconds
        stages.append(Stage("phase 2", phase2_steps, seconds))
        return stages

    def frozen_features(self, encoder_w: dict[str, np.ndarray], coords: torch.Tensor | None = None
                        ) -> torch.Tensor:
        """The frozen encoder's output over the picture's grid, or over `coords`."""
        encoder = SharedEncoder(self.preset.hidden, torch.Generator()).to(self.device)
        encoder.load(encoder_w)
        coords = self.coords if coords is None else coords
        chunk = max(1024, (64 << 20) // (4 * self.preset.hidden))
        with torch.no_grad():
            return torch.cat([encoder(coords[i:i + chunk]) for i in range(0, len(coords), chunk)])

    def group_motion(self, frame_ids: list[int]) -> np.ndarray | None:
        """A loaded group's shifts (motion.integer_shifts), or None (motion off, or no pan)."""
        if not self.preset.motion or len(frame_ids) < 2:
            return None
        slots = self.slot[torch.tensor(frame_ids, device=self.device)]
        frames = self.video[:, slots].permute(1, 0, 2).reshape(len(frame_ids), self.h, self.w, 3)
        return integer_shifts(frames.cpu().numpy())

    def canvas_features(self, encoder_w: dict[str, np.ndarray], shifts: list[np.ndarray | None],
                        frame_ids: torch.Tensor) -> torch.Tensor:
        """A moving batch (frame_ids (B, F), loaded): set self.maps to the canvas holding every
        group's frames' windows, and -> the frozen encoder's output over it."""
        frames = frame_ids.shape[1]
        moves = np.concatenate([s if s is not None else np.zeros((frames, 2), np.int16)
                                for s in shifts])
        canvas = canvas_geometry.box(moves, self.w, self.h)
        rows, cols, rows_in, cols_in = (torch.from_numpy(a).to(self.device) for a in
                                        canvas_geometry.training_maps(moves, self.w, self.h, canvas))
        slots = self.slot[frame_ids.reshape(-1)]
        video = torch.empty((canvas.rows * canvas.cols, len(slots), 3), dtype=torch.uint8,
                            device=self.device)
        for j, slot in enumerate(slots.tolist()):
            picture = self.video[:, slot].reshape(self.h, self.w, 3)
            video[:, j] = picture[rows[j]][:, cols[j]].reshape(-1, 3)
        covered = (rows_in[:, :, None] & cols_in[:, None, :]).reshape(len(slots), -1)
        self.maps = CanvasMaps(canvas.rows * canvas.cols, video, covered.t().contiguous())
        coords = torch.from_numpy(coordinate_grid(self.w, self.h, canvas)).to(self.device)
        return self.frozen_features(encoder_w, coords)

    def groups_per_batch(self, total: int, frames: int) -> int:
        """CPU: one group at a time (small batches win there). CUDA: as many groups per batched
        step as fit in a quarter of the free memory - usually all of them."""
        if self.preset.groups_per_batch:
            return self.preset.groups_per_batch
        if self.device.type != "cuda":
            return 1
        d, s = self.preset.hidden, self.samples
        params = 3 * d * d + 3 * d + frames * 3 * (d + 1)
        per_group = 4 * (7 * params + 12 * s * d + 4 * s * frames * 3) + frames * self.pixels * 3
        free, _ = torch.cuda.mem_get_info(self.device)
        # the batch's frames pass through host memory too: bounded, whatever the clip's length
        host = BATCH_FRAME_BYTES // (frames * self.pixels * 3)
        return max(1, min(total, host, int(free // 4 // per_group)))

    def plan_batches(self, groups: list[tuple[int, int]], todo: list[int]) -> list[list[int]]:
        """Batches of groups that may train together: equal frame counts, and a predicted group
        only after the group it builds on (chains advance one position per batch)."""
        key_interval = self.preset.key_interval
        per_batch = self.groups_per_batch(len(todo), self.preset.group_size)
        batches: list[list[int]] = []
        for position in range(key_interval):
            for g in [g for g in todo if g % key_interval == position]:
                if batches and len(batches[-1]) < per_batch and \
                        groups[batches[-1][0]][1] == groups[g][1] and \
                        batches[-1][0] % key_interval == position:
                    batches[-1].append(g)
                else:
                    batches.append([g])
        return batches

    def phase2(self, encoder_w: dict[str, np.ndarray], anchors: list[int], anchor_w: dict,
               groups: list[tuple[int, int]], batches: list[list[int]],
               saved: dict[int, tuple[Codes, float, float, np.ndarray | None]]
               ) -> tuple[list[Codes], list[dict]]:
        """saved: groups a killed run finished, g -> (codes, lambda, estimated bits, shifts).
        Sets self.group_shifts (g -> shifts or None). Batches are
        planned over all groups and run in order; a batch whose groups were all saved is replayed
        (its codes and its rate bookkeeping), any other trained whole, so that a resumed encode
        trains every group exactly as the uninterrupted one would have."""
        d = self.preset.hidden
        codes: dict[int, Codes] = {}
        values: dict[int, dict] = {}
        features = self.frozen_features(encoder_w)
        self.group_shifts: dict[int, np.ndarray | None] = {}

        def values_of(g: int) -> dict:
            if g not in values:
                base = None if is_key_group(g, self.preset.key_interval) else values_of(g - 1)
                values[g] = decoded(codes[g], group_flags(g, self.preset), base)
            return values[g]

        def account(g: int, group_codes: Codes, lam: float, estimate: float,
                    shifts: np.ndarray | None) -> None:
            codes[g] = group_codes
            lams[g] = lam
            self.group_shifts[g] = shifts
            self.group_lam[not is_key_group(g, self.preset.key_interval)] = lam
            if self.budget_bits is not None:
                self.estimated_bits += estimate
                self.spent_bits += 8 * len(encode_group(group_codes, d, groups[g][1],
                                                        group_flags(g, self.preset), shifts))

        self.group_lam: dict[bool, float] = {}
        self.groups_restored = 0
        lams: dict[int, float] = {}
        self.progress.start("phase 2")
        for batch in batches:
            if all(g in saved for g in batch):
                for g in batch:
                    account(g, *saved[g])
                self.groups_restored += len(batch)
                self.progress.skip(self.preset.steps)
                continue
            self._reseed(group_seed(self.seed, batch[0]), group_seed(self.seed, batch[0]) + 1)
            frames = groups[batch[0]][1]
            bank = DecoderBank(len(batch), d, frames).to(self.device)
            predicted = not is_key_group(batch[0], self.preset.key_interval)
            init_steps = None
            base = None
            if predicted:
                prev = [values_of(g - 1) for g in batch]
                for b, g in enumerate(batch):
                    start = dict(prev[b])
                    # the heads start from the previous group's last frame, nearest in time
                    start["heads.w"], start["heads.b"] = prev[b]["heads.w"][-1], prev[b]["heads.b"][-1]
                    bank.load(b, start)
                base = {k: torch.from_numpy(np.stack([p[k] for p in prev])).to(self.device)
                        for k in PREDICTED}
                # a residual starts at zero: its step starts where the previous group's ended
                init_steps = {k: torch.tensor([codes[g - 1][k][1] for g in batch],
                                              device=self.device) for k in PREDICTED}
            else:
                for b, g in enumerate(batch):
                    a = nearest_anchor(anchors, *groups[g])
                    bank.load(b, {k.split(".", 1)[1]: v for k, v in anchor_w.items()
                                  if k.startswith(f"a{a}.")})
            params = bank.weights()
            stored = self._stored(params, banked=True, init_bits=self._bits_of(params),
                                  init_steps=init_steps, base=base,
                                  deltas=FRAME_DELTAS if self.preset.head_deltas == "on" else ())
            frame_ids = torch.tensor([[groups[g][0] + k for k in range(frames)] for g in batch],
                                     device=self.device)
            self._load(sorted(frame_ids.reshape(-1).tolist()))
            shifts = [self.group_motion(ids) for ids in frame_ids.tolist()]
            batch_features = features if all(s is None for s in shifts) else \
                self.canvas_features(encoder_w, shifts, frame_ids)
            budget = None
            if self.budget_bits is not None:
                left = self.budget_bits - self.spent_bits
                frames_left = sum(groups[g][1] for g in range(len(groups)) if g not in codes)
                # in the estimate's units: what was coded so far took `calibration` x its estimate
                calibration = self.spent_bits / max(1.0, self.estimated_bits)
                budget = torch.full((len(batch),), left * frames / frames_left / calibration,
                                    device=self.device)
            # besides its own bits a group's frames pay for their share of the encoder's
            other = torch.full((len(batch),), self.encoder_bits * frames / self.n,
                               device=self.device)
            # each kind of group (key, predicted) starts from where the last one of its kind ended
            lam = self.group_lam.get(predicted, self.lam)
            lagrangian = Lagrangian(lam, other, budget, self.preset.warmup_steps,
                                    bounds=self.lam_bounds)
            label = f"group {batch[0] + 1}" + (f"-{batch[-1] + 1}" if len(batch) > 1 else "") + \
                f"/{len(groups)}"
            # a predicted group fine-tunes the group before it: a smaller lr keeps the residual
            # small (predicted_lr for the whole group, residual_lr for its residuals alone)
            lr = self.preset.lr * (self.preset.predicted_lr if predicted else 1.0)
            residual = {k: self.preset.residual_lr for k in PREDICTED} if predicted else None
            self._train({}, stored, self.preset.steps,
                        lambda pix, w: decoder_forward(batch_features[pix], w),
                        frame_ids, lagrangian, label, per_bank=True, lr=lr, lr_scales=residual)
            self.maps = None
            lam = float(np.median(lagrangian.values()))
            estimates = self._estimate(stored).tolist() if self.budget_bits is not None \
                else [0.0] * len(batch)
            for b, g in enumerate(batch):
                account(g, stored.codes(b), lam, estimates[b], shifts[b])
                if self.state is not None:
                    self.state.save_codes(f"group_{g:05d}", codes[g], lam=np.float64(lam),
                                          estimate=np.float64(estimates[b]),
                                          shifts=saved_shifts(shifts[b], frames))
        if self.job is not None:
            self._gather_groups(codes, lams)
        return [codes[g] for g in range(len(groups))], [values_of(g) for g in range(len(groups))]

    def _gather_groups(self, codes: dict[int, Codes], lams: dict[int, float]) -> None:
        """Every rank's coded groups on every rank; lambda per kind of group as the last group
        of that kind left it (what one process would have carried)."""
        from .distributed import arrays_codes, codes_arrays
        mine = {}
        for g, group_codes in codes.items():
            mine.update(codes_arrays(f"g{g:05d}/", group_codes))
            mine[f"lam{g:05d}"] = np.float64(lams[g])
            frames = len(group_codes["heads.w"][0])
            mine[f"mot{g:05d}"] = saved_shifts(self.group_shifts[g], frames)
        mine["restored"] = np.int64(self.groups_restored)
        parts = self.job.gather(mine)
        self.groups_restored = sum(int(p.pop("restored")) for p in parts)
        for part in parts:
            for key in [k for k in part if k.startswith("lam")]:
                g = int(key[3:])
                codes[g] = arrays_codes(f"g{g:05d}/", part)
                lams[g] = float(part[key])
                self.group_shifts[g] = restored_shifts(part[f"mot{g:05d}"])
        for g in sorted(lams):
            self.group_lam[not is_key_group(g, self.preset.key_interval)] = lams[g]

    def restore(self, anchors: list[int], groups: list[tuple[int, int]]):
        """What a killed run saved, all of it read and checked before any training:
        -> (phase 1's (codes, anchor weights, estimated bits) or None, {g: (codes, lambda,
        estimated bits)})."""
        if self.state is None:
            return None, {}
        d = self.preset.hidden
        anchor_shapes = {f"a{i}.{k}": s for i in range(len(anchors))
                         for k, s in group_shapes(d, 1).items()}
        phase1 = self.state.load_codes("phase1", encoder_shapes(d),
                                       {**anchor_shapes, "estimated_bits": ()})
        if phase1 is not None:
            codes, extra = phase1
            phase1 = codes, {k: extra[k] for k in anchor_shapes}, float(extra["estimated_bits"])
        saved = {}
        for g, (_, count) in enumerate(groups):
            found = self.state.load_codes(f"group_{g:05d}", group_shapes(d, count),
                                          {"lam": (), "estimate": (), "shifts": (count, 2)})
            if found is not None:
                codes, extra = found
                saved[g] = codes, float(extra["lam"]), float(extra["estimate"]), \
                    restored_shifts(extra["shifts"])
        return phase1, saved

    def run(self) -> TrainedModel:
        p = self.preset
        anchors = plan_anchors(self.n, p.anchors)
        groups = plan_groups(self.n, p.group_size)
        stats = {"device": self.device.type, "samples_per_step": self.samples,
                 "precision": "bf16" if self.bf16 else "fp32",
                 "anchors": anchors, "threads": torch.get_num_threads()}
        t0 = time.perf_counter()
        phase1, saved = self.restore(anchors, groups)
        leader = self.job is None or self.job.leader
        # a chain (a key group and the groups predicted from it) trains in order, on one rank
        mine = [g for g in range(len(groups))
                if self.job is None or self.job.owns(g // p.key_interval)]
        batches = self.plan_batches(groups, mine)
        if self.progress.enabled:
            todo = [b for b in batches if not all(g in saved for g in b)]
            stages = self.calibrate(anchors, phase1 is None and leader, (todo or [None])[0],
                                    p.steps * len(batches), groups)
            self.progress.plan(stages, f"timed on {CALIBRATION_STEPS} steps of each phase in "
                                       f"{time.perf_counter() - t0:.1f} s")
            t0 = time.perf_counter()
        if phase1 is not None and leader:
            encoder_codes, anchor_w, self.estimated_bits = phase1
            self.log("resuming: phase 1 restored")
        elif leader:
            encoder_codes, anchor_w = self.phase1(anchors)
            if self.state is not None:
                self.state.save_codes("phase1", encoder_codes, **anchor_w,
                                      estimated_bits=np.float64(self.estimated_bits))
        if self.job is not None:
            # rank 0's phase 1 (trained or restored) is every rank's
            from .distributed import arrays_codes, codes_arrays
            sent = self.job.broadcast(
                {**codes_arrays("enc/", encoder_codes), **{f"anchor/{k}": v for k, v in anchor_w.items()},
                 "estimated_bits": np.float64(self.estimated_bits)} if leader else None)
            encoder_codes = arrays_codes("enc/", sent)
            anchor_w = {k[len("anchor/"):]: v for k, v in sent.items() if k.startswith("anchor/")}
            self.estimated_bits = float(sent["estimated_bits"])
        stats["phase1_seconds"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        encoder_w = decoded(encoder_codes)
        self.encoder_bits = 8 * len(encode_encoder(encoder_codes, p.hidden))
        self.spent_bits = self.encoder_bits
        if saved:
            self.log(f"resuming: {len(saved)} of {len(groups)} groups restored")
        group_codes, group_values = self.phase2(encoder_w, anchors, anchor_w, groups, batches,
                                                saved)
        stats["phase2_seconds"] = time.perf_counter() - t1
        stats["groups_restored"] = self.groups_restored
        stats["final_lambda"] = float(np.median(list(self.group_lam.values()) or [self.lam]))
        return TrainedModel(hidden=p.hidden, encoder_codes=encoder_codes, group_codes=group_codes,
                            group_flags=[group_flags(g, p) for g in range(len(groups))],
                            group_ranges=groups, norm=self.norm, anchors=anchors,
                            group_shifts=[self.group_shifts[g] for g in range(len(groups))],
                            encoder=encoder_w, groups=group_values, stats=stats)
