"""Classical baselines on exactly the frames siedd sees: x264 and x265 through PyAV (FFmpeg's
libx264 / libx265), preset medium, a CRF sweep, 4:4:4 chroma.

Colour: the RGB frames (what siedd trains on and is measured against) are converted by swscale to
yuv444p with the BT.709 matrix at full range, encoded, decoded, and converted back with the same
matrix and range; PSNR is then computed on 8-bit RGB by siedd_codec.metrics, exactly as for
siedd. (A yuv420p encode would cap RGB PSNR at ~39 dB even when lossless; 4:4:4 does not. The
8-bit RGB -> YUV -> RGB round trip alone costs a little: `conversion_ceiling_psnr` reports it.)

Rate: bytes of the Annex-B elementary stream (parameter sets in-band) x 8 / (frames x W x H),
without SEI NAL units - x264 and x265 write their version and full option string into an SEI
(0.6-2 KB), which is metadata, not picture data, and would dominate the rate of short, small
clips. `bytes_with_sei` keeps the whole stream. No container overhead either. GOP: the encoders'
defaults (one intra frame at the start of these short clips); B-frames and lookahead as preset
medium sets them.
"""
from __future__ import annotations

import time
from fractions import Fraction

import av
import numpy as np

from siedd_codec.metrics import bpp, clip_psnr

CODECS = {"x264": ("libx264", "h264"), "x265": ("libx265", "hevc")}
MATRIX, RANGE = "itu709", "JPEG"


def rgb_to_yuv444(frame: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(
        format="yuv444p", dst_colorspace=MATRIX, dst_color_range=RANGE)


def yuv_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    return frame.reformat(format="rgb24", src_colorspace=MATRIX, src_color_range=RANGE,
                          dst_colorspace=MATRIX, dst_color_range=RANGE).to_ndarray()


def conversion_ceiling_psnr(frames: np.ndarray) -> float:
    """RGB PSNR of the colour round trip alone (no coding): the best any 4:4:4 encode can reach."""
    return clip_psnr([yuv_to_rgb(rgb_to_yuv444(f)) for f in frames], frames)


def _nal_units(data: bytes):
    """(header offset, end) of each NAL unit of an Annex-B byte stream."""
    starts = []
    i, n = 0, len(data)
    while True:
        i = data.find(b"\x00\x00\x01", i)
        if i < 0:
            break
        starts.append(i + 3)
        i += 3
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else n
        # a 4-byte start code leaves a zero byte before the next 00 00 01
        while end > s and k + 1 < len(starts) and data[end - 1] == 0:
            end -= 1
        yield s, end


def sei_bytes(data: bytes, codec: str) -> int:
    """Bytes of the SEI NAL units (start codes included) in an Annex-B stream."""
    total = 0
    for s, end in _nal_units(data):
        if s >= len(data):
            continue
        if codec == "x264":
            is_sei = data[s] & 0x1F == 6
        else:
            is_sei = (data[s] >> 1) & 0x3F in (39, 40)
        if is_sei:
            total += end - s + 3
    return total


def encode_decode(frames: np.ndarray, codec: str, crf: float, fps: float = 25.0,
                  preset: str = "medium", threads: int = 0, keep_frames: bool = False) -> dict:
    """Encode (N, H, W, 3) uint8 RGB frames with x264/x265 at `crf`, decode, measure.
    -> {codec, crf, preset, bytes, bpp, psnr, encode_seconds, decode_seconds}, and the decoded
    RGB frames under "frames" with keep_frames."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; choose from {', '.join(CODECS)}")
    enc_name, dec_name = CODECS[codec]
    n, h, w = frames.shape[:3]
    if w % 2 or h % 2:
        raise ValueError(f"{w}x{h}: x264/x265 need even sizes")
    rate = Fraction(fps).limit_denominator(1001)
    ctx = av.CodecContext.create(enc_name, "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv444p"
    ctx.time_base = 1 / rate
    ctx.framerate = rate
    opts = {"preset": preset, "crf": f"{crf:g}"}
    if codec == "x265":
        opts["x265-params"] = "log-level=none" + (f":pools={threads}" if threads else "")
    elif threads:
        opts["threads"] = str(threads)
    ctx.options = opts
    # conversion outside the timed encode: the encoder's own time is what is compared
    yuv = [rgb_to_yuv444(f) for f in frames]
    packets = []
    t0 = time.perf_counter()
    for i, vf in enumerate(yuv):
        vf.pts = i
        packets.extend(ctx.encode(vf))
    packets.extend(ctx.encode(None))
    t_enc = time.perf_counter() - t0
    stream = b"".join(bytes(p) for p in packets)
    with_sei = len(stream)
    nbytes = with_sei - sei_bytes(stream, codec)
    dec = av.CodecContext.create(dec_name, "r")
    decoded = []
    t1 = time.perf_counter()
    for p in packets:
        decoded.extend(dec.decode(p))
    decoded.extend(dec.decode(None))
    t_dec = time.perf_counter() - t1
    if len(decoded) != n:
        raise RuntimeError(f"{codec} crf {crf}: {len(decoded)} frames decoded of {n}")
    rgb = [yuv_to_rgb(f) for f in decoded]
    out = {"codec": codec, "crf": crf, "preset": preset, "bytes": int(nbytes),
           "bytes_with_sei": int(with_sei), "bpp": bpp(nbytes, n, w, h), "psnr": clip_psnr(rgb, frames),
           "encode_seconds": round(t_enc, 4), "decode_seconds": round(t_dec, 4)}
    if keep_frames:
        out["frames"] = rgb
    return out


def crf_sweep(frames: np.ndarray, codec: str, crfs, fps: float = 25.0,
              preset: str = "medium") -> list[dict]:
    return [encode_decode(frames, codec, crf, fps, preset) for crf in crfs]
