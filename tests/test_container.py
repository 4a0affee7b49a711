"""The .siedd container: golden layout, and files that are damaged, cut short or foreign."""
import hashlib
import struct
import zlib

import numpy as np
import pytest

from golden import DATA, synthetic_file
from siedd_codec import container
from siedd_codec.errors import SieddFormatError
from siedd_codec.reader import SieddReader
from siedd_codec.weights import iter_groups

# Pinned by hand from a reviewed run. A change here is a format change: bump the version
# (container.VERSION_*) and docs/FORMAT.md with it. META and the graphs are pinned by their
# unpacked bytes (another zlib or liblzma may pack them differently, and that is fine).
GOLDEN_HEADER_START = "53494544440d0a1a0a00000009000000"      # magic, version 10.0, 9 sections
GOLDEN_SECTIONS = [     # (type, length); None: packed, its length depends on the zlib/liblzma
    ("META", None), ("NORM", 20), ("GENC", None), ("GDEC", 0), ("WENC", 252),
    ("GIDX", 28), ("WGRP", 269), ("WGRP", 209), ("WGRP", 255),
]
GOLDEN_HASHES = {   # sha256[:16] of each section (META inflated; GENC, GDEC: the two graphs
                    # GENC's stream holds)
    "META": "112c41ece13e995b", "NORM": "4bab0303be954cb4", "GENC": "772890c8bba947bc",
    "GDEC": "1b21bc86ae44fedc",
    "WENC": "9f9583799f1aa36e", "GIDX": "022f01cedb8d7f6f",
    "WGRP0": "8f031cd4cfac51e9", "WGRP1": "1da46478eb62fa26", "WGRP2": "a8c42b0bff417402",
}
V1_GOLDEN_SHA256 = "a7b6feac66a052d6311256ca238c51f9c03c36c5aeeed991276a65167dd5d88a"
# the same synthetic files as format 2.0 wrote them (siedd ad28fce)
V2_GOLDEN_SHA256 = "4e216596d4abdc23e04616fcdf4d1a7e47063c4c9f33890eb5abf62b68fd8b0c"
# a real 3.0 grid file: bikes frames 20-39 at 160x68 (a scene cut at 30), grid-tiny, 30 steps
V3_GRID_SHA256 = "2e1b371b9fb4f1089e251245e5e5f2d15f1eaed67063427d49cf0c606c6c881b"
# a real 4.0 grid file: bikes frames 24-35 at 320x136 (a cut at 30), grid-tiny, 200 steps
V4_GRID_SHA256 = "bf57a02d8347382990c680b3e78a89d3c5133965dda7fdf089926d0a084db50f"
# a real 5.0 grid file: the same frames, size and steps, this encoder (models 5 and 6, fewer
# than 6 buckets, synthesis at 7 bits)
V5_GRID_SHA256 = "981cbd7a74dc0a56524780dee16dcb93a9ec61c8a7a6c860206cca114226a81c"
# a real 6.0 grid file with global motion: bigbuckbunny frames 20-31 at 320x180, grid-tiny,
# 200 steps, groups of 6 (the first group still, the second following the camera's pan)
V6_GRID_SHA256 = "60a873b3c244af09975ba8fdd8a70fdbd0fe889941eb357a29f34bb1dddf1d70"
# the same synthetic file as format 7.0 wrote it (siedd cef5aa2: META zlib without dictionary)
V7_GOLDEN_SHA256 = "8d40f879af6f462b7e2d23ce6b23a9d9b639d23882f7851ded8c5ee26e7adb95"
# the same synthetic file as format 8.0 wrote it (siedd 5fdc11d: the graphs one LZMA2 stream)
V8_GOLDEN_SHA256 = "ae4df5a460fe24184befbc13bbdc969a55e2990b5c446cebfe89fb03f8eba917"
# the same synthetic file as format 9.0 wrote it (siedd f7ba404: no group could move)
V9_GOLDEN_SHA256 = "051eafe82431cf16470feaab4c2facf229269e6d3fdc2ece7d3c75e824fefd42"
# META's preset dictionary (format 8.0): a change to it is a new major version
META_DICTIONARY_SHA256 = "36515766678ba7dbdfa162c7b85ca8d7093a45ea0265379e54a6cf4f1aa877ba"
# GENC's preset dictionary (format 9.0): likewise
GRAPH_DICTIONARY_SHA256 = "33ae994cb32017a663848cd05586f51f107561ea6c11ad7d65f7efa4c675ce7e"
V2_GRID_GOLDEN_SHA256 = "94d8bf8af8c6501e35033d759fc570f16e73e3360bf5b8709c54fe78e48f1b61"


@pytest.fixture(scope="module")
def golden_bytes():
    return container.to_bytes(synthetic_file())


