"""The .siedd container: one file, a fixed header, a section table, checksummed sections.
docs/FORMAT.md is the byte-by-byte specification of what this module writes and reads.

Writing checks that the bytes written equal the bytes declared. Reading validates every length,
count and checksum before anything is allocated from it; a file cut short still yields the
groups that are complete."""
from __future__ import annotations

import json
import lzma
import math
import struct
import zlib
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .binio import ByteReader, ByteWriter
from .errors import SieddFormatError
from .fsutil import atomic_path
from .families import family_of_meta
from .graph_check import check_graphs
from .graph_dictionary import graph_dictionary, plain_graphs
from .meta_dictionary import META_DICTIONARY

MAGIC = b"SIEDD\r\n\x1a"
VERSION_MAJOR = 10                 # what this writer writes
VERSION_MINOR = 0
READS_MAJOR = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)  # what this reader reads
HEADER = struct.Struct("<8sHHIQI16sI")            # 48 bytes, see FORMAT.md
TABLE_ENTRY = struct.Struct("<4sIQQ")              # 24 bytes
MAX_SECTIONS = 1 << 20
MAX_META_BYTES = 1 << 20
MAX_GRAPH_BYTES = 1 << 24
# 7.0 and 8.0 (reading only): both graphs in GENC as one raw LZMA2 stream with this dictionary
# (FORMAT.md, "Reading versions"); the dictionary is all a decoder allocates
GRAPHS_LZMA_DICT_BYTES = 1 << 16
GRAPHS_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "dict_size": GRAPHS_LZMA_DICT_BYTES}]
MAX_META_DEPTH = 8                 # META's JSON: nesting, integer digits, string lengths
MAX_META_INT_DIGITS = 20
MAX_META_TEXT = 4096

# Section types in the order they appear; WGRP repeats once per group.
META, NORM, GENC, GDEC, WENC, GIDX, WGRP = (b"META", b"NORM", b"GENC", b"GDEC", b"WENC",
                                            b"GIDX", b"WGRP")
ESSENTIAL = (META, NORM, GENC, GDEC, WENC, GIDX)
GROUP_OK, GROUP_DAMAGED, GROUP_MISSING = "ok", "damaged", "missing"


@dataclass
class SieddFile:
    """Everything a .siedd holds, still entropy-coded where it was."""
    meta: dict
    norm: np.ndarray | None              # (frame_count, 2) float32: per-frame mean, std (SIEDD)
    encoder_graph: bytes
    decoder_graph: bytes
    encoder_weights: bytes
    groups: list[tuple[int, int]]        # (first frame, frame count) of every group declared
    group_weights: list[bytes] = field(default_factory=list)   # the readable ones, in order
    file_bytes: int = 0                  # as the header declares
    section_sizes: dict[str, int] = field(default_factory=dict)
    version: tuple[int, int] = (VERSION_MAJOR, VERSION_MINOR)
    # Read from a file: per declared group GROUP_OK, GROUP_DAMAGED or GROUP_MISSING; the bytes
    # really there. group_weights holds the groups before the first that is not GROUP_OK.
    group_status: list[str] = field(default_factory=list)
    present_bytes: int = 0

    @property
    def truncated(self) -> bool:
        return len(self.group_weights) < len(self.groups)

    @property
    def readable_groups(self) -> list[tuple[int, int]]:
        """(first frame, frame count) of the groups whose weights were read."""
        return self.groups[:len(self.group_weights)]

    @property
    def readable_frames(self) -> int:
        return sum(count for _, count in self.readable_groups)

    def loss(self) -> str | None:
        """Why the groups from len(group_weights) on cannot be read; None when all can."""
        g = len(self.group_weights)
        if g == len(self.groups):
            return None
        first, count = self.groups[g]
        if g < len(self.group_status) and self.group_status[g] == GROUP_DAMAGED:
            return f"group {g} (frames {first}-{first + count - 1}) is damaged (checksum mismatch)"
        return (f"the file is cut short ({self.present_bytes} of {self.file_bytes} bytes): "
                f"group {g} (frames {first}-{first + count - 1}) is incomplete")

    @property
    def width(self) -> int:
        return self.meta["video"]["width"]

    @property
    def height(self) -> int:
        return self.meta["video"]["height"]

    @property
    def frame_count(self) -> int:
        return self.meta["video"]["frame_count"]

    @property
    def fps(self) -> Fraction:
        num, den = self.meta["video"]["fps"]
        return Fraction(num, den)

    @property
    def hidden(self) -> int:
        return self.meta["model"]["hidden"]


