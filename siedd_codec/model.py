"""The SIEDD network in PyTorch, for training. Same function as the ONNX graphs of
siedd_export (tests hold the two equal). Decoders are kept as a *bank*: B independent decoders
stacked along a leading axis, so the phase-1 anchors, or several phase-2 groups, train in one
batched step.

The forward passes are functions of a weight dict named as model_spec names the stored tensors
("enc.w1", "dec.w1", "heads.w", ...): training feeds them the quantised view of the parameters
(qat.py), so the network it trains is the network the file stores."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .model_spec import DECODER_LAYERS, OMEGA, PE_DIM, pe_frequencies


def positional_encoding(coords: torch.Tensor) -> torch.Tensor:
    """(N, 2) -> (N, 18): [y, x, sin(pi 2^k c_j), cos(pi 2^k c_j)], column 2k+j."""
    freqs = torch.tensor(pe_frequencies(), dtype=coords.dtype, device=coords.device)
    proj = (coords[:, None, :] * freqs[None, :, None]).reshape(coords.shape[0], -1)
    return torch.cat([coords, torch.sin(proj), torch.cos(proj)], dim=1)


def _uniform(shape, bound: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=gen, dtype=torch.float32) * 2 - 1) * bound


def siren_weight(shape, fan_in: int, first: bool, gen: torch.Generator) -> torch.Tensor:
    """SIREN init: first layer U(-1/n, 1/n), later ones U(-sqrt(6/n)/30, sqrt(6/n)/30)."""
    bound = 1.0 / fan_in if first else math.sqrt(6.0 / fan_in) / OMEGA
    return _uniform(shape, bound, gen)


def bias_init(shape, fan_in: int, gen: torch.Generator) -> torch.Tensor:
    return _uniform(shape, 1.0 / math.sqrt(fan_in), gen)


def sine(z: torch.Tensor) -> torch.Tensor:
    # The sine argument is 30x the pre-activation: evaluate it in float32 even under autocast.
    return torch.sin(OMEGA * z.float())


def encoder_forward(coords: torch.Tensor, w: dict[str, torch.Tensor]) -> torch.Tensor:
    h = sine(torch.addmm(w["enc.b1"], positional_encoding(coords), w["enc.w1"].t()))
    return sine(torch.addmm(w["enc.b2"], h, w["enc.w2"].t()))


def decoder_shared(features: torch.Tensor, w: dict[str, torch.Tensor]) -> torch.Tensor:
    """features (S, d), shared by every bank, or (B, S, d) -> h (B, S, d)."""
    h = features
    for i in range(1, DECODER_LAYERS + 1):
        wi, bi = w[f"dec.w{i}"], w[f"dec.b{i}"]
        if h.dim() == 2:      # one feature set for every bank: broadcast, no copy
            z = torch.matmul(h, wi.transpose(1, 2)) + bi[:, None, :]
        else:
            z = torch.baddbmm(bi[:, None, :], h, wi.transpose(1, 2))
        h = sine(z)
    return h


def decoder_forward(features: torch.Tensor, w: dict[str, torch.Tensor]) -> torch.Tensor:
    """-> z-scored RGB (B, S, F, 3)."""
    h = decoder_shared(features, w)
    B, S, d = h.shape
    frames = w["heads.w"].shape[1]
    heads = w["heads.w"].reshape(B, -1, d).transpose(1, 2)             # (B, d, 3F)
    out = torch.baddbmm(w["heads.b"].reshape(B, 1, -1), h, heads)       # (B, S, 3F)
    return out.reshape(B, S, frames, 3)


class SharedEncoder(nn.Module):
    def __init__(self, hidden: int, gen: torch.Generator):
        super().__init__()
        d = hidden
        self.w1 = nn.Parameter(siren_weight((d, PE_DIM), PE_DIM, True, gen))
        self.b1 = nn.Parameter(bias_init((d,), PE_DIM, gen))
        self.w2 = nn.Parameter(siren_weight((d, d), d, False, gen))
        self.b2 = nn.Parameter(bias_init((d,), d, gen))

    def weights(self) -> dict[str, nn.Parameter]:
        """The stored tensors by their model_spec names."""
        return {f"enc.{k}": v for k, v in self.named_parameters()}

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return encoder_forward(coords, self.weights())

    def load(self, weights: dict[str, np.ndarray]) -> None:
        with torch.no_grad():
            for k, p in self.weights().items():
                p.copy_(torch.from_numpy(np.asarray(weights[k])))


class DecoderBank(nn.Module):
    """B decoders, each 3 x [Linear(d, d) + sine] shared by F per-frame Linear(d, 3) heads."""

    def __init__(self, banks: int, hidden: int, frames: int, gen: torch.Generator | None = None):
        super().__init__()
        d = hidden
        gen = gen or torch.Generator().manual_seed(0)
        self.ws = nn.ParameterList(
            [nn.Parameter(siren_weight((banks, d, d), d, False, gen)) for _ in range(DECODER_LAYERS)])
        self.bs = nn.ParameterList(
            [nn.Parameter(bias_init((banks, d), d, gen)) for _ in range(DECODER_LAYERS)])
        self.heads_w = nn.Parameter(siren_weight((banks, frames, 3, d), d, False, gen))
        self.heads_b = nn.Parameter(bias_init((banks, frames, 3), d, gen))

    @property
    def banks(self) -> int:
        return self.heads_w.shape[0]

    @property
    def frames(self) -> int:
        return self.heads_w.shape[1]

    def weights(self) -> dict[str, nn.Parameter]:
        """The stored tensors by their model_spec names, in the file's order; dim 0 = bank."""
        out: dict[str, nn.Parameter] = {}
        for i in range(DECODER_LAYERS):
            out[f"dec.w{i + 1}"] = self.ws[i]
            out[f"dec.b{i + 1}"] = self.bs[i]
        out["heads.w"] = self.heads_w
        out["heads.b"] = self.heads_b
        return out

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return decoder_forward(features, self.weights())

    def export(self, bank: int) -> dict[str, np.ndarray]:
        return {k: v[bank].detach().cpu().numpy().copy() for k, v in self.weights().items()}

    def load(self, bank: int, weights: dict[str, np.ndarray]) -> None:
        """Set bank `bank` from exported weights; a single head is repeated over the F frames."""
        with torch.no_grad():
            for k, p in self.weights().items():
                value = torch.from_numpy(np.asarray(weights[k], dtype=np.float32))
                p[bank].copy_(value.expand_as(p[bank]) if k.startswith("heads.") else value)


