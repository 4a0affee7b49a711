"""A file's ONNX graphs must be the graphs this siedd builds for the model its META describes.

Refusing anything else before ONNX Runtime sees it is the only rule that bounds what a stranger's
graph can do: an allow-list of operators does not (30 chained Concats of a 1.5 KB graph reach
gigabytes; an N x N MatMul asks for hundreds at 640x480). The family builds the expected graphs
from META (families.py, `graphs`), one pair per graph version it renders; the file's graphs must
equal one of them field for field, except for fields that only describe (names, doc strings,
producer, metadata). A minimal protobuf walk does the comparison, so nothing parses the
stranger's bytes but this module."""
from __future__ import annotations

from .errors import SieddFormatError

# ModelProto fields that describe without changing what the graph computes: producer_name,
# producer_version, domain, model_version, doc_string, metadata_props. GraphProto: name,
# doc_string.
MODEL_DESCRIPTIVE = frozenset({2, 3, 4, 5, 6, 14})
MODEL_GRAPH = 7
GRAPH_DESCRIPTIVE = frozenset({2, 10})


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise SieddFormatError("malformed varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(buf: memoryview) -> list[tuple[int, int, bytes]]:
    """The message's fields in stored order: (number, wire type, the encoded value's bytes)."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        start = pos
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            start, pos = pos, pos + length
        else:
            raise SieddFormatError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise SieddFormatError("truncated protobuf message")
        out.append((field, wire, bytes(buf[start:pos])))
    return out


def canonical(model_bytes: bytes) -> tuple:
    """What a serialised ModelProto computes: its fields less the descriptive ones."""
    out = []
    for field, wire, value in _fields(memoryview(model_bytes)):
        if field in MODEL_DESCRIPTIVE:
            continue
        if field == MODEL_GRAPH and wire == 2:
            graph = tuple(f for f in _fields(memoryview(value)) if f[0] not in GRAPH_DESCRIPTIVE)
            out.append((field, wire, graph))
        else:
            out.append((field, wire, value))
    return tuple(out)


def check_graphs(encoder_graph: bytes, decoder_graph: bytes,
                 expected: list[tuple[bytes, bytes]], model: str) -> tuple[bytes, bytes]:
    """-> the expected pair the file's graphs equal; SieddFormatError when there is none."""
    try:
        found = (canonical(encoder_graph), canonical(decoder_graph))
    except SieddFormatError as exc:
        raise SieddFormatError(f"damaged .siedd file: ONNX graph: {exc}") from None
    for pair in expected:
        if found == (canonical(pair[0]), canonical(pair[1])):
            return pair
    which = "GENC" if all(found[0] != canonical(p[0]) for p in expected) else "GDEC"
    raise SieddFormatError(f"damaged .siedd file: the {which} graph is not one siedd builds for "
                           f"this file's model ({model}); refused before ONNX Runtime")
