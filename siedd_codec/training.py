"""SIEDD training, both phases, on CPU or CUDA.

Phase 1: the shared encoder trains jointly with one full decoder per anchor frame (anchors
evenly spaced, round(i N / A)). Phase 2: the encoder is frozen - its output over the pixel grid
is computed once, with the encoder weights already quantised as the file will store them, so the
decoders learn the very features the decoder will see - and each group of G consecutive frames
gets a decoder initialised from the anchor nearest the group's centre. Groups are independent;
several train in one batched step (their parameters stacked), the rest of the time one by one.
Each step samples the same pixel positions for every frame, walking a reshuffled permutation."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import SieddError
from .model import DecoderBank, SharedEncoder
from .model_spec import coordinate_grid, tensor_bits
from .optim import ScheduleFreeAdamW
from .presets import Preset
from .quantize import fake_quantize

try:
    from tqdm.auto import tqdm
except ImportError:  # progress bars are optional
    tqdm = None


@dataclass
class TrainedModel:
    hidden: int
    encoder: dict[str, np.ndarray]
    groups: list[dict[str, np.ndarray]]
    group_ranges: list[tuple[int, int]]
    norm: np.ndarray
    anchors: list[int]
    stats: dict = field(default_factory=dict)


def plan_groups(frame_count: int, group_size: int) -> list[tuple[int, int]]:
    return [(first, min(group_size, frame_count - first))
            for first in range(0, frame_count, group_size)]


def plan_anchors(frame_count: int, anchors: int) -> list[int]:
    a = min(anchors, frame_count)
    return sorted({min(frame_count - 1, round(i * frame_count / a)) for i in range(a)})


def nearest_anchor(anchors: list[int], first: int, count: int) -> int:
    centre = first + (count - 1) / 2
    return min(range(len(anchors)), key=lambda i: (abs(anchors[i] - centre), i))


def frame_norm(frames: np.ndarray) -> np.ndarray:
    """Per-frame scalar mean and std of RGB in [0, 1], (N, 2) float32; std floored for flat frames."""
    x = frames.reshape(frames.shape[0], -1).astype(np.float64) / 255.0
    mean, std = x.mean(axis=1), x.std(axis=1)
    return np.stack([mean, np.maximum(std, 1e-3)], axis=1).astype(np.float32)


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


class ResumeState:
    """What survives a killed encode: phase 1 and every finished group, as .npz (no pickle),
    in OUT.siedd.partial/ beside the output; removed once the file is written."""

    def __init__(self, folder: Path, fingerprint: dict, resume: bool):
        self.folder = folder
        self.fingerprint = json.dumps(fingerprint, sort_keys=True)
        ok = resume and (folder / "state.json").is_file() and \
            (folder / "state.json").read_text() == self.fingerprint
        if resume and (folder / "state.json").is_file() and not ok:
            raise SieddError(f"{folder}: saved state is from a different input or settings; "
                             "remove it or drop --resume")
        if not ok:
            self.clear()
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "state.json").write_text(self.fingerprint)

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.npz"

    def load(self, name: str) -> dict[str, np.ndarray] | None:
        path = self._path(name)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def save(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        tmp = self.folder / f".{name}.tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, self._path(name))

    def clear(self) -> None:
        if self.folder.is_dir():
            for p in self.folder.iterdir():
                p.unlink()
            self.folder.rmdir()


class Trainer:
    def __init__(self, frames: np.ndarray, preset: Preset, device: str = "auto", seed: int = 0,
                 quiet: bool = False, state: ResumeState | None = None, log=None):
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError("frames must be (N, H, W, 3) uint8")
        self.preset = preset
        self.device = resolve_device(device)
        self.seed = seed
        self.quiet = quiet
        self.state = state
        self.log = log or (lambda msg: None)
        self.n, self.h, self.w = frames.shape[:3]
        self.pixels = self.h * self.w
        self.norm = frame_norm(frames)
        self.samples = min(self.pixels, max(preset.min_samples,
                                            round(preset.sample_fraction * self.pixels)))
        dev = self.device
        # pixel-major uint8: one gather fetches a sample's value in every frame
        self.video = torch.from_numpy(frames.reshape(self.n, self.pixels, 3).transpose(1, 0, 2)
                                      .copy()).to(dev)
        self.mean = torch.from_numpy(self.norm[:, 0]).to(dev)
        self.std = torch.from_numpy(self.norm[:, 1]).to(dev)
        self.coords = torch.from_numpy(coordinate_grid(self.w, self.h)).to(dev)
        self.gen = torch.Generator().manual_seed(seed)
        # bf16 autocast: the matmuls run on tensor cores / AMX with float32 accumulation, the
        # sines stay float32 (model.sine). bf16 keeps float32's range, so no loss scaling.
        self.bf16 = resolve_bf16(preset.precision, dev)
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True

    # -- helpers -------------------------------------------------------------------------------
    def _bar(self, total: int, desc: str, position: int = 0):
        if tqdm is None or self.quiet:
            return None
        return tqdm(total=total, desc=desc, unit="step" if position else "group",
                    leave=position == 0, position=position, dynamic_ncols=True, mininterval=0.5)

    def _targets(self, pix: torch.Tensor, frame_ids: torch.Tensor) -> torch.Tensor:
        """frame_ids (B, F) -> z-scored targets (B, S, F, 3)."""
        B, F = frame_ids.shape
        flat = frame_ids.reshape(-1)
        t = self.video[pix[:, None], flat[None, :]].float() / 255.0          # (S, B*F, 3)
        t = (t - self.mean[flat][None, :, None]) / self.std[flat][None, :, None]
        return t.reshape(-1, B, F, 3).permute(1, 0, 2, 3)

    def _loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # per-decoder mean squared error, summed over decoders: each bank trains as if alone
        return (pred.float() - target).square().mean(dim=(1, 2, 3)).sum()

    def _step_loss(self, forward, frame_ids: torch.Tensor):
        """The per-step graph: gather targets, forward, loss. Compiled where it pays."""
        def step_loss(pix: torch.Tensor) -> torch.Tensor:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                pred = forward(pix)
            return self._loss(pred, self._targets(pix, frame_ids))
        return step_loss

    def _use_compile(self) -> bool:
        choice = self.preset.compile
        return choice == "yes" or (choice == "auto" and self.device.type == "cuda")

    def _train(self, params, steps: int, forward, frame_ids: torch.Tensor, bar_desc: str,
               per_bank: bool = False):
        opt = ScheduleFreeAdamW(params, lr=self.preset.lr, warmup_steps=self.preset.warmup_steps,
                                clip=self.preset.grad_clip, per_bank=per_bank)
        sampler = PixelSampler(self.pixels, self.samples, self.gen, self.device)
        eager = self._step_loss(forward, frame_ids)
        step_loss = torch.compile(eager, dynamic=False) if self._use_compile() else eager
        bar = self._bar(steps, bar_desc, position=1)
        loss_sum = None
        for step in range(steps):
            pix = sampler.next()
            if step == 0 and step_loss is not eager:
                try:
                    loss = step_loss(pix)
                except Exception as exc:   # a compiler problem must not cost the encode
                    self.log(f"torch.compile failed ({type(exc).__name__}); training eagerly")
                    step_loss = eager
                    loss = step_loss(pix)
            else:
                loss = step_loss(pix)
            loss.backward()
            opt.step()
            opt.zero_grad()
            if bar is not None:
                loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
                if (step + 1) % 50 == 0 or step + 1 == steps:
                    n = (step + 1) % 50 or 50
                    bar.set_postfix(loss=f"{float(loss_sum) / n / frame_ids.shape[0]:.4f}",
                                    refresh=False)
                    bar.update(n)
                    loss_sum = None
        if bar is not None:
            bar.close()
        with torch.no_grad():
            for p, x in zip(opt.params, opt.averaged()):
                p.copy_(x)

    # -- phases --------------------------------------------------------------------------------
    def phase1(self, anchors: list[int]) -> tuple[dict, dict]:
        d = self.preset.hidden
        init_gen = torch.Generator().manual_seed(self.seed + 1)
        encoder = SharedEncoder(d, init_gen).to(self.device)
        bank = DecoderBank(len(anchors), d, 1, init_gen).to(self.device)
        frame_ids = torch.tensor(anchors, device=self.device)[:, None]
        params = list(encoder.parameters()) + list(bank.parameters())
        self._train(params, self.preset.anchor_steps,
                    lambda pix: bank(encoder(self.coords[pix])), frame_ids,
                    f"phase 1: encoder + {len(anchors)} anchors")
        anchors_w = {f"a{i}.{k}": v for i in range(len(anchors)) for k, v in bank.export(i).items()}
        return encoder.export(), anchors_w

    def frozen_features(self, encoder_weights: dict) -> torch.Tensor:
        quant = self.preset.quant()
        stored = {k: fake_quantize(v, tensor_bits(k, quant)) for k, v in encoder_weights.items()}
        encoder = SharedEncoder(self.preset.hidden, torch.Generator()).to(self.device)
        encoder.load(stored)
        chunk = max(1024, (64 << 20) // (4 * self.preset.hidden))
        with torch.no_grad():
            return torch.cat([encoder(self.coords[i:i + chunk])
                              for i in range(0, self.pixels, chunk)])

    def groups_per_batch(self, total: int, frames: int) -> int:
        """CPU: one group at a time (small batches win there). CUDA: as many groups per batched
        step as fit in a quarter of the free memory - usually all of them."""
        if self.preset.groups_per_batch:
            return self.preset.groups_per_batch
        if self.device.type != "cuda":
            return 1
        d, s = self.preset.hidden, self.samples
        params = 3 * d * d + 3 * d + frames * 3 * (d + 1)
        per_group = 4 * (5 * params + 12 * s * d + 4 * s * frames * 3)
        free, _ = torch.cuda.mem_get_info(self.device)
        return max(1, min(total, int(free // 4 // per_group)))

    def phase2(self, features: torch.Tensor, anchors: list[int], anchor_w: dict,
               groups: list[tuple[int, int]], done: dict[int, dict]) -> list[dict]:
        d = self.preset.hidden
        results: dict[int, dict] = dict(done)
        todo = [g for g in range(len(groups)) if g not in results]
        per_batch = self.groups_per_batch(len(todo), self.preset.group_size)
        outer = self._bar(len(groups), "phase 2: groups")
        if outer is not None:
            outer.update(len(results))
        # batches of equal-length groups (the last group may be shorter)
        batches: list[list[int]] = []
        for g in todo:
            if batches and len(batches[-1]) < per_batch and \
                    groups[batches[-1][0]][1] == groups[g][1]:
                batches[-1].append(g)
            else:
                batches.append([g])
        for batch in batches:
            frames = groups[batch[0]][1]
            bank = DecoderBank(len(batch), d, frames).to(self.device)
            for b, g in enumerate(batch):
                a = nearest_anchor(anchors, *groups[g])
                bank.load(b, {k.split(".", 1)[1]: v for k, v in anchor_w.items()
                              if k.startswith(f"a{a}.")})
            frame_ids = torch.tensor([[groups[g][0] + k for k in range(frames)] for g in batch],
                                     device=self.device)
            label = f"group {batch[0] + 1}" + (f"-{batch[-1] + 1}" if len(batch) > 1 else "") + \
                f"/{len(groups)}"
            self._train(list(bank.parameters()), self.preset.steps,
                        lambda pix: bank(features[pix]), frame_ids, label, per_bank=True)
            for b, g in enumerate(batch):
                results[g] = bank.export(b)
                if self.state is not None:
                    self.state.save(f"group_{g:05d}", results[g])
            if outer is not None:
                outer.update(len(batch))
        if outer is not None:
            outer.close()
        return [results[g] for g in range(len(groups))]

    def run(self) -> TrainedModel:
        p = self.preset
        anchors = plan_anchors(self.n, p.anchors)
        groups = plan_groups(self.n, p.group_size)
        stats = {"device": self.device.type, "samples_per_step": self.samples,
                 "precision": "bf16" if self.bf16 else "fp32",
                 "anchors": anchors, "threads": torch.get_num_threads()}
        t0 = time.perf_counter()
        saved = self.state.load("phase1") if self.state else None
        if saved is not None:
            encoder_w = {k: v for k, v in saved.items() if k.startswith("enc.")}
            anchor_w = {k: v for k, v in saved.items() if not k.startswith("enc.")}
            self.log("resuming: phase 1 restored")
        else:
            encoder_w, anchor_w = self.phase1(anchors)
            if self.state is not None:
                self.state.save("phase1", {**encoder_w, **anchor_w})
        stats["phase1_seconds"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        features = self.frozen_features(encoder_w)
        done = {}
        if self.state is not None:
            for g in range(len(groups)):
                w = self.state.load(f"group_{g:05d}")
                if w is not None:
                    done[g] = w
            if done:
                self.log(f"resuming: {len(done)} of {len(groups)} groups restored")
        group_w = self.phase2(features, anchors, anchor_w, groups, done)
        stats["phase2_seconds"] = time.perf_counter() - t1
        stats["groups_restored"] = len(done)
        return TrainedModel(hidden=p.hidden, encoder=encoder_w, groups=group_w,
                            group_ranges=groups, norm=self.norm, anchors=anchors, stats=stats)
