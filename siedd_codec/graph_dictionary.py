"""The preset dictionary GENC is deflated with from format 9.0 on (docs/FORMAT.md, "GENC, GDEC").

A file's two ONNX graphs must be the ones siedd builds for its META (graph_check.py), so they
are nearly always byte for byte the graphs of a handful of models. Packed alone, as 7.0 and 8.0
did (LZMA2), they still took ~815 bytes of every SIEDD file and ~1,540 of every grid file: on a
40-frame clip 5-18% of the file. DEFLATE with a preset dictionary that holds those graphs codes
them as a reference back into it: ~30 bytes (SIEDD) and ~80 (grid). Graphs that differ from the
dictionary's (another siedd's, a new graph version) still decode, just in more bytes.

The dictionary is GENC's plain payload (u32 n, the encoder graph, the decoder graph) of these
pairs, one after another, as siedd 0.9.0 builds them:
  1. grid graph version 2 (no global motion), grid-tiny's levels and synthesis 32,16;
  2. grid graph version 3 (global motion), grid-m's synthesis 32,32;
  3. the SIEDD family's pair (it does not depend on the width);
  4. grid graph version 3, grid-tiny's (and grid-s') levels and synthesis 32,16.
The most used last: DEFLATE reaches back at most 32 KiB. The bytes live in graph_dictionary.bin
(package data); they are part of the format and never change within a major version (the hash
is checked here and pinned by tests/test_container.py); a new dictionary is a new major version.
`build` makes them again from this siedd's graph builders (scripts/make_graph_dictionary.py).
"""
from __future__ import annotations

import functools
import hashlib
import struct
from pathlib import Path

from .errors import SieddError

FILE = Path(__file__).with_name("graph_dictionary.bin")
SHA256 = "33ae994cb32017a663848cd05586f51f107561ea6c11ad7d65f7efa4c675ce7e"
DEFLATE_WINDOW = 1 << 15


def plain_graphs(encoder_graph: bytes, decoder_graph: bytes) -> bytes:
    """GENC's payload before packing: u32 length of the encoder graph, the two graphs."""
    return struct.pack("<I", len(encoder_graph)) + encoder_graph + decoder_graph


@functools.lru_cache(maxsize=1)
def graph_dictionary() -> bytes:
    try:
        data = FILE.read_bytes()
    except OSError as exc:
        raise SieddError(f"siedd is installed without {FILE.name} ({exc}); reinstall it") from None
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise SieddError(f"siedd's {FILE.name} is damaged (its SHA-256 is not the format's); "
                         "reinstall siedd")
    return data


def build() -> bytes:
    """The dictionary's bytes as this siedd's graph builders make them (see the module doc)."""
    from . import siedd_family
    from .grid import family as grid_family, spec
    from .grid.preset import GRID_PRESETS

    def grid(preset: str, version: int) -> tuple[bytes, bytes]:
        p = GRID_PRESETS[preset]
        return grid_family._graphs(tuple(spec.parse_levels(p.levels)),
                                   tuple(p.synthesis_widths()), version)
    pairs = [grid("grid-tiny", 2), grid("grid-m", 3), siedd_family._graphs(96),
             grid("grid-tiny", 3)]
    data = b"".join(plain_graphs(*pair) for pair in pairs)
    if len(data) > DEFLATE_WINDOW:
        raise ValueError(f"graph dictionary of {len(data)} bytes: DEFLATE reaches back "
                         f"{DEFLATE_WINDOW}")
    return data
