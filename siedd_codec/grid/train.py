"""Training the latent-grid model, group by group, on CPU or CUDA.

Each group of frames (a new one at every scene cut, grid/family.groups) gets its own grids and
synthesis (grid/model.py), trained on pixels sampled uniformly over the group's frames, for a
number of steps in proportion to its frames. The loss is
    MSE (RGB in [0, 1]) + lambda x bits / pixels
bits the latents' cost under the entropy coder's models (GridGroup.bits: a learned zero-mean
Laplace per level, and per context bucket for a shared level's rows after its first and a
per-frame level's planes after its first, coded as values or as differences, whichever costs
less; chosen every CHOOSE_EVERY steps). Latents train against additive uniform noise (the
soft stage), then for the last `hard_fraction` of the steps against straight-through rounding,
with the synthesis rounded to its stored steps too: the codes written are those the last step
evaluated.

Rate control (a bits budget): each group gets what is left of the budget in proportion to its
frames; within the group lambda is steered multiplicatively towards the group's share less its
synthesis (synthesis_bits a weight), from the bits of the latents as they would be rounded now."""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..progress import CALIBRATION_STEPS, Progress, Stage, Stopwatch
from ..tensor_codec import compress
from ..training import group_seed
from . import spec
from .model import GridGroup
from .motion import global_motion

STEER_EVERY = 10
STEER_RATE = 0.5            # lambda *= exp(rate x (bits / budget - 1)) every STEER_EVERY steps
STEER_RANGE = 256.0         # lambda stays within this factor of the quality's
SCALE_LR = 1e-2
CHOOSE_EVERY = 50           # steps between choices of each per-frame level's plane coding


