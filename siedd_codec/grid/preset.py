"""Presets of the latent-grid family, as data. Every field can be overridden like the SIEDD
presets' (--set FIELD=VALUE). `grid-tiny` is sized for a 2-core CPU; `grid-s`/`grid-m` train
longer on more pixels per step, for GPUs."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import ClassVar

from ..errors import SieddInputError
from . import spec

# shared planes (knots 1) from full resolution to 1/64, per-frame planes (knots 0) from 1/4
DEFAULT_LEVELS = "1:1,2:1,4:1,8:1,16:1,32:1,64:1,4:0,8:0,16:0,32:0,64:0"
# quality 50's lambda (loss = MSE + lambda x bpp, RGB in [0, 1]); +12.5 quality halves it
LAMBDA_AT_50 = 0.02
QUALITY_STEP = 12.5


def quality_to_lambda(quality: float) -> float:
    if not 0 <= quality <= 100:
        raise ValueError("quality must be in 0..100")
    return LAMBDA_AT_50 * 2.0 ** (-(quality - 50.0) / QUALITY_STEP)


@dataclass(frozen=True)
class GridPreset:
    family: ClassVar[str] = "grid"
    name: str
    # frames per group: 40 since 0.8 (20 before): with global motion a group's shared levels
    # serve 40 frames of a shot as well as 20, and a file of half the groups stores half the
    # shared levels and syntheses (README, grid ablation row "groups40")
    group_size: int = 40
    levels: str = DEFAULT_LEVELS  # SCALE:KNOTS,... (grid/spec.py)
    synthesis: str = "32,16"     # hidden widths of the synthesis network
    # training steps of a full group (a shorter one: in proportion): 60 a frame (80 with groups
    # of 20), as long an encode as before: a step of a 40-frame group costs more
    steps: int = 2400
    samples: int = 16384         # pixels sampled per step (over the group's frames)
    lr: float = 0.2              # the latents' Adam lr (cosine decay to 0)
    synthesis_lr: float = 0.01   # (5e-3 until 0.7: 2-4% more bits on bikes and bigbuckbunny)
    scale_init: float = 0.14     # the Laplace scales' start (a zero latent then costs ~0 bits)
    rate_lambda: float = LAMBDA_AT_50   # loss = MSE + lambda x bpp; --quality sets it
    hard_fraction: float = 0.1   # share of the steps with straight-through rounding
    synthesis_bits: int = 7      # the synthesis weights' steps: max|w| / (2^(bits-1) - 1)
    motion: int = 1              # 1: shared levels follow each frame's translation (motion.py)
    scene_cuts: int = 1          # 1: a new group at every scene cut (scenes.py); 0: fixed runs

    def replace(self, **overrides) -> "GridPreset":
        known = {f.name for f in fields(self)}
        clean = {}
        for key, value in overrides.items():
            if value is None:
                continue
            if key not in known:
                raise SieddInputError(f"unknown field {key!r} for preset {self.name} (family "
                                      f"grid); fields: {', '.join(sorted(known))}")
            clean[key] = value
        p = dataclasses.replace(self, **clean)
        p.validate()
        return p

    def level_list(self) -> list[tuple[int, int]]:
        return spec.parse_levels(self.levels)

    def synthesis_widths(self) -> list[int]:
        return [int(w) for w in str(self.synthesis).split(",") if w.strip()]

    def validate(self) -> None:
        try:
            levels = self.level_list()
            spec.check_synthesis(self.synthesis_widths())
        except ValueError as exc:
            raise SieddInputError(f"preset {self.name}: {exc}") from None
        checks = [
            (1 <= self.group_size <= 1000, "group_size must be in 1..1000"),
            (any(k == 1 for _, k in levels) and any(k != 1 for _, k in levels),
             "levels need at least one shared (knots 1) and one per-frame or timed level"),
            (self.steps >= 1, "steps must be >= 1"),
            (1 <= self.samples <= 1 << 24, "samples must be in 1..16777216"),
            (self.lr > 0 and self.synthesis_lr > 0, "learning rates must be > 0"),
            (0 < self.scale_init <= 100, "scale_init must be in (0, 100]"),
            (0 <= self.rate_lambda <= 100 and math.isfinite(self.rate_lambda),
             "rate_lambda must be in 0..100"),
            (0 <= self.hard_fraction <= 1, "hard_fraction must be in 0..1"),
            (4 <= self.synthesis_bits <= 16, "synthesis_bits must be in 4..16"),
            (self.scene_cuts in (0, 1), "scene_cuts must be 0 or 1"),
            (self.motion in (0, 1), "motion must be 0 or 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise SieddInputError(f"preset {self.name}: {message}")

    def summary(self) -> str:
        return f"{len(self.level_list())} grid levels, synthesis {self.synthesis}"

    def as_dict(self) -> dict:
        return {"family": self.family, **dataclasses.asdict(self)}


GRID_PRESETS: dict[str, GridPreset] = {
    "grid-tiny": GridPreset("grid-tiny"),
    "grid-s": GridPreset("grid-s", steps=9000, samples=65536),
    "grid-m": GridPreset("grid-m", steps=30000, samples=262144, synthesis="32,32"),
}
