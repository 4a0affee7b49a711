"""Encoder presets, for both model families. Presets are data: every field can be overridden
(CLI: --set FIELD=VALUE, or the dedicated flags). SIEDD: s/m/l follow the SIEDD reference
(widths 512/768/1024, 20,001 phase-1 steps, 1/1024 of the pixels per step) with groups of 40
frames at the reference's steps a frame (40,002 a group; the reference's groups are 20 frames,
20,001 steps); `tiny` is for CPU tests and the demo. Latent grids: grid-tiny, grid-s, grid-m (grid/preset.py)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import ClassVar

from .errors import SieddInputError
from .grid.preset import GRID_PRESETS
from .model_spec import QUANT_FIELDS


@dataclass(frozen=True)
class Preset:
    family: ClassVar[str] = "siedd"
    name: str
    hidden: int                  # width d of every hidden layer
    # frames per decoder group: 40 since 0.10 (20, the reference's, before): with global motion
    # a group's shared layers serve twice the frames (the README's rate levers' ablation)
    group_size: int = 40
    anchors: int = 20            # phase-1 anchor frames (capped at the frame count)
    anchor_steps: int = 20001    # phase-1 steps
    steps: int = 40002           # phase-2 steps per group (a group of 40)
    lr: float = 1e-4
    warmup_steps: int = 100
    sample_fraction: float = 1 / 1024   # share of the pixels each step sees
    min_samples: int = 1024             # ...but never fewer coordinates than this
    # The first quantisation step of each tensor is max|w| / (2^(bits-1) - 1); with a rate term
    # the steps are then learned, without one they stay.
    shared_bits: int = 6         # group-shared decoder layers
    head_bits: int = 8           # per-frame heads
    encoder_bits: int = 8        # shared encoder
    bias_bits: int = 10          # every bias
    qat: str = "on"              # train against the quantiser (on), or quantise afterwards (off)
    soft_quant: str = "noise"    # the soft stage: additive noise, or softround (qat.py)
    rate_lambda: float = 0.664   # the rate term's slope (ratecontrol.py; --quality 50); 0 = none
    encoder_lambda: float = 1.0  # the shared encoder's lambda (phase 1), as a multiple of rate_lambda
    hard_fraction: float = 0.1   # share of the steps trained with straight-through rounding
    deadzone: float = 0.0        # widen rounding's zone towards zero by this much of a step
    step_search: str = "on"      # search each tensor's step before the hard stage (on/off)
    key_interval: int = 2        # every k-th group is a key group; the others are predicted
    predicted_lr: float = 1.0    # a predicted group's lr, as a fraction of lr
    residual_lr: float = 1.0     # ...its residual tensors' (not its heads'), a fraction of that
    head_deltas: str = "off"     # code each frame's head as its difference from the previous
    motion: int = 1              # 1: a group follows a panning camera (canvas.py); 0: never
    groups_per_batch: int = 0    # phase-2 groups trained together; 0 = choose by device
    compile: str = "auto"        # torch.compile the training step: auto (CUDA only), yes, no
    precision: str = "auto"      # training matmuls: auto (bf16 where the hardware has it), bf16, fp32
    grad_clip: float = 2.0       # after warm-up, clip gradient norms to this x their running mean; 0 = off

    def replace(self, **overrides) -> "Preset":
        known = {f.name: f.type for f in fields(self)}
        clean = {}
        for key, value in overrides.items():
            if value is None:
                continue
            if key not in known:
                raise SieddInputError(f"unknown preset field {key!r}; fields: {', '.join(known)}")
            clean[key] = value
        p = dataclasses.replace(self, **clean)
        p.validate()
        return p

    def validate(self) -> None:
        checks = [
            (8 <= self.hidden <= 4096, "hidden must be in 8..4096"),
            (1 <= self.group_size <= 1000, "group_size must be in 1..1000"),
            (1 <= self.anchors <= 1000, "anchors must be in 1..1000"),
            (self.anchor_steps >= 1 and self.steps >= 1, "steps must be >= 1"),
            (0 < self.sample_fraction <= 1, "sample_fraction must be in (0, 1]"),
            (self.min_samples >= 1, "min_samples must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (self.warmup_steps >= 0, "warmup_steps must be >= 0"),
            (self.groups_per_batch >= 0, "groups_per_batch must be >= 0"),
            (self.compile in ("auto", "yes", "no"), "compile must be auto, yes or no"),
            (self.precision in ("auto", "bf16", "fp32"), "precision must be auto, bf16 or fp32"),
            (self.grad_clip == 0 or self.grad_clip >= 1, "grad_clip must be 0 (off) or >= 1"),
            (self.qat in ("on", "off"), "qat must be on or off"),
            (self.soft_quant in ("noise", "softround"), "soft_quant must be noise or softround"),
            (0 <= self.rate_lambda <= 100, "rate_lambda must be in 0..100"),
            (0 < self.encoder_lambda <= 100, "encoder_lambda must be in (0, 100]"),
            (0 <= self.hard_fraction <= 1, "hard_fraction must be in 0..1"),
            (0 <= self.deadzone < 0.5, "deadzone must be in [0, 0.5)"),
            (self.step_search in ("on", "off"), "step_search must be on or off"),
            (self.head_deltas in ("on", "off"), "head_deltas must be on or off"),
            (self.motion in (0, 1), "motion must be 0 or 1"),
            (1 <= self.key_interval <= 10000, "key_interval must be in 1..10000"),
            (0 < self.predicted_lr <= 1, "predicted_lr must be in (0, 1]"),
            (0 < self.residual_lr <= 1, "residual_lr must be in (0, 1]"),
        ]
        for bits_name in QUANT_FIELDS:
            checks.append((2 <= getattr(self, bits_name) <= 16, f"{bits_name} must be in 2..16"))
        for ok, message in checks:
            if not ok:
                raise SieddInputError(f"preset {self.name}: {message}")

    def quant(self) -> dict:
        """The quantiser's bit counts, as the file's META "quant" records them."""
        return {k: getattr(self, k) for k in QUANT_FIELDS}

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        return f"d={self.hidden}"


PRESETS: dict[str, Preset] = {
    # ~3 minutes for carphone (176x144, 120 frames) on a 2-core CPU.
    "tiny": Preset("tiny", hidden=96, anchors=6, anchor_steps=600, steps=4000,
                   lr=1e-3, sample_fraction=1 / 1024, min_samples=4096),
    "s": Preset("s", hidden=512),
    "m": Preset("m", hidden=768),
    "l": Preset("l", hidden=1024),
}
PRESETS.update(GRID_PRESETS)


def get_preset(name: str, **overrides) -> Preset:
    try:
        base = PRESETS[name]
    except KeyError:
        raise SieddInputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}") from None
    return base.replace(**overrides)


def parse_override(text: str, preset: str = "s") -> tuple[str, object]:
    """'steps=500' -> ('steps', 500), typed by the field's default in that preset."""
    if "=" not in text:
        raise SieddInputError(f"bad --set {text!r}: expected FIELD=VALUE")
    key, raw = text.split("=", 1)
    key = key.strip().replace("-", "_")
    base = PRESETS.get(preset, PRESETS["s"])
    defaults = {f.name: getattr(base, f.name) for f in fields(base)}
    if key not in defaults or key == "name":
        valid = ", ".join(sorted(k for k in defaults if k != "name"))
        raise SieddInputError(f"unknown field {key!r} for preset {base.name}; its fields: {valid}")
    kind = type(defaults[key])
    try:
        value = raw.strip() if kind is str else kind(eval_number(raw) if kind is float else int(raw))
    except ValueError:
        raise SieddInputError(f"bad value for {key}: {raw!r}") from None
    return key, value


def eval_number(raw: str) -> float:
    """A float, or a simple fraction like 1/64."""
    if "/" in raw:
        num, den = raw.split("/", 1)
        return float(num) / float(den)
    return float(raw)
