"""ONNX graphs of the latent-grid model, built node by node as serialised bytes (onnx_proto.py;
the graphs are part of the file format: their bytes must not depend on the torch version). The encoder writes them;
the reader builds them again to check a file's (graph_check.py).

Both graphs work on a band of R output rows by W' columns and take their taps (spec.axis_taps)
as inputs, one set per level scale:  rows0_s{S}, rows1_s{S} (R,) int64, wy_s{S} (R, 1) float32,
cols0_s{S}, cols1_s{S} (W',) int64, wx_s{S} (W', 1) float32.

The band is built column-major inside the graphs (shared_z is (1, W', R, n1)); the frame graph
transposes its uint8 output back to rows.

shared graph (GENC): the shared levels (knots 1), lat{i} (1, h_i, w_i), syn.w0s (Cs, n1),
    syn.b0 (n1,)                                  -> shared_z (1, W', R, n1)
    computed once per group, band and output size
frame graph (GDEC), graph version 2 (format 4.0 on): the per-frame levels lat{i} (K, h_i, w_i)
    (already placed in time), frame (1,) int64: which of the K to render, shared_z,
    syn.w0f (Cf, n1), syn.w{j}, syn.b{j} for j >= 1
                                                  -> frames (1, R, W', 3) uint8
    one frame a run: its first layer is then one Gemm that adds shared_z as it multiplies
    (and fuses the ReLU after it), where a batch of K frames needs a MatMul, a broadcast Add
    and a ReLU, three passes over K x W' x R x n1 floats, and buffers K times larger
    (bigbuckbunny 640x360, 32-16, interleaved runs: a fresh reader's first group in 0.55 s
    instead of 0.95 s, then 41-47 fps instead of 37-41).
frame graph, graph version 1 (formats 2.0 and 3.0; still read): the same without `frame`,
    all K frames in one run                       -> frames (K, R, W', 3) uint8

Graph version 3 (format 6.0, files with global motion): a moving group reads its shared levels
at every frame's own (moved) taps, so nothing of the first layer is shared between frames:
shared graph (GENC): the shared levels lat{i} (1, h_i, w_i) and their taps
                                                  -> shared_v (1, W', R, Cs), the values read
    once per group and band for a still group, once per frame for a moving one
frame graph (GDEC): the per-frame levels, frame, their taps, shared_v, syn.w0 (the rows of the
    per-frame levels, then those of the shared ones), syn.b0, syn.w{j}, syn.b{j}
                                                  -> frames (1, R, W', 3) uint8
    the first layer one Gemm over all levels' values: for a moving group, 25-30 fps at
    640x360 against 22-25 with version 2's graphs run once a frame (the shared graph's
    MatMul and its W' R x n1 output handed over every frame); a still group decodes about as
    fast as with version 2 (38-42 against 41-45 fps; bigbuckbunny, 2 threads, idle machine)
"""
from __future__ import annotations

import numpy as np

from ..onnx_proto import FLOAT, INT64, UINT8, model, node, tensor, value_info
from . import spec


def tap_inputs(scales) -> list:
    out = []
    for s in sorted(set(scales)):
        out += [value_info(f"rows0_s{s}", INT64, ["R"]),
                value_info(f"rows1_s{s}", INT64, ["R"]),
                value_info(f"wy_s{s}", FLOAT, ["R", 1]),
                value_info(f"cols0_s{s}", INT64, ["W"]),
                value_info(f"cols1_s{s}", INT64, ["W"]),
                value_info(f"wx_s{s}", FLOAT, ["W", 1])]
    return out


def _interpolate(nodes: list, lat: str, scale: int, out: str) -> None:
    """out (K, W', R, 1) = bilinear read of lat (K, h, w): rows first, then columns. The band
    is built column-major (W', R): every gather then copies contiguous rows, not scalars."""
    s = f"_s{scale}"
    p = out + "_"
    nodes += [
        node("Gather", [lat, "rows0" + s], [p + "a0"], axis=1),
        node("Gather", [lat, "rows1" + s], [p + "a1"], axis=1),
        node("Sub", [p + "a1", p + "a0"], [p + "ad"]),
        node("Mul", [p + "ad", "wy" + s], [p + "am"]),
        node("Add", [p + "a0", p + "am"], [p + "ay"]),              # (K, R, w)
        node("Transpose", [p + "ay"], [p + "ayt"], perm=[0, 2, 1]),  # (K, w, R)
        node("Gather", [p + "ayt", "cols0" + s], [p + "c0"], axis=1),
        node("Gather", [p + "ayt", "cols1" + s], [p + "c1"], axis=1),
        node("Sub", [p + "c1", p + "c0"], [p + "cd"]),
        node("Mul", [p + "cd", "wx" + s], [p + "cm"]),
        node("Add", [p + "c0", p + "cm"], [p + "v"]),               # (K, W', R)
        node("Unsqueeze", [p + "v", "axis_last"], [out]),
    ]


def _features(nodes: list, levels: list[tuple[int, int]], indices: list[int], out: str,
              suffix: str = "") -> None:
    """out (K, W', R, C): the levels lat{i}{suffix} read at the band's pixels."""
    names = []
    for i in indices:
        _interpolate(nodes, f"lat{i}{suffix}", levels[i][0], f"v{i}")
        names.append(f"v{i}")
    if len(names) == 1:
        nodes.append(node("Identity", names, [out]))
    else:
        nodes.append(node("Concat", names, [out], axis=3))


def _axis_init():
    return tensor("axis_last", np.array([3], dtype=np.int64))


