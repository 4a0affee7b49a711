"""Bounded little-endian reading and writing. Every read is checked against the bytes that are
really there, so a damaged length can never make us read or allocate past the buffer."""
from __future__ import annotations

import struct

import numpy as np

from .errors import SieddFormatError


class ByteReader:
    def __init__(self, data: bytes | memoryview, what: str):
        self._data = memoryview(data)
        self._pos = 0
        self.what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, n: int) -> memoryview:
        if n < 0 or n > self.remaining:
            raise SieddFormatError(
                f"{self.what}: needs {n} bytes at offset {self._pos}, only {self.remaining} left")
        out = self._data[self._pos:self._pos + n]
        self._pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        return struct.unpack("<" + fmt, self.take(size))

    def u8(self) -> int:
        return self.unpack("B")[0]

    def u32(self) -> int:
        return self.unpack("I")[0]

    def i32(self) -> int:
        return self.unpack("i")[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        dt = np.dtype(dtype).newbyteorder("<")
        raw = self.take(count * dt.itemsize)
        return np.frombuffer(raw, dtype=dt).astype(dt.newbyteorder("="), copy=True)

    def expect_end(self) -> None:
        if self.remaining:
            raise SieddFormatError(f"{self.what}: {self.remaining} unexpected trailing bytes")


class ByteWriter:
    def __init__(self):
        self._parts: list[bytes] = []

    def pack(self, fmt: str, *values) -> None:
        self._parts.append(struct.pack("<" + fmt, *values))

    def raw(self, data: bytes) -> None:
        self._parts.append(bytes(data))

    def array(self, arr: np.ndarray, dtype: str) -> None:
        self._parts.append(np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<")).tobytes())

    def getvalue(self) -> bytes:
        return b"".join(self._parts)
