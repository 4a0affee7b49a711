"""Serialised ONNX models written directly as protobuf bytes: the few messages siedd's graphs use.

Why not onnx.helper: the reader builds the graphs a file's must equal (graph_check.py) every
time it opens a file, and importing the onnx package costs 1.5-2 s on this CPU; the decoder
stays without it. The bytes are the ones onnx.helper + SerializeToString(deterministic=True)
give for the same calls (tests/test_container.py holds the two equal, and older files, written
with onnx.helper, still pass graph_check): fields in number order, proto2 repeated scalars
unpacked, each message's optional fields present exactly when onnx.helper sets them.

Messages are bytes; nothing here parses."""
from __future__ import annotations

import struct

import numpy as np

FLOAT, UINT8, INT64 = 1, 2, 7           # TensorProto.DataType
_DATA_TYPES = {np.dtype("float32"): FLOAT, np.dtype("uint8"): UINT8, np.dtype("int64"): INT64}
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7   # AttributeProto.AttributeType


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1              # int64: negative numbers as ten bytes, like protobuf
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _int(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _key(field, 2) + _varint(len(value)) + value


def _float(field: int, value: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", value)


def _attribute(name: str, value) -> bytes:
    """AttributeProto: name 1, f 2, i 3, ints 8, type 20."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"attribute {name}: bool is not an ONNX attribute type")
    if isinstance(value, (int, np.integer)):
        return _bytes(1, name) + _int(3, int(value)) + _int(20, _ATTR_INT)
    if isinstance(value, (float, np.floating)):
        return _bytes(1, name) + _float(2, float(value)) + _int(20, _ATTR_FLOAT)
    values = list(value)
    if not values or not all(isinstance(v, (int, np.integer)) for v in values):
        raise TypeError(f"attribute {name}: only ints, floats and lists of ints are written")
    return _bytes(1, name) + b"".join(_int(8, int(v)) for v in values) + _int(20, _ATTR_INTS)


def node(op_type: str, inputs, outputs, **attributes) -> bytes:
    """NodeProto: input 1, output 2, op_type 4, attribute 5 (sorted by name, as onnx.helper)."""
    return (b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs)
            + _bytes(4, op_type)
            + b"".join(_bytes(5, _attribute(k, v)) for k, v in sorted(attributes.items())))


def value_info(name: str, elem_type: int, shape) -> bytes:
    """ValueInfoProto: name 1, type 2 = TypeProto{tensor_type 1 = {elem_type 1, shape 2 =
    {dim 1 = {dim_value 1 | dim_param 2}}}}; the shape is present even when empty."""
    dims = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _bytes(2, d)) for d in shape)
    tensor_type = _int(1, elem_type) + _bytes(2, dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto as numpy_helper.from_array: dims 1, data_type 2, name 8, raw_data 9."""
    array = np.asarray(array)
    data_type = _DATA_TYPES[array.dtype]
    return (b"".join(_int(1, d) for d in array.shape) + _int(2, data_type) + _bytes(8, name)
            + _bytes(9, array.astype(array.dtype.newbyteorder("<")).tobytes()))


def model(nodes, name: str, inputs, outputs, initializers, opset: int, ir_version: int = 8,
          producer: str = "siedd") -> bytes:
    """ModelProto{ir_version 1, producer_name 2, graph 7, opset_import 8 = {domain 1 "",
    version 2}}, the graph being GraphProto{node 1, name 2, initializer 5, input 11,
    output 12}."""
    graph = (b"".join(_bytes(1, n) for n in nodes) + _bytes(2, name)
             + b"".join(_bytes(5, t) for t in initializers)
             + b"".join(_bytes(11, v) for v in inputs) + b"".join(_bytes(12, v) for v in outputs))
    return (_int(1, ir_version) + _bytes(2, producer) + _bytes(7, graph)
            + _bytes(8, _bytes(1, "") + _int(2, opset)))