def render(encoder_weights: dict, group_weights: dict, norm: np.ndarray, width: int, height: int,
           shifts: np.ndarray | None = None) -> np.ndarray:
    """Reference renderer in torch (float32, CPU): one group's frames as (F, H, W, 3) uint8, at
    the size the shifts (whole pixels, or None) are in. Used by the tests to hold ONNX Runtime's
    output to the PyTorch model's: a moving group evaluates every frame at its own moved grid."""
    from .model_spec import coordinate_grid
    d = encoder_weights["enc.w2"].shape[0]
    enc = SharedEncoder(d, torch.Generator().manual_seed(0))
    enc.load(encoder_weights)
    frames = group_weights["heads.w"].shape[0]
    bank = DecoderBank(1, d, frames)
    bank.load(0, group_weights)
    norm_t = torch.from_numpy(np.asarray(norm, dtype=np.float32))
    with torch.no_grad():
        if shifts is None:
            out = bank(enc(torch.from_numpy(coordinate_grid(width, height))))[0]   # (S, F, 3)
        else:
            out = torch.stack([bank(enc(torch.from_numpy(coordinate_grid(
                width, height, (int(dy), int(dx), height, width)))))[0, :, f]
                for f, (dy, dx) in enumerate(shifts)], dim=1)
        rgb = out * norm_t[None, :, 1, None] + norm_t[None, :, 0, None]
        rgb = torch.round(torch.clamp(rgb * 255, 0, 255)).to(torch.uint8)
    return rgb.permute(1, 0, 2).reshape(frames, height, width, 3).numpy()
