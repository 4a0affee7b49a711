"""The latent-grid model in torch, for training: one group's grids and synthesis, evaluated at
sampled pixels exactly as the ONNX graphs evaluate them (same taps, same order of operations:
rows first, then columns; time placed before the spatial read)."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..entropy import CONTEXT_BUCKETS
from ..qat import laplace_rate, quant_round
from . import spec


def _straight_through(x: torch.Tensor) -> torch.Tensor:
    return quant_round(x.detach()) + (x - x.detach())


def plane_differences(planes: torch.Tensor) -> torch.Tensor:
    """entropy.plane_differences: plane 0, then each plane minus the one before."""
    return torch.cat([planes[:1], planes[1:] - planes[:-1]])


def plane_buckets(previous: torch.Tensor) -> torch.Tensor:
    """entropy.plane_buckets of the rounded planes, for each plane after the first (P, h, w)."""
    a = quant_round(previous).abs_()
    c = a.clone()
    c[:, 1:] += a[:, :-1]
    c[:, :-1] += a[:, 1:]
    c[:, :, 1:] += a[:, :, :-1]
    c[:, :, :-1] += a[:, :, 1:]
    return c.clamp(max=CONTEXT_BUCKETS - 1).long()


class GridGroup(nn.Module):
    def __init__(self, levels, synthesis, width: int, height: int, frames: int,
                 mean_rgb: np.ndarray, scale_init: float, motion: np.ndarray | None = None):
        """motion: the group's global motion as stored, (frames, 2) integer codes of
        spec.MOTION_STEP source pixels (dy, dx) a frame; None: no global motion."""
        super().__init__()
        self.levels, self.synthesis = list(levels), list(synthesis)
        self.width, self.height, self.frames = width, height, frames
        shapes = spec.group_shapes(levels, synthesis, width, height, frames)
        self.latents = nn.ParameterList(
            nn.Parameter(torch.zeros(shapes[f"lat{i}"])) for i in range(len(levels)))
        self.log_scales = nn.Parameter(torch.full((len(levels),), math.log(scale_init)))
        # one scale per bucket of the context the entropy coder uses (entropy.plane_buckets):
        # a shared level's rows after its first, from the row before (model 4); a per-frame
        # level's planes after its first, from the plane before (model 3) or, where the planes
        # are coded as differences (model 5), from the difference before
        self.context_log_scales = nn.Parameter(
            torch.full((len(levels), CONTEXT_BUCKETS), math.log(scale_init)))
        self.difference_log_scales = nn.Parameter(
            torch.full((len(levels), CONTEXT_BUCKETS), math.log(scale_init)))
        self.differences = [False] * len(levels)   # choose_plane_coding() sets it
        widths = [len(levels), *synthesis, 3]
        gen = torch.Generator().manual_seed(1)
        ws, bs = [], []
        for j in range(len(widths) - 1):
            bound = 1.0 / math.sqrt(widths[j])
            ws.append(nn.Parameter((torch.rand(widths[j], widths[j + 1], generator=gen) * 2 - 1)
                                   * bound))
            bs.append(nn.Parameter(torch.zeros(widths[j + 1])))
        with torch.no_grad():
            bs[-1].copy_(torch.as_tensor(mean_rgb, dtype=torch.float32))
        self.weights, self.biases = nn.ParameterList(ws), nn.ParameterList(bs)
        self.syn_steps: list[float] | None = None      # set for the hard stage
        # the rate's table entry of every latent coded without context: a shared level's first
        # row, a per-frame level's first plane (each its level's own scale)
        first = []
        for i in range(len(levels)):
            planes, h, w = shapes[f"lat{i}"]
            first.append(torch.full((w if planes == 1 else h * w,), i, dtype=torch.long))
        self.register_buffer("first_ids", torch.cat(first), persistent=False)
        # the bilinear reads of all levels at once, as one gather from the latents laid end to
        # end (a handful of operations per step instead of a handful per level). Read r takes
        # level r's plane row_planes[t, r] (a timed level's second read, of its later knot, is
        # a read after the levels'), at its level's taps and offset.
        sizes = [math.prod(shapes[f"lat{i}"]) for i in range(len(levels))]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        rows, row_planes, blends, later = list(range(len(levels))), [], [], []
        for i, (_, knots) in enumerate(levels):
            planes = shapes[f"lat{i}"][0]
            plan = spec.time_weights(knots, frames)      # (knot a, knot b, weight of b) a frame
            row_planes.append([a for a, _, _ in plan] if planes > 1 else [0] * frames)
            if 1 < planes < frames:                      # timed: the second read, knot b
                blends.append((i, len(levels) + len(blends),
                               torch.tensor([wt for _, _, wt in plan], dtype=torch.float32)))
                rows.append(i)
                later.append([b for _, b, _ in plan])
        row_planes += later
        self.blends = blends
        # each read's taps computed from the output pixel: position = pixel x ratio (+ the
        # frame's offset for a shared level, its global motion in grid units), float32 as the
        # renderer computes it
        ratio, limit, factor = {"y": [], "x": []}, {"y": [], "x": []}, {"y": [], "x": []}
        for i in rows:
            h, w = spec.grid_dims(width, height, levels[i][0])
            moved = motion is not None and shapes[f"lat{i}"][0] == 1
            for axis, (n_out, n_grid) in (("y", (height, h)), ("x", (width, w))):
                ratio[axis].append(spec.axis_ratio(n_out, n_grid))
                limit[axis].append(float(n_grid - 1))
                factor[axis].append(spec.axis_ratio(n_out, n_grid) if moved else 0.0)
        for axis in ("y", "x"):
            self.register_buffer(f"ratio_{axis}", torch.tensor(ratio[axis]), persistent=False)
            self.register_buffer(f"limit_{axis}", torch.tensor(limit[axis]), persistent=False)
            self.register_buffer(f"factor_{axis}", torch.tensor(factor[axis]), persistent=False)
        self.motion = None if motion is None else np.asarray(motion, dtype=np.int32)
        shifts = np.zeros((frames, 2), np.float32) if motion is None else \
            self.motion.astype(np.float32) * np.float32(spec.MOTION_STEP)   # as the reader
        self.register_buffer("shifts", torch.from_numpy(shifts), persistent=False)
        dims = [shapes[f"lat{i}"][1:] for i in rows]
        for name, values in (("row_planes", list(zip(*row_planes))),    # (frames, reads)
                             ("row_width", [[w for _, w in dims]]),
                             ("row_area", [[h * w for h, w in dims]]),
                             ("row_start", [[int(starts[i]) for i in rows]])):
            self.register_buffer(name, torch.tensor(values, dtype=torch.int32), persistent=False)

    # -- quantisation ------------------------------------------------------------------------
    def quantized_latents(self, stage: str, gen: torch.Generator | None = None):
        out = []
        for lat in self.latents:
            if stage == "noise":
                out.append(lat + (torch.rand(lat.shape, generator=gen, device=lat.device) - 0.5))
            else:
                out.append(_straight_through(lat))
        return out

    def freeze_synthesis_steps(self, bits: int) -> None:
        """Fix each synthesis tensor's step (max |w| over 2^(bits-1) - 1) for the hard stage."""
        top = 2 ** (bits - 1) - 1
        # float32 steps: code x step then computes exactly what the decoder computes
        self.syn_steps = [float(np.float32(max(float(p.detach().abs().max()), 1e-8) / top))
                          for p in [*self.weights, *self.biases]]

    def synthesis_tensors(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        params = [*self.weights, *self.biases]
        if self.syn_steps is not None:
            params = [_straight_through(p / s) * s for p, s in zip(params, self.syn_steps)]
        n = len(self.weights)
        return params[:n], params[n:]

    def _coded(self, i: int, lat: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Level i's latents as the entropy coder sees them: (planes, the table offset of their
        context scales). A shared level's rows become planes of one row (model 4)."""
        n_levels = len(self.levels)
        if lat.shape[0] == 1:
            return lat.reshape(lat.shape[1], 1, lat.shape[2]), n_levels + i * CONTEXT_BUCKETS
        if self.differences[i]:
            return plane_differences(lat), n_levels * (1 + CONTEXT_BUCKETS) + i * CONTEXT_BUCKETS
        return lat, n_levels + i * CONTEXT_BUCKETS

    def bits(self, latents) -> torch.Tensor:
        """The latents' bits under the entropy coder's models: a Laplace per level for a
        level's first row (shared levels) or plane (per-frame levels), one per bucket of the
        context for the rest (entropy.py, models 3-5). One pass over all latents: table entry i
        is level i's scale, L + i B + k level i's context bucket k, L + L B + i B + k its
        differences' bucket k."""
        coded = [self._coded(i, lat) for i, lat in enumerate(latents)]
        values = torch.cat([planes[0].reshape(-1) for planes, _ in coded]
                           + [planes[1:].reshape(-1) for planes, _ in coded])
        ids = torch.cat([self.first_ids] + [plane_buckets(planes[:-1].detach()).reshape(-1)
                                            + offset for planes, offset in coded])
        table = torch.cat([self.log_scales, self.context_log_scales.reshape(-1),
                           self.difference_log_scales.reshape(-1)])
        return laplace_rate(values, table, ids)

    @torch.no_grad()
    def choose_plane_coding(self) -> None:
        """Code each per-frame level's planes as values (model 3) or as differences (model 5),
        whichever its rounded latents cost fewer bits in now (what the entropy coder will do
        with the final ones)."""
        for i, lat in enumerate(self.latents):
            if lat.shape[0] < 2:
                continue
            q = quant_round(lat.detach())
            cost = []
            for differences, table in ((False, self.context_log_scales),
                                       (True, self.difference_log_scales)):
                planes = plane_differences(q) if differences else q
                cost.append(float(laplace_rate(planes[1:], table[i],
                                               plane_buckets(planes[:-1]))))
            self.differences[i] = cost[1] < cost[0]

    # -- evaluation --------------------------------------------------------------------------
    def features(self, latents, t: torch.Tensor, y: torch.Tensor, x: torch.Tensor
                 ) -> torch.Tensor:
        """(N, levels): every level read bilinearly at frame t, output pixel (y, x) - rows
        first, then columns - a timed level as the blend of its two planes around the frame
        (the renderer blends planes, then reads)."""
        flat = torch.cat([lat.reshape(-1) for lat in latents])
        n = len(t)
        shift = self.shifts.index_select(0, t)                                    # (N, 2)
        y0, y1, wy = self._taps(y, shift[:, :1], self.ratio_y, self.factor_y, self.limit_y)
        x0, x1, wx = self._taps(x, shift[:, 1:], self.ratio_x, self.factor_x, self.limit_x)
        base = self.row_start + self.row_planes.index_select(0, t) * self.row_area
        r0, r1 = base + y0 * self.row_width, base + y1 * self.row_width
        # one gather of the four corners of every read (one scatter in the backward pass)
        corners = torch.stack((r0 + x0, r1 + x0, r0 + x1, r1 + x1)).reshape(-1)
        c = flat.index_select(0, corners).reshape(4, n, -1)
        a0 = c[0] + wy * (c[1] - c[0])
        a1 = c[2] + wy * (c[3] - c[2])
        v = a0 + wx * (a1 - a0)
        if not self.blends:
            return v
        cols = list(v[:, :len(latents)].unbind(1))
        for i, r, weights in self.blends:
            wt = weights.to(t.device)[t]
            cols[i] = cols[i] + wt * (v[:, r] - cols[i])
        return torch.stack(cols, dim=1)

    @staticmethod
    def _taps(pixel, shift, ratio, factor, limit):
        pos = pixel.float()[:, None] * ratio + shift * factor                     # (N, R)
        pos = torch.minimum(pos.clamp(min=0.0), limit)
        lo = pos.detach().floor()
        i0 = lo.int()
        i1 = torch.minimum(lo + 1, limit).int()
        return i0, i1, pos - lo

    def forward(self, latents, t, y, x) -> torch.Tensor:
        weights, biases = self.synthesis_tensors()
        z = self.features(latents, t, y, x)
        for j, (w, b) in enumerate(zip(weights, biases)):
            if j:
                z = torch.relu(z)
            z = z @ w + b
        return z

    def codes(self) -> dict[str, tuple[np.ndarray, float]]:
        """What the file stores: latents as integers (step 1), synthesis at its frozen steps."""
        if self.syn_steps is None:
            raise RuntimeError("codes() before the hard stage fixed the synthesis steps")
        out = {}
        for i, lat in enumerate(self.latents):
            out[f"lat{i}"] = (quant_round(lat.detach()).cpu().numpy().astype(np.int32), 1.0)
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            sw, sb = self.syn_steps[j], self.syn_steps[len(self.weights) + j]
            out[f"syn.w{j}"] = (quant_round(w.detach() / sw).cpu().numpy().astype(np.int32), sw)
            out[f"syn.b{j}"] = (quant_round(b.detach() / sb).cpu().numpy().astype(np.int32), sb)
        if self.motion is not None:
            out["motion"] = (self.motion, spec.MOTION_STEP)
        return out