class GridTrainer:
    def __init__(self, video, preset, device: torch.device, seed: int = 0,
                 state=None, log=None, progress: Progress | None = None,
                 budget_bits: float | None = None, job=None):
        """video: a video_io.Video, read group by group (memory holds one group's frames).
        job: a torchrun job's share (distributed.py): group g trains on rank g mod ranks."""
        self.video = video
        self.job = job
        self.preset = preset
        self.device = device
        self.seed = seed
        self.state = state
        self.log = log or (lambda msg: None)
        self.progress = progress or Progress(enabled=False)
        self.budget_bits = budget_bits
        self.n, self.h, self.w = len(video), video.height, video.width

    def run(self):
        # the bilinear reads' backward adds into the latents from several threads (index_put_
        # with accumulate): its order, and so the file, varied from run to run; the
        # deterministic kernel makes one seed give one file, whatever the threads or the run
        was = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True)
        try:
            return self._run()
        finally:
            torch.use_deterministic_algorithms(was)

    def _run(self):
        p = self.preset
        from .family import groups as group_ranges
        groups = group_ranges(self.video, p)
        self.group_total = len(groups)
        codes: list = [None] * len(groups)
        lams: list[float] = []
        spent = 0.0
        saved = self.restore(groups)
        mine = [g for g in range(len(groups)) if self.job is None or self.job.owns(g)]
        if self.progress.enabled:
            self.calibrate(groups, [g for g in mine if g not in saved],
                           sum(self.group_steps(groups[g][1]) for g in mine))
        self.progress.start("groups")
        for g in mine:
            first, count = groups[g]
            if g in saved:
                codes[g], extra = saved[g]
                lams.append(float(extra["lam"]))
                self.progress.skip(self.group_steps(count))
            else:
                budget = None
                if self.budget_bits is not None:
                    left_frames = self.n - first
                    budget = max(1.0, (self.budget_bits - spent) * count / left_frames)
                codes[g], lam = self.train_group(g, first, count, budget)
                lams.append(lam)
                if self.state is not None:
                    self.state.save_codes(f"grid_group_{g:05d}", codes[g],
                                          lam=np.float64(lam))
            if self.budget_bits is not None:     # (coding a group takes seconds: only if used)
                spent += 8 * len(compress(codes[g]))
        restored = sum(1 for g in saved if self.job is None or self.job.owns(g))
        if self.job is not None:
            restored = self._gather(codes, lams, restored)
        return groups, codes, {"final_lambda": float(np.median(lams)),
                               "groups_restored": restored}

    def _gather(self, codes: list, lams: list[float], restored: int) -> int:
        """Every rank's groups into codes (in place) and lams (group order); -> groups restored
        in the whole job."""
        from ..distributed import arrays_codes, codes_arrays
        mine = {"restored": np.int64(restored)}
        owned = [g for g in range(len(codes)) if codes[g] is not None]
        for g, lam in zip(owned, lams):
            mine.update(codes_arrays(f"g{g:05d}/", codes[g]))
            mine[f"lam{g:05d}"] = np.float64(lam)
        by_group = {}
        restored = 0
        for part in self.job.gather(mine):
            restored += int(part.pop("restored"))
            for key in [k for k in part if k.startswith("lam")]:
                g = int(key[3:])
                codes[g] = arrays_codes(f"g{g:05d}/", part)
                by_group[g] = float(part[key])
        lams[:] = [by_group[g] for g in sorted(by_group)]
        return restored

    def restore(self, groups) -> dict:
        """The groups a killed run finished, all read and checked before any training. Each
        group draws from its own generators (train_group), so the rest train as they would
        have in one run."""
        if self.state is None:
            return {}
        p = self.preset
        saved = {}
        for g, (_, count) in enumerate(groups):
            shapes = spec.group_shapes(p.level_list(), p.synthesis_widths(), self.w, self.h, count,
                                       bool(p.motion))
            found = self.state.load_codes(f"grid_group_{g:05d}", shapes, {"lam": ()})
            if found is not None:
                saved[g] = found
        if saved:
            self.log(f"resuming: {len(saved)} of {len(groups)} groups restored")
        return saved

    def group_steps(self, frames: int) -> int:
        """Training steps of a group of `frames` frames: the preset's steps for a full group, in
        proportion for a shorter one (cut short by a scene cut or the clip's end), so every
        frame gets the same training; a clip shorter than a group trains in full."""
        p = self.preset
        return max(1, round(p.steps * frames / min(p.group_size, self.n)))

    def calibrate(self, groups, todo: list[int], steps: int) -> None:
        """Plan the progress: a few steps of the first group to train, timed here."""
        t0 = time.perf_counter()
        seconds = 0.0
        if todo:
            watch = Stopwatch(self.device.type)
            self.train_group(todo[0], *groups[todo[0]], None, stopwatch=watch, limit=watch.steps)
            seconds = watch.seconds
        self.progress.plan([Stage("groups", steps, seconds)],
                           f"timed on {CALIBRATION_STEPS} steps in "
                           f"{time.perf_counter() - t0:.1f} s")

    def train_group(self, g: int, first: int, count: int, budget: float | None,
                    stopwatch: Stopwatch | None = None, limit: int | None = None):
        """-> (codes, lambda). Calibration: stopwatch times the first `limit` steps, then it
        stops (-> None)."""
        p = self.preset
        dev = self.device
        seed = group_seed(self.seed, g)         # distinct for every (seed, group)
        gen = torch.Generator().manual_seed(seed)
        noise_gen = torch.Generator(device=dev).manual_seed(seed + 1)
        pixels = self.h * self.w
        frames = self.video.read(first, count)
        target = torch.from_numpy(frames.reshape(-1, 3)).to(dev)
        mean_rgb = frames.reshape(-1, 3).mean(axis=0) / 255.0
        motion = global_motion(frames) if p.motion else None
        del frames
        model = GridGroup(p.level_list(), p.synthesis_widths(), self.w, self.h, count,
                          mean_rgb, p.scale_init, motion).to(dev)
        self.last_model = model
        lam0 = p.rate_lambda
        lam = lam0
        latents = list(model.latents)
        synth = [*model.weights, *model.biases]
        opt = torch.optim.Adam([
            {"params": latents, "lr": p.lr},
            {"params": [model.log_scales, model.context_log_scales,
                        model.difference_log_scales], "lr": SCALE_LR},
            {"params": synth, "lr": p.synthesis_lr}], fused=True)   # one kernel, not a dozen
        base_lrs = [group["lr"] for group in opt.param_groups]
        total = count * pixels
        if budget is not None:     # the latents steer towards what the synthesis leaves
            budget = max(1.0, budget - p.synthesis_bits * sum(t.numel() for t in synth))
        samples = min(total, p.samples)
        steps = self.group_steps(count)
        hard_from = steps - round(p.hard_fraction * steps)
        for step in range(steps if limit is None else min(limit, steps)):
            stage = "noise" if step < hard_from else "hard"
            if step == hard_from:
                model.freeze_synthesis_steps(p.synthesis_bits)
            if step % CHOOSE_EVERY == 0 or step == hard_from:
                model.choose_plane_coding()
            decay = 0.5 * (1 + math.cos(math.pi * step / steps))
            for group, base in zip(opt.param_groups, base_lrs):
                group["lr"] = base * decay
            idx = torch.randint(0, total, (samples,), generator=gen).to(dev)
            t = torch.div(idx, pixels, rounding_mode="floor")
            rem = idx - t * pixels
            y = torch.div(rem, self.w, rounding_mode="floor")
            x = rem - y * self.w
            q = model.quantized_latents(stage, noise_gen)
            out = model(q, t, y, x)
            want = target[idx].float() / 255.0
            mse = torch.mean((out - want) ** 2)
            bits = model.bits(q)
            loss = mse + lam * bits / total if lam > 0 else mse
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if budget is not None and stage == "noise" and step % STEER_EVERY == 0:
                with torch.no_grad():
                    now = float(model.bits(model.quantized_latents("hard")))
                lam *= math.exp(STEER_RATE * (now / budget - 1.0))
                lam = min(max(lam, lam0 / STEER_RANGE), lam0 * STEER_RANGE)
            if stopwatch is not None:
                stopwatch.tick()
            else:
                self.progress.advance(1, f"group {g + 1}/{self.group_total}")
        if stopwatch is not None:
            return None
        if model.syn_steps is None:
            model.freeze_synthesis_steps(p.synthesis_bits)
        return model.codes(), lam