def sections(data):
    count = struct.unpack_from("<I", data, 12)[0]
    return [container.TABLE_ENTRY.unpack_from(data, container.HEADER.size + 24 * i)
            for i in range(count)]


def test_golden_layout_is_pinned(golden_bytes):
    data = golden_bytes
    assert data[:16].hex() == GOLDEN_HEADER_START
    secs = sections(data)
    assert [(k.decode(), None if k in (b"META", b"GENC") else length)
            for k, _, _, length in secs] == GOLDEN_SECTIONS
    hashes = {}
    for i, (k, _, off, length) in enumerate(secs):
        payload = data[off:off + length]
        name = k.decode() + (str(i - 6) if i >= 6 else "")
        if name == "META":
            payload = container.inflate_meta(payload, 9)
        if name == "GENC":
            payload, graph = container.unpack_graphs(payload)
            hashes["GDEC"] = hashlib.sha256(graph).hexdigest()[:16]
        if name != "GDEC":
            hashes[name] = hashlib.sha256(payload).hexdigest()[:16]
    assert hashes == GOLDEN_HASHES


@pytest.fixture(params=["10.0", "9.0", "8.0", "7.0", "2.0"])
def golden_any_version(request, golden_bytes):
    if request.param == "10.0":
        return golden_bytes
    if request.param in ("9.0", "8.0", "7.0"):
        major = int(request.param.split(".")[0])
        data = (DATA / f"golden_v{major}.siedd").read_bytes()
        assert hashlib.sha256(data).hexdigest() == {9: V9_GOLDEN_SHA256, 8: V8_GOLDEN_SHA256,
                                                    7: V7_GOLDEN_SHA256}[major]
        sf = container.from_bytes(data)
        assert sf.version == (major, 0) and sf.meta == container.from_bytes(golden_bytes).meta
        return data
    data = (DATA / "golden_v2.siedd").read_bytes()
    assert hashlib.sha256(data).hexdigest() == V2_GOLDEN_SHA256
    assert container.from_bytes(data).version == (2, 0)
    return data


def test_golden_bitstream_decodes_to_pinned_weights(golden_any_version):
    sf = container.from_bytes(golden_any_version)
    sums = {g: {k: round(float(v.astype(np.float64).sum()), 6) for k, v in w.items()}
            for g, w in iter_groups(sf)}
    assert sums[0] == {"dec.w1": -1.3, "dec.b1": 0.1, "dec.w2": -1.18, "dec.b2": 0.4,
                       "dec.w3": 0.4, "dec.b3": -0.08, "heads.w": -0.44, "heads.b": 0.1}
    # group 1 is predicted: its shared layers are group 0's plus its residuals
    assert sums[1] == {"dec.w1": -1.23, "dec.b1": 0.14, "dec.w2": -1.2, "dec.b2": 0.38,
                       "dec.w3": 0.3, "dec.b3": -0.07, "heads.w": -0.02, "heads.b": 0.09}
    assert sums[2]["heads.w"] == 0.09


def test_format_1_files_still_decode():
    """The file format 1.0 wrote for the same synthetic model (tests/data/golden_v1.siedd),
    with the weights format 1.0's own tests pinned."""
    data = (DATA / "golden_v1.siedd").read_bytes()
    assert hashlib.sha256(data).hexdigest() == V1_GOLDEN_SHA256
    sf = container.from_bytes(data)
    assert sf.version == (1, 0) and sf.groups == [(0, 2), (2, 2), (4, 1)]
    w = dict(iter_groups(sf))[2]
    sums = {k: round(float(v.astype(np.float64).sum()), 6) for k, v in w.items()}
    assert sums == {"dec.w1": 0.170757, "dec.b1": 0.066738, "dec.w2": -0.21266,
                    "dec.b2": 0.238169, "dec.w3": 0.081541, "dec.b3": 0.047579,
                    "heads.w": 0.063654, "heads.b": -0.073782}
    with SieddReader(DATA / "golden_v1.siedd", device="cpu") as reader:
        assert len(reader) == 5 and reader[4].shape == (4, 6, 3)


