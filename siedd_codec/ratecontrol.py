"""The quality knob and rate control.

The rate term. Training minimises, per model (the shared encoder; each group),
    ln(MSE) + lambda x ln(R)
R the bits of the stored weights its frames pay for (its own, plus its share of what it
shares). In the loss this is MSE + w x bits with w = lambda x MSE / R from running averages
(no gradient through w): its gradient is MSE x (d ln MSE + lambda d ln R). So lambda is the slope
at which training stops spending bits: where doubling the rate would raise PSNR by less than
10 log10(2) x lambda ~ 3.01 lambda dB. Unlike a fixed price per bit, that slope means the same
at every width and for every clip (measured: a fixed price spent 8 bits per encoder weight at
d=64 and under 5 at d=128 on the same clip).

Quality: `--quality Q` (0..100, higher is better and bigger):
    lambda = LAMBDA_AT_50 x 2^(-(Q - 50) / 25)
Q=50 stops where a doubling of the rate buys less than 2 dB, and every +25 halves that (Q=75:
1 dB, Q=100: 0.5 dB; Q=25: 4 dB). The width d sets how many weights there are; Q how finely
they are kept.

Rate control: `--bpp B` or `--bytes N` sets a budget for the whole file, met in one encode,
without trial encodes: lambda is steered by dual ascent while training runs, so that the bits of
the codes as they would be stored now meet each model's share of the budget. The file's fixed
costs (header, META, graphs, normalisation, index) are measured first; the shared encoder gets a
share of the rest by its weight count (ENCODER_WEIGHT x, it serves every frame); each group then
gets the remaining budget in proportion to its frames, so what one group over- or under-spends
the next ones even out. Where no width was asked for, the width is chosen so the budget gives
the group weights about BITS_PER_WEIGHT bits each.
"""
from __future__ import annotations

import math

import torch

LAMBDA_AT_50 = 2.0 / (10 * math.log10(2))      # 2 dB per doubling of the rate
QUALITY_RANGE = (0.0, 100.0)
DEFAULT_QUALITY = 50.0
# measured at Q=50 on the ablation's clips (d=48..128): the encoder keeps ~7 bits per weight,
# the groups 3.3-4.3; rate control's plan follows that (at 1.5 and 3.0 it starved the encoder:
# -2 dB against the fixed-lambda curve at the same rate, bikes 0.03 bpp)
ENCODER_WEIGHT = 2.0            # an encoder weight is worth this many group weights of budget
# where rate control puts the width when choosing it: 4.5 for groups of 40 (3.5, fitted on groups
# of 20, gave bigbuckbunny d=192 at 0.06 bpp, which landed 30% under its target at 22.9 dB
# against d=128's 26.7; choosing as for groups of 20 at the same bits a frame cost bikes 1.3 dB
# at 0.06 and vtest 0.7 dB at 0.03: bench/results/ablation.json's rate control, README)
BITS_PER_WEIGHT = 4.5
GROUP_BITS_PRIOR = 4.0          # phase 1's guess of the groups' bits per weight (for R)
WIDTHS = (32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
DUAL_RATE = 0.02                # per step: lambda *= exp(DUAL_RATE x (bits / budget - 1))
LAMBDA_BOUNDS = (1e-3, 100.0)
# rate control steers lambda at most this factor either side of the quality's lambda: the rate
# answers lambda slowly (the encoder's most of all), and unbounded dual ascent ran lambda up to
# its ceiling in phase 1 and wiped the shared encoder out (13.8 dB on bikes at 0.03 bpp); what
# the bounded lambda leaves over, the step trim before the hard stage takes up
STEER_RANGE = 16.0
AVERAGE = 0.9                   # running averages of MSE and bits: this much of the old value


def quality_to_lambda(quality: float) -> float:
    lo, hi = QUALITY_RANGE
    if not lo <= quality <= hi:
        raise ValueError(f"quality must be in {lo:g}..{hi:g}")
    return LAMBDA_AT_50 * 2.0 ** (-(quality - 50.0) / 25.0)


def lambda_to_quality(lam: float) -> float:
    return 50.0 - 25.0 * math.log2(lam / LAMBDA_AT_50)


def steering_bounds(lam: float) -> tuple[float, float]:
    """The range rate control may steer lambda through, around the quality's lambda."""
    return max(LAMBDA_BOUNDS[0], lam / STEER_RANGE), min(LAMBDA_BOUNDS[1], lam * STEER_RANGE)


def encoder_share(encoder_weights: int, group_weights: int, groups: int) -> float:
    """The share of the weight budget the shared encoder gets."""
    e = ENCODER_WEIGHT * encoder_weights
    return e / (e + group_weights * groups)


class Lagrangian:
    """lambda per model (a bank of B), fixed or steered to a bit budget per model, and the rate
    term's weight w = lambda x MSE / R from running averages (see the module doc).

    other_bits: per model, the bits besides its own that its frames pay for (a group: its share
    of the encoder; the encoder: the groups, estimated). shared: one model (the encoder) whose
    loss is spread over several (the anchors): its MSE is their mean. bounds: where steering
    keeps lambda (steering_bounds)."""

    def __init__(self, lam: float, other_bits: torch.Tensor, budget_bits: torch.Tensor | None = None,
                 start_step: int = 0, shared: bool = False,
                 bounds: tuple[float, float] = LAMBDA_BOUNDS):
        self.lam = torch.full_like(other_bits, float(lam))
        self.bounds = bounds
        self.other = other_bits
        self.budget = budget_bits
        self.start_step = start_step
        self.shared = shared
        self.mse = self.bits = None

    @property
    def steered(self) -> bool:
        return self.budget is not None

    def weight(self) -> torch.Tensor:
        if self.mse is None:
            return torch.zeros_like(self.lam)
        return self.lam * self.mse / (self.bits + self.other).clamp_min(1.0)

    @torch.no_grad()
    def observe(self, step: int, mse: torch.Tensor, bits: torch.Tensor,
                stored_bits: torch.Tensor | None) -> None:
        mse = mse.mean() if self.shared else mse
        if self.mse is None:
            self.mse, self.bits = mse.clone(), bits.clone()
        else:
            self.mse.lerp_(mse, 1 - AVERAGE)
            self.bits.lerp_(bits, 1 - AVERAGE)
        if self.budget is None or step < self.start_step:
            return
        # dual ascent: lambda up when the codes would take more than the budget
        excess = stored_bits / self.budget - 1.0
        self.lam.mul_(torch.exp(DUAL_RATE * excess.clamp(-1.0, 1.0))).clamp_(*self.bounds)

    def values(self) -> list[float]:
        return [float(v) for v in self.lam.reshape(-1)]


def choose_width(group_budget_bits: float, frames_per_group: int, largest: int) -> int:
    """The width whose group weights get closest to BITS_PER_WEIGHT bits each (at most
    `largest`)."""
    from .model_spec import group_weight_count
    best = None
    for d in WIDTHS:
        if d > largest:
            break
        per_weight = group_budget_bits / group_weight_count(d, frames_per_group)
        score = abs(math.log(per_weight / BITS_PER_WEIGHT))
        if best is None or score < best[0]:
            best = (score, d)
    return best[1]
