"""Quantisation in training, and the rate estimate: every tensor the file stores is trained
against the quantiser that stores it, and the loss carries the bits the entropy coder will spend.

A stored tensor w has a step D = exp(log_step) (learned, or fixed); its codes are round(w / D)
and the decoder sees D * code. With `banked`, dim 0 of w indexes independent models (a bank of
group decoders trained together): each has its own step and its own rate.

Training passes through two stages:
  soft  x^ = x + u, u ~ U(-1/2, 1/2) ("noise", the default), or x^ = s_T(s_T(x) + u) with s_T
        the soft rounding at temperature T annealed from 0.3 to 0.1 ("softround", C3 /
        Cool-chic's recipe for latents: measured worse for these weights, whose gradient it
        nearly stops near integer codes). The rate is taken on x + u (s_T(x) + u).
  hard  x^ = round(x) forward, identity backward (straight-through); the rate on round(x).
The weights the network sees are D * x^, x = w / D. In the hard stage that is exactly what the
file stores.

Rate: bits = sum of -log2 P(value), P the discretised zero-mean Laplace (unit bins centred on the
integers) whose scale b is fitted to the tensor (b = mean |value|, held constant for the
gradient). The entropy coder (entropy.py) codes the final codes with this same family, its one
parameter stored, or with a histogram where that is smaller."""
from __future__ import annotations

import math

import torch
from torch import nn

LN2 = math.log(2.0)
# The steps are learned as log(step) / STEP_GAIN: Adam moves a parameter by about lr per step
# whatever its gradient's size, and log-steps must travel further than weights (measured: at
# gain 1 the steps barely left their start in 1,000 steps).
STEP_GAIN = 10.0
MIN_SCALE, MAX_SCALE = 0.02, 1e4