def test_format_2_grid_files_still_decode(tmp_path):
    """Format 2.0's grid file (one Laplace per tensor at most) decodes to the same weights as
    this writer's file of the same codes, and renders the same frames."""
    from golden import synthetic_grid_file
    from siedd_codec.grid import spec
    from siedd_codec.tensor_codec import decompress
    data = (DATA / "golden_grid_v2.siedd").read_bytes()
    assert hashlib.sha256(data).hexdigest() == V2_GRID_GOLDEN_SHA256
    old, new = container.from_bytes(data), synthetic_grid_file()
    assert old.version == (2, 0) and old.groups == new.groups
    levels = [tuple(v) for v in old.meta["model"]["levels"]]
    for g, (_, count) in enumerate(old.groups):
        shapes = spec.group_shapes(levels, old.meta["model"]["synthesis"], 16, 12, count)
        a = decompress(old.group_weights[g], shapes, "old")
        b = decompress(new.group_weights[g], shapes, "new")
        assert all(np.array_equal(a[k], b[k]) for k in shapes)
    (tmp_path / "new.siedd").write_bytes(container.to_bytes(new))
    with SieddReader(DATA / "golden_grid_v2.siedd", device="cpu") as r_old, \
            SieddReader(tmp_path / "new.siedd", device="cpu") as r_new:
        assert np.array_equal(r_old[3], r_new[3])


def _grid_latent_sums(sf) -> list[list[int]]:
    """Per group, the sum of |code| of each latent level of a grid file (decoded through
    tensor_codec, so a monkeypatched decoder sees every tensor)."""
    from siedd_codec import tensor_codec
    from siedd_codec.grid import spec
    levels = [tuple(v) for v in sf.meta["model"]["levels"]]
    sums = []
    for g, (_, count) in enumerate(sf.groups):
        w = tensor_codec.decompress(sf.group_weights[g], spec.group_shapes(
            levels, sf.meta["model"]["synthesis"], sf.width, sf.height, count), "g")
        sums.append([int(np.abs(w[f"lat{i}"]).sum()) for i in range(len(levels))])
    return sums


def _grid_latent_sums_and_headers(sf, monkeypatch) -> tuple[list[list[int]], list[tuple]]:
    """_grid_latent_sums, and the first two bytes (model, then buckets for models 3-6) of every
    coded tensor as the decoder meets them."""
    from siedd_codec import tensor_codec
    headers = []
    read = tensor_codec.read_symbols

    def noting_the_header(src, count, shape=None):
        headers.append(tuple(bytes(src._data[src._pos:src._pos + 2])))
        return read(src, count, shape)
    monkeypatch.setattr(tensor_codec, "read_symbols", noting_the_header)
    return _grid_latent_sums(sf), headers


def _psnr_against_bikes(name: str, start: int, frames: int, size: tuple[int, int],
                        source_clip: str = "bikes.mp4") -> float:
    """RGB PSNR (from the clip's MSE) of tests/data/NAME read by SieddReader against bikes (or
    source_clip)."""
    from siedd_codec.video_io import read_video
    from conftest import clip
    source = read_video(clip(source_clip), start=start, frames=frames, size=size).frames
    with SieddReader(DATA / name, device="cpu") as reader:
        decoded = np.stack(list(reader))
    mse = np.mean((decoded.astype(np.float64) - source) ** 2)
    return 10 * np.log10(255 ** 2 / mse)


def test_format_3_grid_file_with_context_coding_decodes(monkeypatch):
    """A real file of the format before this one: its groups split at the cut, its per-frame
    levels coded with the planes' context (model 3), latents pinned, frames near the source."""
    from siedd_codec import entropy
    data = (DATA / "grid_v3.siedd").read_bytes()
    assert hashlib.sha256(data).hexdigest() == V3_GRID_SHA256
    sf = container.from_bytes(data)
    assert sf.version == (3, 0) and sf.groups == [(0, 10), (10, 10)]
    planes = []
    decode_planes = entropy._decode_planes
    monkeypatch.setattr(entropy, "_decode_planes",
                        lambda src, shape: planes.append(shape) or decode_planes(src, shape))
    sums = _grid_latent_sums(sf)
    assert planes and all(p[0] == 10 for p in planes)
    assert sums == [[134, 897, 388, 103, 62, 27, 8, 92, 576, 555, 209, 64],
                    [109, 1138, 356, 102, 62, 18, 10, 28, 424, 507, 165, 42]]
    assert _psnr_against_bikes("grid_v3.siedd", 20, 20, (160, 68)) > 19.5   # 19.79 encoded


def test_format_4_grid_file_with_rows_and_differences_decodes(monkeypatch):
    """A real file of the format before this one: shared levels coded with the rows' context
    (model 4), per-frame levels as plane differences (model 5), the frame graph of version 2,
    latents pinned, frames near the source."""
    from siedd_codec.entropy import DIFFERENCES, ROWS
    from siedd_codec.grid.family import graph_version
    data = (DATA / "grid_v4.siedd").read_bytes()
    assert hashlib.sha256(data).hexdigest() == V4_GRID_SHA256
    sf = container.from_bytes(data)
    assert sf.version == (4, 0) and sf.groups == [(0, 6), (6, 6)]
    sums, headers = _grid_latent_sums_and_headers(sf, monkeypatch)
    models = {model for model, _ in headers}
    assert ROWS in models and DIFFERENCES in models
    assert sums == [[0, 110, 497, 606, 115, 53, 35, 55, 26, 661, 276, 91],
                    [0, 344, 1200, 719, 103, 52, 25, 297, 539, 379, 189, 78]]
    assert graph_version(sf) == 2
    assert _psnr_against_bikes("grid_v4.siedd", 24, 12, (320, 136)) > 27.3  # 27.58 encoded


