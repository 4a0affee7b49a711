"""Schedule-free AdamW (Defazio et al., 2024), written for many stacked parameters at once with
torch's foreach kernels: few launches per step, no host syncs.

Per parameter it keeps z (the SGD-like iterate), x (the running average, the weights to export)
and v (Adam's second moment); the model's tensor holds y = (1 - beta1) z + beta1 x, where the
gradient is taken. Linear warm-up from `warmup_start` x lr over `warmup_steps` steps; x averages
the z iterates weighted by lr_max^2 (the reference's defaults: r = 0, weight_lr_power = 2).

Spike guard: SIREN training runs calm for hundreds of steps, then a single step's gradient norm
jumps 100x; Adam's slow second moment turns that into a step that throws z far away, and the
average x carries it into the exported weights (measured: 36 -> 25 dB). After warm-up each
model's gradient norm is clipped to `clip` x a running average of its past (clipped) norms.
With `per_bank`, dim 0 of every parameter indexes an independent model (a bank of group
decoders trained together) and each is guarded on its own. `lr_scales`: one factor per
parameter on its lr (Adam's step size does not follow the gradient's scale, so this is the way
to make some tensors move more slowly than others)."""
from __future__ import annotations

import torch


class ScheduleFreeAdamW:
    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, warmup_steps: int = 100, warmup_start: float = 0.01,
                 clip: float = 0.0, per_bank: bool = False, norm_decay: float = 0.98,
                 lr_scales: list[float] | None = None):
        self.params = [p for p in params]
        self.lr_scales = lr_scales
        self.clip, self.per_bank, self.norm_decay = clip, per_bank, norm_decay
        self.norm_avg: torch.Tensor | None = None
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.weight_decay = weight_decay
        self.warmup_steps, self.warmup_start = warmup_steps, warmup_start
        with torch.no_grad():
            self.z = [p.detach().clone() for p in self.params]
            self.x = [p.detach().clone() for p in self.params]
            self.v = [torch.zeros_like(p) for p in self.params]
        self.k = 0
        self.lr_max = 0.0
        self.weight_sum = 0.0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _lr(self) -> float:
        if self.k < self.warmup_steps:
            frac = self.k / self.warmup_steps
            return self.lr * (self.warmup_start + (1 - self.warmup_start) * frac)
        return self.lr

    @torch.no_grad()
    def step(self) -> None:
        lr = self._lr()
        self.lr_max = max(self.lr_max, lr)
        weight = self.lr_max ** 2
        self.weight_sum += weight
        ckp1 = weight / self.weight_sum
        bias_correction2 = 1 - self.beta2 ** (self.k + 1)
        grads = [p.grad for p in self.params]
        if self.clip:
            self._guard(grads)
        torch._foreach_mul_(self.v, self.beta2)
        torch._foreach_addcmul_(self.v, grads, grads, value=1 - self.beta2)
        denom = torch._foreach_div(self.v, bias_correction2)
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, self.eps)
        update = torch._foreach_div(grads, denom)
        if self.weight_decay:
            torch._foreach_add_(update, self.params, alpha=self.weight_decay)
        if self.lr_scales:
            torch._foreach_mul_(update, self.lr_scales)
        torch._foreach_add_(self.z, update, alpha=-lr)
        torch._foreach_lerp_(self.x, self.z, ckp1)
        y = torch._foreach_lerp(self.x, self.z, 1 - self.beta1)
        torch._foreach_copy_(self.params, y)
        self.k += 1

    def _guard(self, grads: list[torch.Tensor]) -> None:
        """Clip each model's gradient norm to clip x its running average (tensor ops only: no
        host sync). The average starts at step 0; clipping starts after warm-up."""
        if self.per_bank:
            sq = sum(g.reshape(g.shape[0], -1).float().square().sum(1) for g in grads)
        else:
            sq = torch.stack([g.float().square().sum() for g in grads]).sum()
        norm = sq.sqrt()
        if self.norm_avg is None:
            self.norm_avg = norm
        if self.k >= self.warmup_steps:
            limit = self.clip * self.norm_avg
            scale = torch.clamp(limit / (norm + 1e-30), max=1.0)
            for g in grads:
                g.mul_(scale.reshape(-1, *[1] * (g.dim() - 1)) if self.per_bank else scale)
            norm = torch.minimum(norm, limit)
        self.norm_avg = torch.lerp(self.norm_avg, norm, 1 - self.norm_decay)

    def averaged(self) -> list[torch.Tensor]:
        """The schedule-free average x: the weights to evaluate and export."""
        return self.x


class DecayingAdam:
    """Adam that continues from a ScheduleFreeAdamW: it starts at that optimiser's averaged
    weights (the caller copies them in) with its second moment and step count, so the first
    steps are no larger than the last ones were; the lr decays linearly and is 0 on the last
    step, so the weights after it are the ones it evaluated."""

    def __init__(self, previous: ScheduleFreeAdamW, lr: float, steps: int):
        self.params, self.lr, self.steps = previous.params, lr, steps
        self.beta1, self.beta2, self.eps = previous.beta1, previous.beta2, previous.eps
        self.v = previous.v
        self.k0 = previous.k
        self.previous = previous
        self.m = [torch.zeros_like(p) for p in self.params]
        self.k = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        lr = self.lr * (1 - (self.k + 1) / self.steps)
        live = [i for i, p in enumerate(self.params) if p.grad is not None]   # frozen: skipped
        params = [self.params[i] for i in live]
        m, v = [self.m[i] for i in live], [self.v[i] for i in live]
        grads = [p.grad for p in params]
        if self.previous.clip:
            self.previous._guard(grads)
        torch._foreach_mul_(m, self.beta1)
        torch._foreach_add_(m, grads, alpha=1 - self.beta1)
        torch._foreach_mul_(v, self.beta2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - self.beta2)
        bc1 = 1 - self.beta1 ** (self.k + 1)
        bc2 = 1 - self.beta2 ** (self.k0 + self.k + 1)
        denom = torch._foreach_div(v, bc2)
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, self.eps)
        update = torch._foreach_div(m, denom)
        if self.previous.lr_scales:
            torch._foreach_mul_(update, [self.previous.lr_scales[i] for i in live])
        if lr:
            torch._foreach_add_(params, update, alpha=-lr / bc1)
        self.k += 1