def soft_round(x: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """Agustsson & Theis' soft rounding: identity as T -> inf, rounding as T -> 0."""
    a = 1.0 / temperature
    m = torch.floor(x) + 0.5
    return m + 0.5 * torch.tanh(a * (x - m)) / torch.tanh(a / 2)


def quant_round(x: torch.Tensor, deadzone: float = 0.0) -> torch.Tensor:
    """Rounding to the nearest code, with the zone that rounds to a smaller magnitude widened by
    `deadzone` (0 <= deadzone < 1/2): sign(x) floor(|x| + 1/2 - deadzone). A cheap
    rate-distortion optimised rounding: codes nearer zero cost fewer bits."""
    return torch.sign(x) * torch.floor(x.abs() + (0.5 - deadzone))


def straight_through_round(x: torch.Tensor, deadzone: float = 0.0) -> torch.Tensor:
    # the rounded value exactly (x - x.detach() is exactly 0), the identity for the gradient
    return quant_round(x.detach(), deadzone) + (x - x.detach())


def laplace_bits(values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """-log2 P(v) elementwise under the zero-mean Laplace of scale b integrated over [v-1/2,
    v+1/2]; `scale` broadcasts against `values`.
        |v| >= 1/2:  P = exp(-|v|/b) sinh(1/(2b))
        |v| <  1/2:  P = 1 - exp(-1/(2b)) cosh(|v|/b)
    Each branch is evaluated on inputs clamped to its own domain, so neither makes NaN
    gradients for the other."""
    b = scale.clamp(MIN_SCALE, MAX_SCALE)
    z = 0.5 / b
    a = values.abs()
    outer = torch.clamp(a, min=0.5)
    log_sinh = z + torch.log1p(-torch.exp(-2 * z)) - LN2
    bits_outer = (outer / b - log_sinh) / LN2
    inner = torch.clamp(a, max=0.5)
    p_inner = 1 - torch.exp(-z) * torch.cosh(inner / b)
    bits_inner = -torch.log(p_inner.clamp_min(1e-12)) / LN2
    return torch.where(a >= 0.5, bits_outer, bits_inner)


class _LaplaceRate(torch.autograd.Function):
    """sum of laplace_bits(values, exp(log_scales)[bucket]) with its gradient written out, so
    that autograd keeps no intermediate of the per-value formula (the rate of a latent-grid
    group covers every latent at every step). The gradient is computed in the same pass as the
    bits, from the same terms, and only it is kept (one tensor the size of `values`): the pass
    is about half of a latent-grid training step on a CPU."""

    @staticmethod
    def forward(ctx, values, buckets, log_scales):
        b = log_scales.exp()
        live = (b >= MIN_SCALE) & (b <= MAX_SCALE)     # clamped scales get no gradient
        b = b.clamp(MIN_SCALE, MAX_SCALE)
        z = 0.5 / b
        per = torch.stack([1.0 / b, z + torch.log1p(-torch.exp(-2 * z)) - LN2, torch.exp(-z),
                           z / torch.tanh(z)])
        per = per.index_select(1, buckets.reshape(-1)) if buckets is not None else per
        inv_b, log_sinh, e, zcoth = per.unbind(0)
        v = values.reshape(-1)
        a = v.abs()
        outer = a >= 0.5
        a_b = a * inv_b                                 # |v| / b
        r = torch.clamp(a, max=0.5).mul_(inv_b)         # the inner branch's |v| / b
        exp_r = torch.exp(r)                            # cosh and sinh from one exp (r <= 25)
        inv_exp_r = exp_r.reciprocal()
        cosh_r = (exp_r + inv_exp_r).mul_(0.5)
        sinh_r = exp_r.sub_(inv_exp_r).mul_(0.5)
        p_in = (e * cosh_r).neg_().add_(1).clamp_min_(1e-12)
        bits = torch.where(outer, a_b - log_sinh, -torch.log(p_in))
        total = bits.sum() / LN2
        ctx.shape = values.shape
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[2]:
            q = e / p_in                                # the inner branch's e^-z / p
            d_value = torch.where(outer, inv_b, q * sinh_r * inv_b).mul_(torch.sign(v))
            # d bits / d log b: outer z coth z - |v| / b; inner e^-z (z cosh r - r sinh r) / p,
            # z = 1 / (2b)
            d_log = torch.where(outer, zcoth - a_b,
                                q.mul_(cosh_r.mul_(inv_b).mul_(0.5).sub_(r.mul_(sinh_r))))
            count = log_scales.numel()
            if buckets is None:
                d_scales = d_log.sum().reshape(1)
            elif d_log.device.type == "cpu":        # scatter_add: deterministic on the CPU
                d_scales = torch.zeros(count, dtype=d_log.dtype).scatter_add_(
                    0, buckets.reshape(-1), d_log)
            else:   # one masked sum per bucket: deterministic on every device
                idx = buckets.reshape(-1)
                d_scales = torch.stack([torch.where(idx == k, d_log, 0.0).sum()
                                        for k in range(count)])
            ctx.save_for_backward(d_value, d_scales * live)
        return total

    @staticmethod
    def backward(ctx, grad):
        d_value, d_scales = ctx.saved_tensors
        scale = grad / LN2
        return (scale * d_value).reshape(ctx.shape), None, scale * d_scales


def laplace_rate(values: torch.Tensor, log_scales: torch.Tensor,
                 buckets: torch.Tensor | None = None) -> torch.Tensor:
    """Total bits of `values` under laplace_bits with scale exp(log_scales[bucket]) per value
    (`buckets`: one index per value, flattened; None: log_scales has one entry for all)."""
    return _LaplaceRate.apply(values, buckets, log_scales.reshape(-1))


class StoredTensors(nn.Module):
    """The quantised view of a set of parameters: one (learned or fixed) step per tensor and per
    bank, the straight-through / noisy weights, and the rate estimate. The tensors go through
    the quantiser together, as one flat vector per bank (a handful of operations per training
    step instead of a handful per tensor: on a CPU the small operations' overhead is what
    costs)."""

    def __init__(self, params: dict[str, nn.Parameter], banked: bool, learn_steps: bool,
                 init_bits: dict[str, int], init_steps: dict[str, torch.Tensor] | None = None,
                 base: dict[str, torch.Tensor] | None = None, deadzone: float = 0.0,
                 deltas: tuple[str, ...] = ()):
        """init_bits: a tensor's first step is max|w| / (2^(bits-1) - 1), unless init_steps
        gives it. base: tensors coded as residuals (w - base), e.g. against the previous group.
        deltas: tensors coded as differences along their first (non-bank) axis - each slice
        against the previous slice as decoded (closed loop), e.g. a group's per-frame heads."""
        super().__init__()
        self.params = params
        self.banked = banked
        self.base = base or {}
        self.deadzone = deadzone
        self.deltas = set(deltas)
        if self.deltas & set(self.base):
            raise ValueError("a tensor is coded against a base or as deltas, not both")
        self.names = list(params)
        first = next(iter(params.values()))
        self.banks = first.shape[0] if banked else 1
        device = first.device
        steps = []
        with torch.no_grad():
            for name, p in params.items():
                if init_steps and name in init_steps:
                    steps.append(torch.log(init_steps[name].float().reshape(self.banks)))
                    continue
                peak = self._flat(p.detach()).abs().amax(dim=1)
                qmax = 2 ** (init_bits[name] - 1) - 1
                steps.append(torch.log(torch.clamp(peak / qmax, min=1e-8)))
        # (banks, tensors): log(step) / STEP_GAIN
        self.log_step = nn.Parameter(torch.stack(steps, dim=1) / STEP_GAIN,
                                     requires_grad=learn_steps)
        self.learn_steps = learn_steps
        # the tensors quantised together: their sizes, each element's tensor, the residual base
        self.fused = [i for i, n in enumerate(self.names) if n not in self.deltas]
        self.sizes = [params[self.names[i]][0].numel() if banked else params[self.names[i]].numel()
                      for i in self.fused]
        self.index = torch.repeat_interleave(torch.arange(len(self.fused), device=device),
                                             torch.tensor(self.sizes, device=device))
        self.counts = torch.tensor(self.sizes, dtype=torch.float32, device=device)
        self.base_flat = torch.cat(
            [self._flat(self.base[self.names[i]]) if self.names[i] in self.base
             else torch.zeros(self.banks, n, device=device)
             for i, n in zip(self.fused, self.sizes)], dim=1)

    def _flat(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(self.banks, -1)

    def _out(self, per_bank: torch.Tensor) -> torch.Tensor:
        return per_bank if self.banked else per_bank[0]

    def trainable(self) -> list[nn.Parameter]:
        return [self.log_step] if self.learn_steps else []

    def _steps(self) -> torch.Tensor:
        return torch.exp(self.log_step * STEP_GAIN)                       # (banks, tensors)

    def steps(self) -> dict[str, torch.Tensor]:
        steps = self._steps().detach()
        return {n: self._out(steps[:, i]) for i, n in enumerate(self.names)}

    def _segment_mean(self, values: torch.Tensor) -> torch.Tensor:
        """(banks, P) -> per tensor mean (banks, tensors fused), no gradient."""
        sums = torch.zeros(self.banks, len(self.fused), device=values.device, dtype=values.dtype)
        return sums.index_add_(1, self.index, values) / self.counts

    def _bits(self, coded: torch.Tensor) -> torch.Tensor:
        scale = self._segment_mean(coded.detach().abs())[:, self.index]
        return laplace_bits(coded, scale).sum(dim=1)

    def forward(self, stage: str, temperature: torch.Tensor | None = None,
                gen: torch.Generator | None = None, measure: bool = False
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """-> (weights the network sees, bits per bank (B,) or a scalar, and with `measure` the
        bits of the codes as they would be stored now (no gradient): what rate control
        steers)."""
        steps = self._steps()
        flat = torch.cat([self._flat(self.params[self.names[i]]) for i in self.fused], dim=1)
        step = steps[:, self.fused][:, self.index]
        x = (flat - self.base_flat) / step
        if stage == "noise":
            coded = x_hat = x + self._noise(x, gen)
        elif stage == "softround":
            coded = soft_round(x, temperature) + self._noise(x, gen)
            x_hat = soft_round(coded, temperature)
        elif stage == "hard":
            x_hat = straight_through_round(x, self.deadzone)
            coded = x_hat
        else:
            raise ValueError(f"unknown stage {stage!r}")
        bits = self._bits(coded)
        stored_bits = None
        if measure:
            with torch.no_grad():
                stored_bits = self._bits(quant_round(x.detach(), self.deadzone))
        values = self.base_flat + x_hat * step
        weights = {}
        for i, chunk in zip(self.fused, torch.split(values, self.sizes, dim=1)):
            name = self.names[i]
            weights[name] = chunk.reshape(self.params[name].shape)
        for i, name in enumerate(self.names):
            if name not in self.deltas:
                continue
            w = self.params[name]
            st = self._expand(steps[:, i], w)
            value, coded = self._delta_forward(w, st, stage, gen)
            bits = bits + self._flat(laplace_bits(coded, self._expand(
                self._flat(coded.detach().abs()).mean(dim=1), coded))).sum(dim=1)
            if measure:
                with torch.no_grad():
                    rounded = self._delta_codes(w.detach(), st.detach())
                    stored_bits = stored_bits + self._flat(laplace_bits(rounded, self._expand(
                        self._flat(rounded.abs()).mean(dim=1), rounded))).sum(dim=1)
            weights[name] = value
        return {n: weights[n] for n in self.names}, self._out(bits), \
            None if stored_bits is None else self._out(stored_bits)

    def _expand(self, per_bank: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return per_bank.reshape(-1, *[1] * (like.dim() - 1)) if self.banked else per_bank[0]

    def _axis(self) -> int:
        return 1 if self.banked else 0

    def _delta_forward(self, w: torch.Tensor, step: torch.Tensor, stage: str, gen):
        """A tensor coded as differences along its frame axis. -> (the values the network sees,
        the coded values the rate is taken on)."""
        axis = self._axis()
        if stage != "hard":       # noise: the values jitter by one step, the differences too
            previous = torch.cat([torch.zeros_like(w.narrow(axis, 0, 1)),
                                  w.narrow(axis, 0, w.shape[axis] - 1)], dim=axis)
            x = (w - previous) / step
            return w + step * self._noise(w, gen), x + self._noise(x, gen)
        # hard: closed loop - each slice's code is against the previous slice as decoded;
        # value_k = value_(k-1) + step x code_k, exactly the decoder's arithmetic. The gradient
        # reaches every slice's weights as the identity (straight-through).
        values, codes = [], []
        decoded = torch.zeros_like(w.narrow(axis, 0, 1))
        for k in range(w.shape[axis]):
            wk = w.narrow(axis, k, 1)
            q = straight_through_round((wk - decoded) / step, self.deadzone)
            decoded = decoded + q * step
            values.append(decoded)
            codes.append(q)
        return torch.cat(values, dim=axis), torch.cat(codes, dim=axis)

    @torch.no_grad()
    def _delta_codes(self, w: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        axis = self._axis()
        decoded = torch.zeros_like(w.narrow(axis, 0, 1))
        codes = []
        for k in range(w.shape[axis]):
            q = quant_round((w.narrow(axis, k, 1) - decoded) / step, self.deadzone)
            decoded = decoded + q * step
            codes.append(q)
        return torch.cat(codes, dim=axis)

    @staticmethod
    def _noise(x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        return torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) - 0.5

    @torch.no_grad()
    def codes(self, bank: int | None = None) -> dict[str, tuple]:
        """The file's view: name -> (integer codes as int32 numpy, step as a float32)."""
        b = bank if self.banked else 0
        steps = self._steps().float()
        out = {}
        for i, name in enumerate(self.names):
            w = self.params[name]
            if name in self.deltas:
                codes = self._delta_codes(w, self._expand(steps[:, i], w))
                codes = codes[b] if self.banked else codes
            else:
                wb = w[b] if self.banked else w
                if name in self.base:
                    wb = wb - (self.base[name][b] if self.banked else self.base[name])
                codes = quant_round(wb / steps[b, i], self.deadzone)
            out[name] = (codes.to(torch.int32).cpu().numpy(), float(steps[b, i]))
        return out