def test_format_6_grid_file_with_global_motion_decodes():
    """A real file of this format: a still group and one whose shared levels follow each
    frame's translation (the camera's pan, as estimated: pinned), frames near the source."""
    from siedd_codec import tensor_codec
    from siedd_codec.grid import spec
    data = (DATA / "grid_v6.siedd").read_bytes()
    assert hashlib.sha256(data).hexdigest() == V6_GRID_SHA256
    sf = container.from_bytes(data)
    assert sf.version == (6, 0) and sf.groups == [(0, 6), (6, 6)]
    model = sf.meta["model"]
    motion = [tensor_codec.decompress(sf.group_weights[g], spec.group_shapes(
        [tuple(v) for v in model["levels"]], model["synthesis"], sf.width, sf.height, 6, True),
        "g")["motion"] for g in range(2)]
    assert not motion[0].any()
    assert motion[1].T.tolist() == [[0.390625, 0.203125, 0.03125, 0.0, -0.015625, -0.171875],
                                    [0.53125, 0.40625, 0.28125, 0.0, -0.25, -0.390625]]
    assert _psnr_against_bikes("grid_v6.siedd", 20, 12, (320, 180),
                               "bigbuckbunny.mp4") > 24.7  # 24.93 encoded


def test_format_5_grid_file_with_causal_prediction_decodes(monkeypatch):
    """A real file of the format before this one: shared levels coded by causal prediction (model 6) with
    2 buckets, per-frame levels as differences (model 5) or by prediction, latents pinned,
    frames near the source."""
    from siedd_codec.entropy import CAUSAL, DIFFERENCES
    data = (DATA / "grid_v5.siedd").read_bytes()
    assert hashlib.sha256(data).hexdigest() == V5_GRID_SHA256
    sf = container.from_bytes(data)
    assert sf.version == (5, 0) and sf.groups == [(0, 6), (6, 6)]
    sums, headers = _grid_latent_sums_and_headers(sf, monkeypatch)
    assert (CAUSAL, 2) in headers and (DIFFERENCES, 2) in headers
    assert sums == [[0, 109, 497, 606, 115, 53, 35, 55, 26, 663, 276, 91],
                    [0, 344, 1200, 720, 103, 52, 25, 297, 538, 378, 189, 78]]
    assert _psnr_against_bikes("grid_v5.siedd", 24, 12, (320, 136)) > 27.3  # 27.56 encoded


def test_bytes_written_equal_bytes_declared(golden_bytes, tmp_path):
    size = container.write(tmp_path / "g.siedd", synthetic_file())
    assert size == len(golden_bytes) == (tmp_path / "g.siedd").stat().st_size
    assert struct.unpack_from("<Q", golden_bytes, 16)[0] == size


def test_round_trip(golden_bytes):
    sf = container.from_bytes(golden_bytes)
    assert (sf.width, sf.height, sf.frame_count, sf.fps) == (6, 4, 5, 25)
    assert sf.groups == [(0, 2), (2, 2), (4, 1)] and not sf.truncated
    assert sf.norm.shape == (5, 2)


