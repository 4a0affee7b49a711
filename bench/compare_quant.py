"""Our weight coding against the reference's ("6-bit codes in bytes + LZMA") on the same trained
model: train once in float (qat=off: quantisation after training, as the reference does), code
the float weights both ways, decode both, report bytes, bpp and PSNR. (Training against the
quantiser and the rate term are measured by the ablation section, not here.)

The reference scheme, re-implemented from its description (no code copied): the three shared
decoder layers get 6-bit affine quantisation in groups of 32 consecutive weights (scale and zero
in float16, codes one per byte), heads stay float32, biases bfloat16 (truncated), the encoder
float32; everything is concatenated and LZMA-compressed. Ours: siedd's container, as written.

usage: python bench/compare_quant.py CLIP [--frames N] [--size WxH] [--preset P] [--set k=v ...]
"""
from __future__ import annotations

import argparse
import json
import lzma
import sys
import time

import numpy as np

from siedd_codec import container
from siedd_codec.encoder import build_file
from siedd_codec.metrics import bpp, clip_psnr
from siedd_codec.model import render
from siedd_codec.presets import get_preset, parse_override
from siedd_codec.reader import SieddReader, parse_size
from siedd_codec.training import Trainer
from siedd_codec.video_io import read_video


def affine_groupwise(w: np.ndarray, bits: int = 6, group: int = 32):
    flat = w.reshape(-1, group)
    lo, hi = flat.min(1, keepdims=True), flat.max(1, keepdims=True)
    scale = ((hi - lo) / (2 ** bits - 1)).astype(np.float16).astype(np.float32)
    scale[scale == 0] = 1
    zero = lo.astype(np.float16).astype(np.float32)
    codes = np.clip(np.rint((flat - zero) / scale), 0, 2 ** bits - 1).astype(np.uint8)
    deq = (codes * scale + zero).reshape(w.shape).astype(np.float32)
    payload = codes.tobytes() + scale.astype(np.float16).tobytes() + zero.astype(np.float16).tobytes()
    return deq, payload


def bf16(w: np.ndarray):
    bits = np.ascontiguousarray(w, dtype=np.float32).view(np.uint32) & 0xFFFF0000
    return bits.view(np.float32).copy(), (bits >> 16).astype(np.uint16).tobytes()


def reference_scheme(model) -> tuple[int, list[dict], dict]:
    parts = []
    enc = {}
    for k, v in model.float_encoder.items():
        if k.split(".")[-1].startswith("b"):
            enc[k], raw = bf16(v)
        else:
            enc[k], raw = v.astype(np.float32), v.astype(np.float32).tobytes()
        parts.append(raw)
    groups = []
    for g in range(len(model.group_ranges)):
        gw = model.float_groups[g]
        out = {}
        for k, v in gw.items():
            if k.startswith("dec.w"):
                out[k], raw = affine_groupwise(v)
            elif k.split(".")[-1].startswith("b"):
                out[k], raw = bf16(v)
            else:
                out[k], raw = v.astype(np.float32), v.astype(np.float32).tobytes()
            parts.append(raw)
        groups.append(out)
    parts.append(model.norm.astype(np.float32).tobytes())
    size = len(lzma.compress(b"".join(parts), preset=9))
    return size, groups, enc


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--size")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--out", default="/tmp/compare_quant.siedd")
    args = ap.parse_args(argv)
    preset = get_preset(args.preset, **{**dict(parse_override(s) for s in args.set),
                                        "qat": "off", "rate_lambda": 0.0, "key_interval": 1})
    video = read_video(args.clip, frames=args.frames, size=parse_size(args.size) if args.size else None)
    t0 = time.perf_counter()
    model = Trainer(video, preset, quiet=True).run()
    train_s = time.perf_counter() - t0
    n, w, h = len(video), video.width, video.height

    def psnr_of(enc, groups):
        out = [render(enc, g, model.norm[a:a + c], w, h) for g, (a, c) in zip(groups, model.group_ranges)]
        return clip_psnr(np.concatenate(out), video.frames)

    float_psnr = psnr_of(model.float_encoder, [model.float_groups[g] for g in range(len(model.group_ranges))])
    ref_bytes, ref_groups, ref_enc = reference_scheme(model)
    ref_psnr = psnr_of(ref_enc, ref_groups)
    ours_bytes = container.write(args.out, build_file(model, video, preset, {"software": "bench"}))
    with SieddReader(args.out, device="cpu") as r:
        ours_psnr = clip_psnr(r, video.frames)
    sf = container.read(args.out)
    params_shared = sum(v.size for g in model.groups for k, v in g.items() if k.startswith("dec.w"))
    result = {
        "clip": args.clip, "frames": n, "width": w, "height": h, "preset": preset.as_dict(),
        "train_seconds": round(train_s, 1), "float_psnr": round(float_psnr, 3),
        "reference_6bit_bytes_lzma": {"bytes": ref_bytes, "bpp": round(bpp(ref_bytes, n, w, h), 4),
                                      "psnr": round(ref_psnr, 3)},
        "siedd": {"bytes": ours_bytes, "bpp": round(bpp(ours_bytes, n, w, h), 4),
                  "psnr": round(ours_psnr, 3), "sections": sf.section_sizes},
        "saving": round(1 - ours_bytes / ref_bytes, 4),
        "shared_weights": int(params_shared),
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