# ---------------------------------------------------------------------------------------------
# writing

def encode_group_index(groups: list[tuple[int, int]]) -> bytes:
    out = ByteWriter()
    out.pack("I", len(groups))
    for first, count in groups:
        out.pack("II", first, count)
    return out.getvalue()


def deflate_meta(data: bytes) -> bytes:
    """META's payload from format 8.0 on: raw DEFLATE (RFC 1951) with META_DICTIONARY as its
    preset dictionary (meta_dictionary.py says why)."""
    d = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=META_DICTIONARY)
    return d.compress(data) + d.flush()


def inflate_meta(payload: bytes, major: int) -> bytes:
    """META's JSON bytes as format `major` stores them: raw DEFLATE with the dictionary (8.0
    on), zlib data (2.0 to 7.0) or plain (1.0)."""
    if major >= 8:
        return inflate(payload, MAX_META_BYTES, "META", raw_dictionary=META_DICTIONARY)
    return inflate(payload, MAX_META_BYTES, "META") if major >= 2 else payload


def inflate(data: bytes, limit: int, what: str, raw_dictionary: bytes | None = None) -> bytes:
    """zlib data (or, given raw_dictionary, raw DEFLATE data with that preset dictionary),
    refusing anything that inflates past `limit` bytes (no decompression bombs)."""
    d = (zlib.decompressobj() if raw_dictionary is None
         else zlib.decompressobj(-15, zdict=raw_dictionary))
    try:
        out = d.decompress(data, limit)
        if d.unconsumed_tail or not d.eof:
            raise SieddFormatError(f"damaged .siedd file: {what} is larger than {limit} bytes "
                                   "or incomplete")
    except zlib.error as exc:
        raise SieddFormatError(f"damaged .siedd file: {what} does not inflate ({exc})") from None
    if d.unused_data:
        raise SieddFormatError(f"damaged .siedd file: {what} has trailing bytes")
    return out


def pack_graphs(encoder_graph: bytes, decoder_graph: bytes) -> bytes:
    """GENC's payload from format 9.0 on: u32 length of the encoder graph, the encoder graph,
    the decoder graph, as raw DEFLATE against the graph dictionary (graph_dictionary.py says
    why): graphs siedd builds take ~30-80 bytes."""
    return deflate_graphs(plain_graphs(encoder_graph, decoder_graph))


def deflate_graphs(plain: bytes) -> bytes:
    """GENC's payload (9.0) of an unpacked one: raw DEFLATE against the graph dictionary."""
    d = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=graph_dictionary())
    return d.compress(plain) + d.flush()


def unpack_graphs(payload: bytes, major: int = VERSION_MAJOR) -> tuple[bytes, bytes]:
    """pack_graphs' inverse for format `major` (9.0: DEFLATE with the dictionary; 7.0 and 8.0:
    one LZMA2 stream), refusing a stream that unpacks past two graphs' limit (no decompression
    bombs), is cut short, or holds bytes after its end."""
    limit = 4 + 2 * MAX_GRAPH_BYTES
    if major >= 9:
        plain = inflate(payload, limit, "GENC", raw_dictionary=graph_dictionary())
    else:
        plain = _unpack_lzma(payload, limit)
    if len(plain) < 4:
        raise SieddFormatError("damaged .siedd file: the GENC graphs lack their length")
    (n,) = struct.unpack_from("<I", plain)
    if n > len(plain) - 4:
        raise SieddFormatError("damaged .siedd file: the GENC graphs' length is past their end")
    encoder_graph, decoder_graph = plain[4:4 + n], plain[4 + n:]
    for kind, graph in (("GENC", encoder_graph), ("GDEC", decoder_graph)):
        if len(graph) > MAX_GRAPH_BYTES:
            raise SieddFormatError(f"damaged .siedd file: {kind} graph too large")
    return encoder_graph, decoder_graph


