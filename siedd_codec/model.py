"""The SIEDD network in PyTorch, for training. Same function as the ONNX graphs of
siedd_export (tests hold the two equal). Decoders are kept as a *bank*: B independent decoders
stacked along a leading axis, so the phase-1 anchors, or several phase-2 groups, train in one
batched step."""
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


class SharedEncoder(nn.Module):
    def __init__(self, hidden: int, gen: torch.Generator):
        super().__init__()
        d = hidden
        self.w1 = nn.Parameter(siren_weight((d, PE_DIM), PE_DIM, True, gen))
        self.b1 = nn.Parameter(bias_init((d,), PE_DIM, gen))
        self.w2 = nn.Parameter(siren_weight((d, d), d, False, gen))
        self.b2 = nn.Parameter(bias_init((d,), d, gen))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        h = sine(torch.addmm(self.b1, positional_encoding(coords), self.w1.t()))
        return sine(torch.addmm(self.b2, h, self.w2.t()))

    def export(self) -> dict[str, np.ndarray]:
        return {f"enc.{k}": v.detach().cpu().numpy().copy() for k, v in self.named_parameters()}

    def load(self, weights: dict[str, np.ndarray]) -> None:
        with torch.no_grad():
            for k, p in self.named_parameters():
                p.copy_(torch.from_numpy(np.asarray(weights[f"enc.{k}"])))


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

    def shared(self, features: torch.Tensor) -> torch.Tensor:
        """features (S, d), shared by every bank, or (B, S, d) -> h (B, S, d)."""
        h = features
        for w, b in zip(self.ws, self.bs):
            if h.dim() == 2:      # one feature set for every bank: broadcast, no copy
                z = torch.matmul(h, w.transpose(1, 2)) + b[:, None, :]
            else:
                z = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
            h = sine(z)
        return h

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """-> z-scored RGB (B, S, F, 3)."""
        h = self.shared(features)
        B, S, d = h.shape
        heads = self.heads_w.reshape(B, -1, d).transpose(1, 2)             # (B, d, 3F)
        out = torch.baddbmm(self.heads_b.reshape(B, 1, -1), h, heads)       # (B, S, 3F)
        return out.reshape(B, S, self.frames, 3)

    def export(self, bank: int) -> dict[str, np.ndarray]:
        out = {}
        for i in range(DECODER_LAYERS):
            out[f"dec.w{i + 1}"] = self.ws[i][bank].detach().cpu().numpy().copy()
            out[f"dec.b{i + 1}"] = self.bs[i][bank].detach().cpu().numpy().copy()
        out["heads.w"] = self.heads_w[bank].detach().cpu().numpy().copy()
        out["heads.b"] = self.heads_b[bank].detach().cpu().numpy().copy()
        return out

    def load(self, bank: int, weights: dict[str, np.ndarray]) -> None:
        """Set bank `bank` from exported weights; a single head is repeated over the F frames."""
        with torch.no_grad():
            for i in range(DECODER_LAYERS):
                self.ws[i][bank].copy_(torch.from_numpy(np.asarray(weights[f"dec.w{i + 1}"])))
                self.bs[i][bank].copy_(torch.from_numpy(np.asarray(weights[f"dec.b{i + 1}"])))
            hw = torch.from_numpy(np.asarray(weights["heads.w"]))
            hb = torch.from_numpy(np.asarray(weights["heads.b"]))
            self.heads_w[bank].copy_(hw.expand_as(self.heads_w[bank]))
            self.heads_b[bank].copy_(hb.expand_as(self.heads_b[bank]))


def render(encoder_weights: dict, group_weights: dict, norm: np.ndarray, width: int, height: int
           ) -> np.ndarray:
    """Reference renderer in torch (float32, CPU): one group's frames as (F, H, W, 3) uint8.
    Used by the tests to hold ONNX Runtime's output to the PyTorch model's."""
    from .model_spec import coordinate_grid
    d = encoder_weights["enc.w2"].shape[0]
    enc = SharedEncoder(d, torch.Generator().manual_seed(0))
    enc.load(encoder_weights)
    frames = group_weights["heads.w"].shape[0]
    bank = DecoderBank(1, d, frames)
    bank.load(0, group_weights)
    with torch.no_grad():
        coords = torch.from_numpy(coordinate_grid(width, height))
        out = bank(enc(coords))[0]                                  # (S, F, 3)
        norm_t = torch.from_numpy(np.asarray(norm, dtype=np.float32))
        rgb = out * norm_t[None, :, 1, None] + norm_t[None, :, 0, None]
        rgb = torch.round(torch.clamp(rgb * 255, 0, 255)).to(torch.uint8)
    return rgb.permute(1, 0, 2).reshape(frames, height, width, 3).numpy()