def shared_graph(levels, synthesis, version: int = 2) -> bytes:
    n1 = synthesis[0]
    shared = spec.shared_levels(levels)
    nodes: list = []
    _features(nodes, levels, shared, "shared_v")
    inputs = [value_info(f"lat{i}", FLOAT, [1, "h%d" % i, "w%d" % i])
              for i in shared]
    inputs += tap_inputs(levels[i][0] for i in shared)
    if version == 3:
        outputs = [value_info("shared_v", FLOAT, [1, "W", "R", len(shared)])]
        return model(nodes, "siedd_grid_shared_reads", inputs, outputs, [_axis_init()],
                     spec.OPSET)
    nodes += [node("MatMul", ["shared_v", "syn.w0s"], ["shared_m"]),
              node("Add", ["shared_m", "syn.b0"], ["shared_z"])]
    inputs += [value_info("syn.w0s", FLOAT, [len(shared), n1]),
               value_info("syn.b0", FLOAT, [n1])]
    outputs = [value_info("shared_z", FLOAT, [1, "W", "R", n1])]
    return model(nodes, "siedd_grid_shared", inputs, outputs, [_axis_init()], spec.OPSET)


def frame_graph(levels, synthesis, version: int = 2) -> bytes:
    widths = [len(levels), *synthesis, 3]
    frame = spec.frame_levels(levels)
    nodes: list = []
    if version == 1:
        _features(nodes, levels, frame, "frame_v")                      # (K, W', R, Cf)
        nodes += [node("MatMul", ["frame_v", "syn.w0f"], ["frame_m"]),
                  node("Add", ["frame_m", "shared_z"], ["z0"]),    # (K, W', R, n1)
                  node("Shape", ["z0"], ["z0_shape"]),
                  node("Reshape", ["z0", "rows_2d"], ["z0_2d"])]  # (K W' R, n1)
    else:
        for i in frame:
            nodes.append(node("Gather", [f"lat{i}", "frame"], [f"lat{i}_f"], axis=0))
        _features(nodes, levels, frame, "frame_v", suffix="_f")          # (1, W', R, Cf)
    if version == 2:
        nodes += [node("Reshape", ["frame_v", "frame_2d"], ["frame_v_2d"]),
                  node("Reshape", ["shared_z", "rows_2d"], ["shared_2d"]),
                  node("Gemm", ["frame_v_2d", "syn.w0f", "shared_2d"], ["z0_2d"]),
                  node("Shape", ["shared_z"], ["z0_shape"])]
    elif version == 3:
        nodes += [node("Concat", ["frame_v", "shared_v"], ["all_v"], axis=3),  # (1, W', R, C)
                  node("Reshape", ["all_v", "frame_2d"], ["all_v_2d"]),
                  node("Gemm", ["all_v_2d", "syn.w0", "syn.b0"], ["z0_2d"]),
                  node("Shape", ["shared_v"], ["z0_shape"])]
    x = "z0_2d"
    for j in range(1, len(widths) - 1):
        nodes += [node("Relu", [x], [f"h{j}"]),
                  node("Gemm", [f"h{j}", f"syn.w{j}", f"syn.b{j}"], [f"z{j}"])]
        x = f"z{j}"
    nodes += [node("Mul", [x, "c255"], ["rgb255"]),
              node("Clip", ["rgb255", "c0", "c255"], ["rgb_clipped"]),
              node("Round", ["rgb_clipped"], ["rgb_rounded"]),
              node("Cast", ["rgb_rounded"], ["rgb_u8"], to=UINT8),
              # back to (K, W', R, 3), then row-major: (K, R, W', 3)
              node("Slice", ["z0_shape", "s0", "s3"], ["kwr"]),
              node("Concat", ["kwr", "three"], ["out_shape"], axis=0),
              node("Reshape", ["rgb_u8", "out_shape"], ["frames_t"]),
              node("Transpose", ["frames_t"], ["frames"], perm=[0, 2, 1, 3])]
    inputs = [value_info(f"lat{i}", FLOAT, ["K", "h%d" % i, "w%d" % i])
              for i in frame]
    if version != 1:
        inputs.append(value_info("frame", INT64, [1]))
    inputs += tap_inputs(levels[i][0] for i in frame)
    if version == 3:
        inputs += [value_info("shared_v", FLOAT, [1, "W", "R", len(levels) - len(frame)]),
                   value_info("syn.w0", FLOAT, [len(levels), widths[1]]),
                   value_info("syn.b0", FLOAT, [widths[1]])]
    else:
        inputs += [value_info("shared_z", FLOAT, [1, "W", "R", widths[1]]),
                   value_info("syn.w0f", FLOAT, [len(frame), widths[1]])]
    for j in range(1, len(widths) - 1):
        inputs += [value_info(f"syn.w{j}", FLOAT, [widths[j], widths[j + 1]]),
                   value_info(f"syn.b{j}", FLOAT, [widths[j + 1]])]
    outputs = [value_info("frames", UINT8, ["K" if version == 1 else 1, "R", "W", 3])]
    init = [_axis_init(), tensor("c0", np.array(0.0, dtype=np.float32)),
            tensor("c255", np.array(255.0, dtype=np.float32)),
            tensor("rows_2d", np.array([-1, widths[1]], dtype=np.int64)),
            tensor("s0", np.array([0], dtype=np.int64)),
            tensor("s3", np.array([3], dtype=np.int64)),
            tensor("three", np.array([3], dtype=np.int64))]
    if version != 1:
        init.append(tensor("frame_2d", np.array([-1, len(levels) if version == 3 else len(frame)],
                                                dtype=np.int64)))
    name = "siedd_grid_frames" if version == 1 else "siedd_grid_frame"
    return model(nodes, name, inputs, outputs, init, spec.OPSET)