def _unpack_lzma(payload: bytes, limit: int) -> bytes:
    d = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=GRAPHS_LZMA_FILTERS)
    try:
        plain = d.decompress(payload, max_length=limit)
    except lzma.LZMAError as exc:
        raise SieddFormatError(f"damaged .siedd file: the GENC graphs do not unpack ({exc})"
                               ) from None
    if not d.eof:
        raise SieddFormatError(f"damaged .siedd file: the GENC graphs are larger than {limit} "
                               "bytes or incomplete")
    if d.unused_data:
        raise SieddFormatError("damaged .siedd file: the GENC graphs have trailing bytes")
    return plain


def video_meta(video) -> dict:
    """META's "video" object for a video_io.Video."""
    return {"width": video.width, "height": video.height, "frame_count": len(video),
            "fps": [video.fps.numerator, video.fps.denominator], "color": video.color,
            "source": video.source}


def norm_to_file(norm: np.ndarray) -> np.ndarray:
    """The per-frame mean and std as the file stores them (float16); training uses these very
    values, so the decoder undoes the normalisation the network learned."""
    return np.asarray(norm, dtype=np.float32).astype("<f2")


def to_bytes(sf: SieddFile) -> bytes:
    validate_meta(sf.meta, VERSION_MAJOR)
    meta_bytes = json.dumps(sf.meta, sort_keys=True, separators=(",", ":")).encode("utf-8")
    sections = [
        (META, deflate_meta(meta_bytes)),
        (NORM, b"" if sf.norm is None else norm_to_file(sf.norm).tobytes()),
        (GENC, pack_graphs(sf.encoder_graph, sf.decoder_graph)),
        (GDEC, b""),                    # 7.0 on: both graphs are in GENC
        (WENC, sf.encoder_weights),
        (GIDX, encode_group_index(sf.groups)),
    ] + [(WGRP, payload) for payload in sf.group_weights]
    table_size = len(sections) * TABLE_ENTRY.size + 4
    offset = HEADER.size + table_size
    table = ByteWriter()
    for kind, payload in sections:
        table.raw(TABLE_ENTRY.pack(kind, zlib.crc32(payload), offset, len(payload)))
        offset += len(payload)
    table_bytes = table.getvalue()
    table_bytes += struct.pack("<I", zlib.crc32(table_bytes))
    file_size = offset
    head = HEADER.pack(MAGIC, VERSION_MAJOR, VERSION_MINOR, len(sections), file_size, 0,
                       bytes(16), 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    data = b"".join([head, table_bytes] + [payload for _, payload in sections])
    if len(data) != file_size:
        raise AssertionError(f"container writer: wrote {len(data)} bytes, declared {file_size}")
    return data


def write(path, sf: SieddFile) -> int:
    """Write atomically; returns the file's size in bytes."""
    data = to_bytes(sf)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            written = fh.write(data)
    if written != len(data):
        raise OSError(f"wrote {written} of {len(data)} bytes to {path}")
    return len(data)


# ---------------------------------------------------------------------------------------------
# reading

def read(path, allow_damaged: bool = False) -> SieddFile:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except IsADirectoryError:
        raise SieddFormatError(f"{path}: is a directory, not a .siedd file") from None
    try:
        return from_bytes(data, allow_damaged)
    except SieddFormatError as exc:
        raise SieddFormatError(f"{path}: {exc}") from None


def from_bytes(data: bytes, allow_damaged: bool = False) -> SieddFile:
    """allow_damaged: a group whose checksum does not match ends the readable groups, as a cut
    does, instead of refusing the file (its status says so)."""
    if len(data) < HEADER.size:
        raise SieddFormatError(f"not a .siedd file: only {len(data)} bytes")
    magic, major, minor, count, file_size, flags, _reserved, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SieddFormatError("not a .siedd file: bad magic bytes")
    if zlib.crc32(data[:HEADER.size - 4]) != crc:
        raise SieddFormatError("damaged .siedd file: header checksum mismatch")
    if major not in READS_MAJOR:
        newer = " (written by a newer siedd: upgrade to read it)" if major > VERSION_MAJOR else ""
        raise SieddFormatError(
            f"unsupported .siedd version {major}.{minor}{newer}; this decoder reads versions "
            + ", ".join(f"{v}.x" for v in READS_MAJOR))
    if not 1 <= count <= MAX_SECTIONS:
        raise SieddFormatError(f"damaged .siedd file: {count} sections")
    if len(data) > file_size:
        raise SieddFormatError(
            f"damaged .siedd file: {len(data) - file_size} bytes past the declared end")
    table_end = HEADER.size + count * TABLE_ENTRY.size + 4
    if table_end > len(data):
        raise SieddFormatError("truncated .siedd file: the section table is incomplete")
    table = data[HEADER.size:table_end - 4]
    (table_crc,) = struct.unpack_from("<I", data, table_end - 4)
    if zlib.crc32(table) != table_crc:
        raise SieddFormatError("damaged .siedd file: section table checksum mismatch")

    entries = [TABLE_ENTRY.unpack_from(table, i * TABLE_ENTRY.size) for i in range(count)]
    expected_offset = table_end
    for kind, _, offset, length in entries:
        if offset != expected_offset:
            raise SieddFormatError(f"damaged .siedd file: section {kind!r} at an unexpected offset")
        expected_offset += length
    if expected_offset != file_size:
        raise SieddFormatError("damaged .siedd file: sections do not add up to the file size")
    kinds = [e[0] for e in entries]
    if tuple(kinds[:len(ESSENTIAL)]) != ESSENTIAL or any(k != WGRP for k in kinds[len(ESSENTIAL):]):
        raise SieddFormatError("damaged .siedd file: unexpected section layout")

    payloads: list[bytes] = []
    group_status: list[str] = []
    view = memoryview(data)
    for index, (kind, crc, offset, length) in enumerate(entries):
        essential = index < len(ESSENTIAL)
        name = kind.decode("ascii") if essential else f"group {index - len(ESSENTIAL)}"
        if offset + length > len(data):
            if essential:
                raise SieddFormatError(f"truncated .siedd file: section {name} is incomplete")
            group_status.append(GROUP_MISSING)
        elif zlib.crc32(view[offset:offset + length]) != crc:
            if essential or not allow_damaged:
                raise SieddFormatError(f"damaged .siedd file: {name} checksum mismatch")
            group_status.append(GROUP_DAMAGED)
        elif essential:
            payloads.append(data[offset:offset + length])
        else:
            if len(group_status) == len(payloads) - len(ESSENTIAL):   # all before it kept
                payloads.append(data[offset:offset + length])
            group_status.append(GROUP_OK)

    # Format 2 deflates META and the graphs and stores NORM as float16; format 1 did not.
    packed = major >= 2
    meta_raw = inflate_meta(payloads[0], major)
    meta = _parse_meta(meta_raw, major)
    norm = _parse_norm(payloads[1], meta, packed)
    if major >= 7:     # both graphs in GENC, one stream; GDEC empty
        if payloads[3]:
            raise SieddFormatError("damaged .siedd file: GDEC holds bytes (empty from 7.0 on)")
        graphs = list(unpack_graphs(payloads[2], major))
    else:
        graphs = []
        for kind, payload in ((GENC, payloads[2]), (GDEC, payloads[3])):
            if packed:
                payload = inflate(payload, MAX_GRAPH_BYTES, f"{kind.decode()} graph")
            if len(payload) > MAX_GRAPH_BYTES:
                raise SieddFormatError(f"damaged .siedd file: {kind.decode()} graph too large")
            graphs.append(bytes(payload))
    family = family_of_meta(meta)
    graphs = check_graphs(graphs[0], graphs[1], family.graphs(meta), family.NAME)
    groups = _parse_group_index(payloads[5], meta)
    if len(entries) - len(ESSENTIAL) != len(groups):
        raise SieddFormatError("damaged .siedd file: group index and section table disagree")
    sizes = {k.decode(): len(p) for k, p in zip(ESSENTIAL, payloads)}
    sizes["WGRP"] = sum(e[3] for e in entries[len(ESSENTIAL):])
    return SieddFile(meta=meta, norm=norm, encoder_graph=graphs[0], decoder_graph=graphs[1],
                     encoder_weights=payloads[4], groups=groups,
                     group_weights=payloads[len(ESSENTIAL):], file_bytes=file_size,
                     section_sizes=sizes, version=(major, minor), group_status=group_status,
                     present_bytes=len(data))


def _parse_norm(raw: bytes, meta: dict, packed: bool) -> np.ndarray | None:
    """The per-frame normalisation (SIEDD); families that use none store an empty NORM."""
    frame_count = meta["video"]["frame_count"]
    norm_type = np.dtype("<f2" if packed else "<f4")
    expected = frame_count * 2 * norm_type.itemsize if family_of_meta(meta).USES_NORM else 0
    if len(raw) != expected:
        raise SieddFormatError(f"damaged .siedd file: NORM holds {len(raw)} bytes, "
                               f"expected {expected}")
    if not expected:
        return None
    norm = np.frombuffer(raw, dtype=norm_type).astype(np.float32).reshape(frame_count, 2)
    if not np.all(np.isfinite(norm)) or np.any(norm[:, 1] <= 0):
        raise SieddFormatError("damaged .siedd file: bad per-frame normalisation")
    return norm


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_META_INT_DIGITS:
        raise SieddFormatError(f"damaged .siedd file: META holds an integer of "
                               f"{len(text)} digits")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise SieddFormatError("damaged .siedd file: META holds a number out of range")
    return value


def _no_constant(name: str):
    raise SieddFormatError(f"damaged .siedd file: META holds {name}, which JSON does not allow")


def _depth(value) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_META_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _parse_meta(raw: bytes, major: int) -> dict:
    if len(raw) > MAX_META_BYTES:
        raise SieddFormatError("damaged .siedd file: META section too large")
    try:
        meta = json.loads(raw.decode("utf-8"), parse_int=_bounded_int, parse_float=_finite_float,
                          parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SieddFormatError(f"damaged .siedd file: META is not JSON ({exc})") from None
    except RecursionError:
        raise SieddFormatError("damaged .siedd file: META nests too deeply") from None
    if _depth(meta) > MAX_META_DEPTH:
        raise SieddFormatError(f"damaged .siedd file: META nests deeper than {MAX_META_DEPTH}")
    validate_meta(meta, major)
    return meta


def _parse_group_index(raw: bytes, meta: dict) -> list[tuple[int, int]]:
    src = ByteReader(raw, "GIDX section")
    count = src.u32()
    if count * 8 != src.remaining:
        raise SieddFormatError("damaged .siedd file: group index length mismatch")
    groups = [src.unpack("II") for _ in range(count)]
    group_size = meta["model"]["group_size"]
    expected_first = 0
    for first, frames in groups:
        if first != expected_first or not 1 <= frames <= group_size:
            raise SieddFormatError("damaged .siedd file: group index is inconsistent")
        expected_first += frames
    if expected_first != meta["video"]["frame_count"]:
        raise SieddFormatError("damaged .siedd file: groups do not cover the frames")
    return groups


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise SieddFormatError(f"damaged .siedd file: {message}")


def _int_in(obj: dict, key: str, lo: int, hi: int, where: str) -> None:
    value = obj.get(key)
    _require(isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi,
             f"{where}.{key} missing or out of range")


def _text(obj: dict, key: str, where: str, required: bool) -> None:
    value = obj.get(key)
    _require((value is None and not required)
             or (isinstance(value, str) and (value or not required) and len(value) <= MAX_META_TEXT),
             f"{where}.{key} missing or not a short string" if required else
             f"{where}.{key} is not a short string")


def validate_meta(meta, major: int) -> None:
    """META's schema (FORMAT.md, "META"): the keys a reader uses, their types and ranges. Keys
    it does not know are kept and ignored; the nesting and number bounds of _parse_meta hold."""
    _require(isinstance(meta, dict), "META is not an object")
    for key in ("video", "model"):
        _require(isinstance(meta.get(key), dict), f"META lacks {key!r}")
    for key in ("quant", "encoder"):
        _require(isinstance(meta.get(key, {}), dict), f"META {key!r} is not an object")
    video, model = meta["video"], meta["model"]
    _int_in(video, "width", 1, 1 << 15, "video")
    _int_in(video, "height", 1, 1 << 15, "video")
    _int_in(video, "frame_count", 1, 1 << 24, "video")
    fps = video.get("fps")
    _require(isinstance(fps, list) and len(fps) == 2
             and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1 << 30
                     for v in fps), "video.fps invalid")
    _require(isinstance(video.get("color", {}), dict), "video.color invalid")
    _text(video, "source", "video", required=False)
    _text(model, "family", "model", required=False)
    _text(model, "preset", "model", required=True)
    _int_in(model, "group_size", 1, 1000, "model")
    family = family_of_meta(meta)       # an unknown family is a SieddFormatError
    family.validate_model(model, meta, major, _require, _int_in)