@pytest.mark.parametrize("index", [0, 1, 2, 4, 5, 6, 7, 8])    # 3: GDEC, empty from 7.0 on
def test_any_damaged_section_is_named(golden_bytes, index):
    kind, _, off, length = sections(golden_bytes)[index]
    data = bytearray(golden_bytes)
    data[off + length // 2] ^= 0x40
    name = kind.decode() if index < 6 else f"group {index - 6}"
    with pytest.raises(SieddFormatError, match=f"damaged .*{name} checksum"):
        container.from_bytes(bytes(data))


def test_meta_dictionary_is_pinned_and_pays():
    """8.0 deflates META against a fixed preset dictionary: its bytes are part of the format,
    and a real META (a grid-tiny encode's, of a clip the dictionary does not name) takes a
    fraction of what it took deflated alone."""
    import json
    import zlib
    from siedd_codec.meta_dictionary import META_DICTIONARY
    assert hashlib.sha256(META_DICTIONARY).hexdigest() == META_DICTIONARY_SHA256
    meta = container.from_bytes((DATA / "grid_v6.siedd").read_bytes()).meta
    plain = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    packed = container.deflate_meta(plain)
    assert container.inflate_meta(packed, 8) == plain
    assert len(packed) < 0.4 * len(zlib.compress(plain, 9))


def test_meta_packed_the_wrong_way_is_refused(golden_bytes):
    """An 8.0 META as zlib data (7.0's packing), cut short or with bytes after its end: one
    clean error each (checksums fixed: the parser is reached). Raw DEFLATE that does not refer
    to the dictionary is still valid 8.0 META."""
    import json
    import zlib
    from fuzzer import assemble, split
    header, entries = split(golden_bytes)
    plain = container.inflate_meta(entries[0][4], 8)
    plain_deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    entries[0][4] = plain_deflate.compress(plain) + plain_deflate.flush()
    assert container.from_bytes(assemble(header, entries)).meta == json.loads(plain)
    packed = container.deflate_meta(plain)
    for payload in [zlib.compress(plain, 9), packed[:-3], packed + b"junk"]:
        entries[0][4] = payload
        with pytest.raises(SieddFormatError, match="META"):
            container.from_bytes(assemble(header, entries))


def test_graph_dictionary_is_pinned_and_makes_siedds_graphs_small():
    """9.0 deflates GENC against the graph dictionary: its bytes are the format's (hash pinned,
    and this siedd's graph builders still make them), and the graphs of both families' presets
    then take 30-140 bytes where 8.0's LZMA2 stream took 800-1,600."""
    from fuzzer import lzma_graphs
    from siedd_codec import graph_dictionary, siedd_family
    from siedd_codec.grid import family as grid_family
    data = graph_dictionary.graph_dictionary()
    assert hashlib.sha256(data).hexdigest() == GRAPH_DICTIONARY_SHA256
    assert graph_dictionary.build() == data
    grid_meta = container.from_bytes((DATA / "grid_v6.siedd").read_bytes()).meta
    for pair in (siedd_family.graphs({"model": {"hidden": 64}})[0],
                 siedd_family.graphs({"model": {"hidden": 512}})[0],
                 grid_family.graphs({"model": {**grid_meta["model"], "levels": [
                     [1, 1], [2, 1], [4, 1], [8, 1], [16, 1], [32, 1], [64, 1],
                     [4, 0], [8, 0], [16, 0], [32, 0], [64, 0]], "synthesis": [32, 16]}})[0]):
        packed = container.pack_graphs(*pair)
        assert container.unpack_graphs(packed) == pair
        old = lzma_graphs(graph_dictionary.plain_graphs(*pair))
        assert len(packed) < 200 and len(old) > 700    # a width other than 96: ~80-140 bytes


def test_a_damaged_graph_dictionary_is_one_clear_error(monkeypatch, tmp_path):
    from siedd_codec import graph_dictionary
    from siedd_codec.errors import SieddError
    bad = tmp_path / "graph_dictionary.bin"
    bad.write_bytes(graph_dictionary.FILE.read_bytes()[:-1] + b"x")
    monkeypatch.setattr(graph_dictionary, "FILE", bad)
    graph_dictionary.graph_dictionary.cache_clear()
    try:
        with pytest.raises(SieddError, match="graph_dictionary.bin is damaged"):
            graph_dictionary.graph_dictionary()
        monkeypatch.setattr(graph_dictionary, "FILE", tmp_path / "absent.bin")
        graph_dictionary.graph_dictionary.cache_clear()
        with pytest.raises(SieddError, match="installed without"):
            graph_dictionary.graph_dictionary()
    finally:
        graph_dictionary.graph_dictionary.cache_clear()


@pytest.mark.parametrize("version", ["10.0", "8.0"])
def test_packed_graphs_refuse_bombs_cuts_and_stray_bytes(golden_bytes, monkeypatch, version):
    """From 7.0 on GENC holds both graphs as one stream (9.0: DEFLATE against the graph
    dictionary; 7.0 and 8.0: LZMA2) and GDEC is empty: bytes in GDEC, a stream cut short or
    with bytes after its end, a length past the graphs' end, no length at all, and a stream
    that unpacks past the limit are each refused with one line (checksums fixed: the parser is
    reached)."""
    from fuzzer import assemble, lzma_graphs, split
    data_in = golden_bytes if version == "10.0" else (DATA / "golden_v8.siedd").read_bytes()
    major = int(version.split(".")[0])
    packed = split(data_in)[1][2][4]
    encoder, decoder = container.unpack_graphs(packed, major)

    def with_sections(genc=None, gdec=None) -> bytes:
        header, entries = split(data_in)
        entries[2][4] = packed if genc is None else genc
        entries[3][4] = b"" if gdec is None else gdec
        return assemble(header, entries)

    pack = container.deflate_graphs if major >= 9 else lzma_graphs

    assert container.from_bytes(with_sections()).decoder_graph == decoder
    cases = [(with_sections(gdec=b"x"), "GDEC holds bytes"),
             (with_sections(genc=packed[:-5]), "incomplete|do not unpack|does not inflate"),
             (with_sections(genc=packed + b"junk"), "trailing bytes"),
             (with_sections(genc=pack(struct.pack("<I", 1 << 20) + encoder + decoder)),
              "length is past their end"),
             (with_sections(genc=pack(b"\x01")), "lack their length")]
    for data, message in cases:
        with pytest.raises(SieddFormatError, match=message):
            container.from_bytes(data)
    monkeypatch.setattr(container, "MAX_GRAPH_BYTES", 1000)      # the two take ~2 KB
    with pytest.raises(SieddFormatError, match="larger than 2004 bytes"):
        container.from_bytes(data_in)


def test_damaged_header_and_table(golden_bytes):
    data = bytearray(golden_bytes)
    data[20] ^= 1
    with pytest.raises(SieddFormatError, match="header checksum"):
        container.from_bytes(bytes(data))
    data = bytearray(golden_bytes)
    data[60] ^= 1
    with pytest.raises(SieddFormatError, match="table checksum"):
        container.from_bytes(bytes(data))


def test_truncated_file_keeps_complete_groups(golden_bytes, tmp_path):
    secs = sections(golden_bytes)
    _, _, off, length = secs[7]                      # cut inside group 1
    sf = container.from_bytes(golden_bytes[:off + length // 2])
    assert sf.truncated and len(sf.group_weights) == 1
    path = tmp_path / "cut.siedd"
    path.write_bytes(golden_bytes[:off + length // 2])
    with SieddReader(path, device="cpu") as reader:
        assert len(reader) == 2 and reader.declared_frame_count == 5 and reader.truncated
        assert reader[1].shape == (4, 6, 3)
        with pytest.raises(IndexError):
            reader[2]


def test_damaged_group_read_as_a_cut_when_allowed(golden_bytes, tmp_path):
    """allow_damaged: the groups before a damaged one are read, as for a cut-short file; its
    frames (and those after it) are a SieddFormatError naming it. By default: refused."""
    _, _, off, length = sections(golden_bytes)[7]               # group 1
    data = bytearray(golden_bytes)
    data[off + length // 2] ^= 0x40
    sf = container.from_bytes(bytes(data), allow_damaged=True)
    assert sf.group_status == ["ok", "damaged", "ok"] and len(sf.group_weights) == 1
    assert "group 1 (frames 2-3) is damaged (checksum mismatch)" in sf.loss()
    path = tmp_path / "damaged.siedd"
    path.write_bytes(bytes(data))
    with pytest.raises(SieddFormatError, match="group 1 checksum mismatch"):
        SieddReader(path, device="cpu")
    with SieddReader(path, device="cpu", allow_damaged=True) as reader:
        assert len(reader) == 2 and reader.declared_frame_count == 5
        assert reader[1].shape == (4, 6, 3)
        for i in (2, 4):
            with pytest.raises(SieddFormatError, match="group 1 .* is damaged"):
                reader[i]
        with pytest.raises(IndexError):
            reader[5]


@pytest.mark.parametrize("cut", [0, 10, 47, 100, 400, 700])   # GIDX ends at 701
def test_truncated_before_essentials(golden_bytes, cut):
    with pytest.raises(SieddFormatError, match="not a .siedd|truncated"):
        container.from_bytes(golden_bytes[:cut])


def test_truncated_before_first_group_refused_by_reader(golden_bytes, tmp_path):
    path = tmp_path / "nogroups.siedd"
    path.write_bytes(golden_bytes[:sections(golden_bytes)[6][2] + 10])
    with pytest.raises(SieddFormatError, match="first complete group"):
        SieddReader(path, device="cpu")


@pytest.mark.parametrize("payload", [
    b"", b"hello world\n" * 10, bytes(range(256)) * 4,
    b"\x00\x00\x00\x18ftypmp42" + bytes(100),
])
def test_foreign_files(payload):
    with pytest.raises(SieddFormatError, match="not a .siedd"):
        container.from_bytes(payload)


def test_newer_version_and_trailing_bytes(golden_bytes):
    import zlib
    data = bytearray(golden_bytes)
    data[8:10] = struct.pack("<H", 11)
    data[44:48] = struct.pack("<I", zlib.crc32(bytes(data[:44])))
    with pytest.raises(SieddFormatError, match="version 11.0 .written by a newer siedd"):
        container.from_bytes(bytes(data))
    with pytest.raises(SieddFormatError, match="past the declared end"):
        container.from_bytes(golden_bytes + b"junk")


def test_hostile_counts_are_refused_before_allocation(golden_bytes):
    import zlib
    data = bytearray(golden_bytes)
    data[12:16] = struct.pack("<I", 0xFFFFFFFF)            # absurd section count
    data[44:48] = struct.pack("<I", zlib.crc32(bytes(data[:44])))
    with pytest.raises(SieddFormatError, match="sections"):
        container.from_bytes(bytes(data))


def _with_graphs(encoder=None, decoder=None) -> bytes:
    """The golden file with its graphs replaced (checksums recomputed: the parser is reached)."""
    sf = synthetic_file()
    sf.encoder_graph = encoder if encoder is not None else sf.encoder_graph
    sf.decoder_graph = decoder if decoder is not None else sf.decoder_graph
    return container.to_bytes(sf)


def test_graphs_other_than_siedds_own_are_refused(golden_bytes):
    """Operators siedd allows can still allocate without bound: a chain of Concats doubles its
    input 30 times, an N x N MatMul over the pixels asks for N^2 floats. A file's graphs must be
    the ones siedd builds for its META, or the file is refused before ONNX Runtime sees them."""
    from onnx import TensorProto, helper
    from siedd_export.graphs import decoder_graph, encoder_graph
    f = TensorProto.FLOAT
    nodes = [helper.make_node("Concat", [f"x{i}", f"x{i}"], [f"x{i + 1}"], axis=0)
             for i in range(30)]
    nodes.append(helper.make_node("Identity", ["x30"], ["features"]))
    concat = helper.make_model(helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x0", f, ["N", 2])],
        [helper.make_tensor_value_info("features", f, None)])).SerializeToString()
    matmul = helper.make_model(helper.make_graph(
        [helper.make_node("Transpose", ["features"], ["t"]),
         helper.make_node("MatMul", ["features", "t"], ["frames"])], "g",
        [helper.make_tensor_value_info("features", f, ["N", 8])],
        [helper.make_tensor_value_info("frames", f, None)])).SerializeToString()
    renamed = decoder_graph(8).replace(b"frame_std", b"frame_stX")
    other_width = encoder_graph(16)
    for encoder, decoder, which in ((concat, None, "GENC"), (None, matmul, "GDEC"),
                                    (None, renamed, "GDEC"), (other_width, None, "GENC")):
        with pytest.raises(SieddFormatError, match=f"the {which} graph is not one siedd builds"):
            container.from_bytes(_with_graphs(encoder, decoder))


def test_graph_bit_flips_are_refused_or_harmless(golden_bytes):
    """Every single-bit flip of the decoder graph (a sample of positions) either is refused, or
    touches only a field that describes (a name, the producer): ONNX Runtime then gets siedd's
    own graph."""
    from siedd_export.graphs import decoder_graph
    graph = decoder_graph(8)
    accepted = 0
    for pos in range(0, len(graph), 7):
        flipped = bytearray(graph)
        flipped[pos] ^= 1 << (pos % 8)
        try:
            sf = container.from_bytes(_with_graphs(decoder=bytes(flipped)))
        except SieddFormatError:
            continue
        accepted += 1
        assert sf.decoder_graph == graph     # what ONNX Runtime gets is siedd's own graph
    assert accepted < len(graph) // 7 // 4


def test_descriptive_graph_fields_do_not_matter():
    """A graph that differs from siedd's only in a doc string or producer is accepted."""
    import onnx
    from siedd_export.graphs import decoder_graph
    model = onnx.load_model_from_string(decoder_graph(8))
    model.doc_string = "exported elsewhere"
    model.producer_name = "another tool"
    model.graph.name = "renamed"
    sf = container.from_bytes(_with_graphs(decoder=model.SerializeToString()))
    assert sf.decoder_graph == decoder_graph(8)


def test_onnx_proto_writes_what_onnx_helper_writes():
    """siedd builds graphs without the onnx package (onnx_proto.py); field for field, the bytes
    are onnx.helper's, so files written with onnx.helper still pass the graph check."""
    import numpy as np_
    from onnx import TensorProto, helper, numpy_helper
    from siedd_codec import onnx_proto as op
    det = dict(deterministic=True)
    assert op.node("Gemm", ["a", "b", "c"], ["d"], transB=1, alpha=30.0, beta=-2.5) == \
        helper.make_node("Gemm", ["a", "b", "c"], ["d"], transB=1, alpha=30.0,
                         beta=-2.5).SerializeToString(**det)
    assert op.node("Transpose", ["x"], ["y"], perm=[0, 2, 1]) == \
        helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 1]).SerializeToString(**det)
    for shape in ([], ["N", 3], [1, "W", "R", 16]):
        for elem, ours in ((TensorProto.FLOAT, op.FLOAT), (TensorProto.UINT8, op.UINT8)):
            assert op.value_info("v", ours, shape) == \
                helper.make_tensor_value_info("v", elem, shape).SerializeToString(**det)
    for array in (np_.array([-1, 7], np_.int64), np_.array(255.0, np_.float32),
                  np_.arange(6, dtype=np_.float32).reshape(2, 3)):
        assert op.tensor("t", array) == \
            numpy_helper.from_array(array, "t").SerializeToString(**det)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])],
                              initializer=[numpy_helper.from_array(np_.zeros(2, np_.float32), "z")])
    model = helper.make_model(graph, producer_name="siedd",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    ours = op.model([op.node("Relu", ["x"], ["y"])], "g", [op.value_info("x", op.FLOAT, ["N"])],
                    [op.value_info("y", op.FLOAT, ["N"])],
                    [op.tensor("z", np_.zeros(2, np_.float32))], 17)
    assert ours == model.SerializeToString(**det)


def test_siedd_graphs_pass_the_onnx_checker():
    import onnx
    from siedd_codec.grid import family
    from siedd_export.graphs import decoder_graph, encoder_graph
    from golden import synthetic_grid_file
    for graph in (encoder_graph(8), decoder_graph(96), *family.graphs(synthetic_grid_file().meta)[0]):
        onnx.checker.check_model(onnx.load_model_from_string(graph))


def test_io_errors_are_format_errors(tmp_path):
    with pytest.raises(SieddFormatError, match="directory"):
        container.read(tmp_path)


def _with_meta_bytes(golden_bytes: bytes, raw: bytes) -> bytes:
    import fuzzer
    header, entries = fuzzer.split(golden_bytes)
    entries[0][4] = container.deflate_meta(raw)
    return fuzzer.assemble(header, entries)


@pytest.mark.parametrize("raw, message", [
    (b"[" * 100000 + b"]" * 100000, "nests"),
    (b'{"video": {"width": ' + b"9" * 5000 + b"}}", "integer of 5000 digits"),
    (b'{"video": {"width": 1e999}}', "number out of range"),
    (b'{"video": NaN}', "NaN"),
    (b"\xff\xfe{}", "not JSON"),
])
def test_hostile_meta_json_is_one_clean_error(golden_bytes, raw, message):
    with pytest.raises(SieddFormatError, match=message):
        container.from_bytes(_with_meta_bytes(golden_bytes, raw))


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["model"].pop("preset"), "model.preset missing"),
    (lambda m: m["model"].update(preset=["tiny"]), "model.preset missing"),
    (lambda m: m.update(quant=[1]), "'quant' is not an object"),
    (lambda m: m.update(encoder="x"), "'encoder' is not an object"),
    (lambda m: m["video"].update(source={"a": 1}), "video.source"),
    (lambda m: m["video"].update(fps=[True, 1]), "video.fps"),
    (lambda m: m.update(extra=[[[[[[[[[[1]]]]]]]]]]), "nests deeper"),
])
def test_meta_schema_is_enforced(golden_bytes, edit, message, capsys, tmp_path):
    """META's types, ranges and required keys are checked at open, so `info`, the reader and
    the C library never meet a key they need missing or of the wrong type."""
    import json
    from siedd_codec import cli
    meta = synthetic_file().meta
    edit(meta)
    data = _with_meta_bytes(golden_bytes, json.dumps(meta).encode())
    with pytest.raises(SieddFormatError, match=message):
        container.from_bytes(data)
    path = tmp_path / "bad.siedd"
    path.write_bytes(data)
    assert cli.main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("siedd: error: ") and err.count("\n") == 1 and message.split()[0] in err


@pytest.mark.parametrize("command", ["info", "decode", "export-onnx"])
def test_graphs_onnx_runtime_could_not_run_are_one_clean_line(command, capsys, tmp_path):
    """Graphs ONNX Runtime loads but cannot run (an input or output renamed, a wrong output
    shape, one flipped bit) used to leave as RuntimeError or ValueError tracebacks; they are
    refused at open now, through every command."""
    from siedd_codec import cli
    from siedd_export.graphs import decoder_graph
    renamed = decoder_graph(8).replace(b"frames", b"frameX")
    for n, graph in enumerate((renamed, decoder_graph(8).replace(b"\x08\x03", b"\x08\x04"))):
        path = tmp_path / f"bad{n}.siedd"
        path.write_bytes(_with_graphs(decoder=graph))
        extra = {"info": [], "decode": ["-o", str(tmp_path / "x.y4m")],
                 "export-onnx": [str(tmp_path / "onnx")]}[command]
        assert cli.main([command, str(path), *extra]) == 1
        err = capsys.readouterr().err
        assert err.startswith("siedd: error: ") and err.count("\n") == 1, err
        assert "GDEC graph is not one siedd builds" in err
