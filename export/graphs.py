"""ONNX graphs of the SIEDD network, built node by node (siedd_codec.onnx_proto: serialised
bytes, the same onnx.helper would give).

Hand-built rather than traced from torch: the graphs are part of the file format, so their bytes
must not change with the torch version; the tests check them against the torch model. The reader
builds them again to check a file's (graph_check.py), so building needs no onnx package;
`bake_weights` (standalone export) does.

Both graphs take their weights as graph inputs. The .siedd file stores each graph once and the
weights apart (quantised and entropy-coded), so one ONNX Runtime session serves every group.
`bake_weights` turns such inputs into initializers for standalone files.

encoder:  coords (N, 2) float32, (y, x) in [-1, 1]        -> features (N, d)
decoder:  features (N, d), group weights, heads (K, 3, d), heads_b (K, 3),
          frame_mean (K,), frame_std (K,)                  -> frames (K, N, 3) uint8
"""
from __future__ import annotations

import numpy as np

from siedd_codec.model_spec import (DECODER_LAYERS, OMEGA, OPSET, PE_DIM, PE_OCTAVES,
                                    encoder_shapes, group_shapes, pe_frequencies)
from siedd_codec.onnx_proto import FLOAT, UINT8, model, node, tensor, value_info


def _frequency_matrix() -> np.ndarray:
    """(2, 2*octaves): coords @ F gives column 2k+j = pi 2^k coord_j."""
    freqs = pe_frequencies()
    mat = np.zeros((2, 2 * PE_OCTAVES), dtype=np.float32)
    for k, f in enumerate(freqs):
        mat[0, 2 * k] = f
        mat[1, 2 * k + 1] = f
    return mat


def _siren(nodes: list, x: str, w: str, b: str, out: str) -> None:
    """out = sin(30 (x @ w^T + b)); Gemm's alpha and beta carry the 30."""
    nodes.append(node("Gemm", [x, w, b], [out + "_z"], transB=1, alpha=OMEGA, beta=OMEGA))
    nodes.append(node("Sin", [out + "_z"], [out]))


def encoder_graph(hidden: int) -> bytes:
    d = hidden
    nodes = [
        node("MatMul", ["coords", "pe_freq"], ["pe_proj"]),
        node("Sin", ["pe_proj"], ["pe_sin"]),
        node("Cos", ["pe_proj"], ["pe_cos"]),
        node("Concat", ["coords", "pe_sin", "pe_cos"], ["pe"], axis=1),
    ]
    _siren(nodes, "pe", "enc.w1", "enc.b1", "enc_h1")
    _siren(nodes, "enc_h1", "enc.w2", "enc.b2", "features")
    inputs = [value_info("coords", FLOAT, ["N", 2])]
    inputs += [value_info(n, FLOAT, list(s)) for n, s in encoder_shapes(d).items()]
    outputs = [value_info("features", FLOAT, ["N", d])]
    init = [tensor("pe_freq", _frequency_matrix())]
    assert PE_DIM == 2 + 4 * PE_OCTAVES
    return model(nodes, "siedd_encoder", inputs, outputs, init, OPSET)


def decoder_graph(hidden: int) -> bytes:
    d = hidden
    nodes: list = []
    x = "features"
    for i in range(1, DECODER_LAYERS + 1):
        _siren(nodes, x, f"dec.w{i}", f"dec.b{i}", f"dec_h{i}")
        x = f"dec_h{i}"
    nodes += [
        # all K heads at once: h (N, d) @ heads (3K, d)^T -> (N, 3K)
        node("Reshape", ["heads.w", "shape_rows_d"], ["heads_2d"]),
        node("Reshape", ["heads.b", "shape_flat"], ["heads_b_flat"]),
        node("Gemm", [x, "heads_2d", "heads_b_flat"], ["rgb_z_flat"], transB=1),
        node("Reshape", ["rgb_z_flat", "shape_n_k_3"], ["rgb_z_nk3"]),
        node("Transpose", ["rgb_z_nk3"], ["rgb_z"], perm=[1, 0, 2]),
        # undo the per-frame z-score, then to 8 bits: round(clip(255 x, 0, 255))
        node("Reshape", ["frame_std", "shape_k11"], ["std_k11"]),
        node("Reshape", ["frame_mean", "shape_k11"], ["mean_k11"]),
        node("Mul", ["rgb_z", "std_k11"], ["rgb_scaled"]),
        node("Add", ["rgb_scaled", "mean_k11"], ["rgb"]),
        node("Mul", ["rgb", "c255"], ["rgb255"]),
        node("Clip", ["rgb255", "c0", "c255"], ["rgb_clipped"]),
        node("Round", ["rgb_clipped"], ["rgb_rounded"]),
        node("Cast", ["rgb_rounded"], ["frames"], to=UINT8),
    ]
    shapes = group_shapes(d, 1)
    inputs = [value_info("features", FLOAT, ["N", d])]
    for name, shape in shapes.items():
        dims = ["K", *shape[1:]] if name.startswith("heads.") else list(shape)
        inputs.append(value_info(name, FLOAT, dims))
    inputs += [value_info("frame_mean", FLOAT, ["K"]),
               value_info("frame_std", FLOAT, ["K"])]
    outputs = [value_info("frames", UINT8, ["K", "N", 3])]
    init = [
        tensor("shape_rows_d", np.array([-1, d], dtype=np.int64)),
        tensor("shape_flat", np.array([-1], dtype=np.int64)),
        tensor("shape_n_k_3", np.array([0, -1, 3], dtype=np.int64)),
        tensor("shape_k11", np.array([-1, 1, 1], dtype=np.int64)),
        tensor("c0", np.array(0.0, dtype=np.float32)),
        tensor("c255", np.array(255.0, dtype=np.float32)),
    ]
    return model(nodes, "siedd_group_decoder", inputs, outputs, init, OPSET)


def bake_weights(graph_bytes: bytes, weights: dict[str, np.ndarray]):
    """An onnx.ModelProto of the serialised graph whose inputs named in `weights` become
    initializers: a standalone graph any ONNX tool can run with only the remaining inputs."""
    import onnx
    from onnx import numpy_helper
    baked = onnx.load_model_from_string(graph_bytes)
    graph = baked.graph
    keep = [i for i in graph.input if i.name not in weights]
    missing = set(weights) - {i.name for i in graph.input}
    if missing:
        raise ValueError(f"graph has no inputs named {sorted(missing)}")
    del graph.input[:]
    graph.input.extend(keep)
    for name, value in weights.items():
        graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
    # A baked decoder has a fixed frame count: make K concrete where it shows.
    onnx.checker.check_model(baked)
    return baked


def serialize(model) -> bytes:
    return model.SerializeToString(deterministic=True)
