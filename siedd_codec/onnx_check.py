"""A minimal protobuf walk over an ONNX ModelProto that lists the graph's operators, so that a
graph from a stranger's file is refused before ONNX Runtime builds it unless it uses only the
operators siedd's own graphs use (none of which can allocate more than its inputs imply).
Needs no onnx package: the decoder installs without it."""
from __future__ import annotations

from .errors import SieddFormatError

ALLOWED_OPS = frozenset({
    "Add", "Mul", "Sub", "Div", "MatMul", "Gemm", "Sin", "Cos", "Concat", "Reshape",
    "Transpose", "Clip", "Round", "Cast", "Constant", "Identity", "Unsqueeze", "Squeeze",
    "Gather", "Relu", "Shape", "Slice",   # the latent-grid family's reads and synthesis
})


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise SieddFormatError("ONNX graph: malformed varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(buf: memoryview):
    """Yields (field_number, wire_type, value) with value a memoryview for length-delimited."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise SieddFormatError("ONNX graph: field runs past its message")
            value, pos = buf[pos:pos + length], pos + length
        else:
            raise SieddFormatError(f"ONNX graph: unsupported wire type {wire}")
        if pos > len(buf):
            raise SieddFormatError("ONNX graph: truncated")
        yield field, wire, value


def graph_ops(model_bytes: bytes | memoryview) -> list[str]:
    ops: list[str] = []
    graphs = [v for f, w, v in _fields(memoryview(model_bytes)) if f == 7 and w == 2]
    if len(graphs) != 1:
        raise SieddFormatError("ONNX graph: model has no graph")
    for field, wire, node in _fields(graphs[0]):
        if field == 1 and wire == 2:  # GraphProto.node
            op = domain = ""
            for nf, nw, value in _fields(node):
                if nf == 4 and nw == 2:
                    op = bytes(value).decode("utf-8", "replace")
                elif nf == 7 and nw == 2:
                    domain = bytes(value).decode("utf-8", "replace")
            ops.append(f"{domain}:{op}" if domain else op)
    return ops


def check_graph(model_bytes: bytes | memoryview, what: str) -> None:
    try:
        ops = graph_ops(model_bytes)
    except SieddFormatError as exc:
        raise SieddFormatError(f"{what}: {exc}") from None
    bad = sorted(set(ops) - ALLOWED_OPS)
    if bad:
        raise SieddFormatError(f"{what}: uses operators siedd does not allow: {', '.join(bad)}")
    if not ops:
        raise SieddFormatError(f"{what}: empty graph")
