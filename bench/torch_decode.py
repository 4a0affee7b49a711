"""A PyTorch decoder of .siedd files, for the ONNX Runtime vs PyTorch comparison: the same
network and weights as the file's ONNX graphs, written directly in torch (no ONNX), in two ways:

- group-amortised (as siedd's reader does): encoder features once per output size, the group's
  three shared layers once per pixel chunk, then every head of the group in one matmul;
- frame at a time (the SIEDD reference's way): the whole network for every frame.

Weights come from the container through siedd_codec's own decoders (container.read,
tensor_codec.decompress). `matmul_dtype=torch.bfloat16` runs the matmuls in bfloat16 (AMX on
recent Xeons, tensor cores on GPUs) with the sine and everything else in float32.
"""
from __future__ import annotations

import numpy as np
import torch

from siedd_codec import container
from siedd_codec.model_spec import OMEGA, coordinate_grid, pe_frequencies
from siedd_codec.weights import decode_encoder, iter_groups

CHUNK_BYTES = 96 << 20   # as the reader: activation budget per d-wide tensor


class TorchDecoder:
    def __init__(self, path, device: str = "cpu", matmul_dtype=torch.float32):
        self.file = container.read(str(path))
        self.hidden = self.file.hidden
        self.device = torch.device(device)
        self.mm_dtype = matmul_dtype
        d = self.hidden
        enc = decode_encoder(self.file.encoder_weights, d, self.file.version)
        self.enc = {k: self._t(v) for k, v in enc.items()}
        self.groups = self.file.groups[:len(self.file.group_weights)]
        self._features: dict[tuple[int, int], list[torch.Tensor]] = {}
        self._weights: dict[int, dict[str, torch.Tensor]] = {}
        self._decoded = dict(iter_groups(self.file))       # entropy-decoded weights, all groups
        self.chunk = max(1024, CHUNK_BYTES // (4 * d))

    def _t(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.device)

    def _w(self, w: torch.Tensor) -> torch.Tensor:
        return w if self.mm_dtype == torch.float32 else w.to(self.mm_dtype)

    def group_weights(self, g: int) -> dict[str, torch.Tensor]:
        if g not in self._weights:
            first, count = self.groups[g]
            w = self._decoded[g]
            out = {k: self._t(v) for k, v in w.items()}
            for i in (1, 2, 3):
                out[f"dec.w{i}.t"] = self._w(out[f"dec.w{i}"].t().contiguous())
            out["heads.t"] = self._w(out["heads.w"].reshape(-1, self.hidden).t().contiguous())
            out["heads.b.flat"] = out["heads.b"].reshape(-1)
            out["mean"] = self._t(self.file.norm[first:first + count, 0])
            out["std"] = self._t(self.file.norm[first:first + count, 1])
            self._weights = {g: out}          # one group at a time
        return self._weights[g]

    def _siren(self, x: torch.Tensor, wt: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        z = torch.matmul(x.to(wt.dtype), wt).float()
        return torch.sin(OMEGA * (z + b))

    def encode_chunk(self, coords: torch.Tensor) -> torch.Tensor:
        freqs = torch.tensor(pe_frequencies(), dtype=torch.float32, device=self.device)
        proj = (coords[:, None, :] * freqs[None, :, None]).reshape(coords.shape[0], -1)
        pe = torch.cat([coords, torch.sin(proj), torch.cos(proj)], dim=1)
        if "w1.t" not in self.enc:
            self.enc["w1.t"] = self.enc["enc.w1"].t().contiguous()      # tiny K=18: float32
            self.enc["w2.t"] = self._w(self.enc["enc.w2"].t().contiguous())
        h = torch.sin(OMEGA * (pe @ self.enc["w1.t"] + self.enc["enc.b1"]))
        return self._siren(h, self.enc["w2.t"], self.enc["enc.b2"])

    def _chunks(self, width: int, height: int, cache: bool):
        key = (width, height)
        if cache and key in self._features:
            yield from self._features[key]
            return
        coords = torch.from_numpy(coordinate_grid(width, height)).to(self.device)
        kept = []
        for start in range(0, coords.shape[0], self.chunk):
            stop = min(coords.shape[0], start + self.chunk)
            item = (start, stop, self.encode_chunk(coords[start:stop]))
            if cache:
                kept.append(item)
            yield item
        if cache:
            self._features[key] = kept

    def _heads(self, h, w, heads: slice) -> torch.Tensor:
        """h (n, d) -> uint8 (k, n, 3) for the heads in `heads`."""
        count = w["heads.w"].shape[0]
        idx = range(count)[heads]
        k = len(idx)
        ht = w["heads.t"].reshape(self.hidden, count, 3)[:, idx.start:idx.stop:idx.step]
        hb = w["heads.b"][idx.start:idx.stop:idx.step].reshape(-1)
        z = torch.matmul(h.to(ht.dtype), ht.reshape(self.hidden, -1)).float() + hb
        z = z.reshape(-1, k, 3).transpose(0, 1)
        mean = w["mean"][idx.start:idx.stop:idx.step]
        std = w["std"][idx.start:idx.stop:idx.step]
        rgb = (z * std[:, None, None] + mean[:, None, None]) * 255.0
        return torch.round(torch.clamp(rgb, 0, 255)).to(torch.uint8)

    @torch.inference_mode()
    def render_group(self, g: int, width: int, height: int) -> np.ndarray:
        """Group-amortised: (count, H, W, 3) uint8; encoder features cached per size."""
        w = self.group_weights(g)
        count = w["heads.w"].shape[0]
        out = torch.empty((count, width * height, 3), dtype=torch.uint8, device=self.device)
        for start, stop, feats in self._chunks(width, height, cache=True):
            h = feats
            for i in (1, 2, 3):
                h = self._siren(h, w[f"dec.w{i}.t"], w[f"dec.b{i}"])
            out[:, start:stop] = self._heads(h, w, slice(None))
        return out.reshape(count, height, width, 3).cpu().numpy()

    @torch.inference_mode()
    def render_frame(self, g: int, k: int, width: int, height: int) -> np.ndarray:
        """Frame at a time, nothing reused: encoder, shared layers and head k for this frame."""
        w = self.group_weights(g)
        out = torch.empty((1, width * height, 3), dtype=torch.uint8, device=self.device)
        for start, stop, feats in self._chunks(width, height, cache=False):
            h = feats
            for i in (1, 2, 3):
                h = self._siren(h, w[f"dec.w{i}.t"], w[f"dec.b{i}"])
            out[:, start:stop] = self._heads(h, w, slice(k, k + 1))
        return out.reshape(height, width, 3).cpu().numpy()

    def clear_cache(self) -> None:
        self._features.clear()

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
