"""The fault campaign: damaged .siedd files against the reader, the CLI and FFmpeg.

Mutants come from real files (tests/golden.py's SIEDD and grid files, tests/data's format-1 files)
by deterministic edits of every header, section-table, META, NORM, group-index and tensor field
with the checksums recomputed (so the parser behind them is reached), truncation at and around
every section boundary, crafted graphs, and random byte mutations with and without checksums
fixed. Case i of a campaign is always the same mutant (seeded by i).

Every case runs in a worker process with a memory limit, and the parent kills a worker that does
not answer in time. A case ends as one of
    decoded   every frame rendered
    clean     a SieddError with a one-line message
    unclean   any other exception, or a SieddError message over one line
    crash     the worker died
    hang      no answer within the time limit
    memory    an allocation past the memory limit
and only the first two are allowed. A sample of the mutants also goes through `siedd info`,
`siedd decode`, both FFmpeg filter forms and the .siedd format (`ffmpeg -i case.siedd`) in
subprocesses with the same limits; there a non-zero exit without a traceback is clean, and
exit 0 on a file the reader could not fully decode is a failure, as is any exit status above
127.

    python tests/fuzzer.py --cases 100000 --tools 400 --json bench/results/fuzz.json   (make fuzz)
"""
from __future__ import annotations

import argparse
import json
import lzma
import os
import queue
import random
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

ALLOWED = ("decoded", "clean")
MEMORY_LIMIT = 4 << 30            # address space of a worker or tool run
CASE_TIMEOUT = 60.0               # seconds for one in-process case
TOOL_TIMEOUT = 120.0              # seconds for one CLI or FFmpeg run
DECODE_SIZES = ((24, 16), None)   # a small size, then native when native is small
NATIVE_LIMIT = 640 * 480


# ---------------------------------------------------------------------------------------------
# the files and their sections

def seed_files() -> dict[str, bytes]:
    from golden import DATA, synthetic_file, synthetic_grid_file
    from siedd_codec import container
    return {"siedd_v2": container.to_bytes(synthetic_file()),
            "grid": container.to_bytes(synthetic_grid_file()),
            "grid_v3": (DATA / "grid_v3.siedd").read_bytes(),     # real, with model 3
            "grid_v4": (DATA / "grid_v4.siedd").read_bytes(),     # real, with models 4 and 5
            "grid_v5": (DATA / "grid_v5.siedd").read_bytes(),     # real, with model 6
            "grid_v6": (DATA / "grid_v6.siedd").read_bytes(),     # real, global motion
            "siedd_v1": (DATA / "golden_v1.siedd").read_bytes(),
            "carphone_v1": (DATA / "carphone_v1.siedd").read_bytes()}


def split(data: bytes) -> tuple[list, list[list]]:
    """-> (header fields, [[kind, crc, offset, length, payload], ...]) of a well-formed file."""
    from siedd_codec.container import HEADER, TABLE_ENTRY
    header = list(HEADER.unpack_from(data))
    count = header[3]
    entries = []
    for i in range(count):
        kind, crc, offset, length = TABLE_ENTRY.unpack_from(data, HEADER.size + i * TABLE_ENTRY.size)
        entries.append([kind, crc, offset, length, data[offset:offset + length]])
    return header, entries


def assemble(header: list, entries: list[list], fix: str = "all") -> bytes:
    """The file of these fields. fix: "all" recomputes offsets, lengths, the count, file size
    and every checksum from the payloads; "crc" only the checksums (edited offsets, lengths and
    counts stay as edited)."""
    from siedd_codec.container import HEADER, TABLE_ENTRY
    header = list(header)
    entries = [list(e) for e in entries]
    if fix == "all":
        header[3] = len(entries)
        offset = HEADER.size + len(entries) * TABLE_ENTRY.size + 4
        for e in entries:
            e[2], e[3] = offset, len(e[4])
            offset += len(e[4])
        header[4] = offset
    for e in entries:
        e[1] = zlib.crc32(e[4])
    return _join(header, entries)


def _join(header: list, entries: list[list]) -> bytes:
    """Header and table checksums recomputed; the sections' as the entries say."""
    from siedd_codec.container import HEADER, TABLE_ENTRY
    table = b"".join(TABLE_ENTRY.pack(*(e[:4])) for e in entries)
    head = HEADER.pack(*header)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    return head + table + struct.pack("<I", zlib.crc32(table)) + b"".join(e[4] for e in entries)


# ---------------------------------------------------------------------------------------------
# mutations: each takes (rng, data) and returns the mutant's bytes and a short description

INTS = [0, 1, 2, 3, 7, 8, 255, 256, 65535, 65536, (1 << 31) - 1, 1 << 31, (1 << 32) - 1]
JSON_VALUES = [None, True, -1, 0, 1, 3, 1 << 31, 1 << 63, -(1 << 63), 1e308, -0.0, 0.5, "",
               "x" * 5000, "\u0000", [], {}, [1, 2], [0, 0], [1, 1 << 30], [1 << 30, 1],
               {"a": 1}, [[[[[[[[[[[]]]]]]]]]]]]
RAW_META = [b"{" * 100000, b"[" * 100000 + b"]" * 100000, b'{"video": ' + b"9" * 5000 + b"}",
            b"NaN", b'{"video": Infinity}', b"\xff\xfe", b"", b"null", b"[]", b'{"a":1',
            b'{"video": {"width": 1e999}}', b'"' + b"a" * 100 + b'"']


def mutate_header(rng, data):
    header, entries = split(data)
    field = rng.randrange(len(header) - 1)          # every field but the checksum
    if field == 0:
        header[0] = bytes(rng.randrange(256) for _ in range(8))
    elif field == 6:
        header[6] = bytes(rng.randrange(256) for _ in range(16))
    else:
        limit = (1 << 16) - 1 if field in (1, 2) else (1 << 64) - 1 if field == 4 else (1 << 32) - 1
        value = rng.choice(INTS + [header[field] + d for d in (-1, 1)])
        header[field] = max(0, min(limit, value))
    return assemble(header, entries, fix="crc"), f"header field {field}"


def mutate_table(rng, data):
    header, entries = split(data)
    e = rng.randrange(len(entries))
    field = rng.randrange(4)
    if field == 0:
        entries[e][0] = rng.choice([b"META", b"NORM", b"GENC", b"GDEC", b"WENC", b"GIDX",
                                    b"WGRP", b"XXXX", b"\0\0\0\0"])
        fix = "all"
    elif field == 1:
        fix = "none_crc"
        entries[e][1] = rng.randrange(1 << 32)
    else:
        fix = "crc"
        delta = rng.choice([-1, 1, -8, 8, 1 << 20, -(1 << 20)])
        entries[e][field + 0] = max(0, min((1 << 64) - 1, entries[e][field] + delta))
    if fix == "none_crc":     # the edited section checksum stays; header and table ones fixed
        return _join(header, entries), f"table entry {e} crc"
    return assemble(header, entries, fix=fix), f"table entry {e} field {field}"


def _meta_paths(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield path + (k,)
            yield from _meta_paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield path + (i,)
            yield from _meta_paths(v, path + (i,))


def _packed(header) -> bool:
    return header[1] >= 2


def mutate_meta(rng, data):
    header, entries = split(data)
    raw = _plain(header, b"META", entries[0][4])
    if rng.random() < 0.15:
        new = rng.choice(RAW_META)
        what = "META raw"
    else:
        meta = json.loads(raw)
        paths = list(_meta_paths(meta))
        path = rng.choice(paths)
        parent = meta
        for key in path[:-1]:
            parent = parent[key]
        action = rng.random()
        if action < 0.2 and isinstance(parent, dict):
            del parent[path[-1]]
            what = f"META del {'.'.join(map(str, path))}"
        else:
            old = parent[path[-1]]
            if isinstance(old, int) and not isinstance(old, bool) and rng.random() < 0.5:
                parent[path[-1]] = old + rng.choice([-1, 1, old, -old, 1 << 20])
            else:
                parent[path[-1]] = rng.choice(JSON_VALUES)
            what = f"META set {'.'.join(map(str, path))}"
        new = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    entries[0][4] = _repack(header, b"META", new)
    return assemble(header, entries), what


def _packing(header, kind: bytes) -> str | None:
    """How a section's format packs it: "graphs" for 9.0's GENC (raw DEFLATE with the graph
    dictionary of a length and both graphs; GDEC is then empty), "lzma" for 7.0's and 8.0's
    (one LZMA2 stream of the same), "dictionary" for META from 8.0 on (raw DEFLATE with the
    META dictionary), "zlib" for META and the graphs from format 2 on, None for the rest."""
    if header[1] >= 8 and kind == b"META":
        return "dictionary"
    if header[1] >= 7 and kind in (b"GENC", b"GDEC"):
        if kind == b"GDEC":
            return None
        return "graphs" if header[1] >= 9 else "lzma"
    return "zlib" if _packed(header) and kind in (b"META", b"GENC", b"GDEC") else None


def _plain(header, kind: bytes, payload: bytes) -> bytes:
    """A section's bytes unpacked as its format packs them (_packing)."""
    from siedd_codec.container import GRAPHS_LZMA_FILTERS
    from siedd_codec.graph_dictionary import graph_dictionary
    packing = _packing(header, kind)
    if packing == "dictionary":
        from siedd_codec.container import inflate_meta
        return inflate_meta(payload, header[1])
    if packing == "graphs":
        return zlib.decompressobj(-15, zdict=graph_dictionary()).decompress(payload)
    if packing == "lzma":
        return lzma.decompress(payload, format=lzma.FORMAT_RAW, filters=GRAPHS_LZMA_FILTERS)
    return zlib.decompress(payload) if packing == "zlib" else payload


def _repack(header, kind: bytes, plain: bytes) -> bytes:
    packing = _packing(header, kind)
    if packing == "dictionary":
        from siedd_codec.container import deflate_meta
        return deflate_meta(plain)
    if packing == "graphs":
        from siedd_codec.container import deflate_graphs
        return deflate_graphs(plain)
    if packing == "lzma":
        return lzma_graphs(plain)
    return zlib.compress(plain, 9) if packing == "zlib" else plain


def lzma_graphs(plain: bytes) -> bytes:
    """GENC's payload as 7.0 and 8.0 packed it (one raw LZMA2 stream; siedd writes it no more)."""
    from siedd_codec.container import GRAPHS_LZMA_DICT_BYTES
    return lzma.compress(plain, format=lzma.FORMAT_RAW, filters=[
        {"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": GRAPHS_LZMA_DICT_BYTES}])


def mutate_payload(rng, data, section=None):
    """Byte edits inside one section (unpacked first where its format packs it: _plain),
    checksums recomputed."""
    header, entries = split(data)
    index = section if section is not None else rng.randrange(1, len(entries))
    e = entries[index]
    payload = bytearray(_plain(header, e[0], e[4]))
    kind = rng.random()
    if not payload or kind < 0.1:
        payload = bytearray(rng.randrange(256) for _ in range(rng.choice([0, 1, 4, 17, 300])))
        what = "replaced"
    elif kind < 0.55:
        for _ in range(rng.choice([1, 1, 2, 4, 16])):
            pos = rng.randrange(len(payload))
            payload[pos] ^= 1 << rng.randrange(8)
        what = "bit flips"
    elif kind < 0.75:
        pos = rng.randrange(len(payload))
        payload[pos] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        what = "byte set"
    elif kind < 0.85:
        pos = rng.randrange(len(payload) + 1)
        payload = payload[:pos]
        what = "cut"
    elif kind < 0.92:
        pos = rng.randrange(len(payload) + 1)
        payload[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 64])))
        what = "inserted"
    else:   # a 4-byte field anywhere set to an extreme (steps, counts, lengths)
        pos = rng.randrange(max(1, len(payload) - 3))
        payload[pos:pos + 4] = rng.choice([b"\0\0\x80\x7f", b"\0\0\xc0\x7f", b"\xff\xff\xff\xff",
                                           b"\0\0\0\0", b"\0\0\x80\xff", b"\x01\0\0\0"])
        what = "field set"
    e[4] = _repack(header, e[0], bytes(payload))
    return assemble(header, entries), f"{e[0].decode('ascii', 'replace')} #{index} {what}"


def mutate_graph(rng, data):
    header, entries = split(data)
    index = rng.choice([2, 3])
    if rng.random() < 0.5:
        return mutate_payload(rng, data, section=index)
    from onnx import TensorProto, helper
    f = TensorProto.FLOAT
    depth = rng.choice([3, 30])
    nodes = [helper.make_node("Concat", [f"x{i}", f"x{i}"], [f"x{i + 1}"], axis=0)
             for i in range(depth)]
    nodes.append(helper.make_node("Identity", [f"x{depth}"], ["out"]))
    crafted = helper.make_model(helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x0", f, ["N", 2])],
        [helper.make_tensor_value_info("out", f, None)])).SerializeToString()
    if header[1] >= 7:          # both graphs in GENC: the crafted one replaces either
        from siedd_codec.container import unpack_graphs
        from siedd_codec.graph_dictionary import plain_graphs
        graphs = list(unpack_graphs(entries[2][4], header[1]))
        graphs[index - 2] = crafted
        entries[2][4] = _repack(header, b"GENC", plain_graphs(*graphs))
    else:
        entries[index][4] = _repack(header, entries[index][0], crafted)
    return assemble(header, entries), "crafted graph"


def truncate(rng, data):
    header, entries = split(data)
    bounds = [e[2] for e in entries] + [len(data)]
    cut = rng.choice(bounds) + rng.choice([-1, 0, 0, 1])
    cut = max(0, min(len(data) - 1, cut))
    return data[:cut], f"cut at {cut}"


def random_bytes(rng, data):
    out = bytearray(data)
    for _ in range(rng.choice([1, 2, 8])):
        out[rng.randrange(len(out))] = rng.randrange(256)
    if rng.random() < 0.5:
        try:
            header, entries = split(bytes(out))
            return assemble(header, entries, fix="crc"), "random bytes, checksums fixed"
        except Exception:   # the edit broke the table itself: keep it as it is
            pass
    return bytes(out), "random bytes"


MUTATORS = [(mutate_header, 1), (mutate_table, 1), (mutate_meta, 3), (mutate_payload, 6),
            (mutate_graph, 1), (truncate, 1), (random_bytes, 1)]


def mutant(case: int, seeds: dict[str, bytes]) -> tuple[str, bytes, str]:
    """-> (seed file name, mutant bytes, description) of case number `case`."""
    rng = random.Random(case * 1_000_003 + 17)
    name = sorted(seeds)[case % len(seeds)]
    fns = [fn for fn, weight in MUTATORS for _ in range(weight)]
    fn = fns[rng.randrange(len(fns))]
    data, what = fn(rng, seeds[name])
    return name, data, f"{fn.__name__}: {what}"


# ---------------------------------------------------------------------------------------------
# one case, in process

def decode_all(path: str) -> str:
    """Open and decode every frame at a small size (and at native size when that is small);
    -> "decoded". Raises whatever the reader raises."""
    from siedd_codec.reader import SieddReader
    for size in DECODE_SIZES:
        with SieddReader(path, size=size, device="cpu", threads=1) as reader:
            if size is None and reader.width * reader.height > NATIVE_LIMIT:
                continue
            for frame in reader:
                assert frame.shape == (reader.height, reader.width, 3)
            reader.frame_at(reader.duration / 2)
    return "decoded"


def classify_exception(exc: BaseException) -> tuple[str, str]:
    from siedd_codec.errors import SieddError
    text = str(exc)
    if isinstance(exc, MemoryError) or "alloc" in text.lower() and not isinstance(exc, SieddError):
        return "memory", f"{type(exc).__name__}: {text[:200]}"
    if isinstance(exc, SieddError) and text and "\n" not in text and len(text) <= 400:
        return "clean", text
    return "unclean", f"{type(exc).__name__}: {text[:300]}"


def run_case(path: str) -> tuple[str, str]:
    try:
        return decode_all(path), ""
    except Exception as exc:   # noqa: BLE001 - the point is to classify everything
        return classify_exception(exc)


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def worker_main() -> None:
    """Reads case numbers on stdin, answers one JSON line each."""
    limit_memory()
    seeds = seed_files()
    scratch = Path(tempfile.mkdtemp(prefix="siedd-fuzz-"))
    path = str(scratch / "case.siedd")
    for line in sys.stdin:
        case = int(line)
        name, data, what = mutant(case, seeds)
        Path(path).write_bytes(data)
        status, detail = run_case(path)
        sys.stdout.write(json.dumps({"case": case, "status": status, "detail": detail,
                                     "seed": name, "what": what}) + "\n")
        sys.stdout.flush()


class Worker:
    """A worker process; a dead or stuck one is replaced."""

    def __init__(self):
        self.proc = None
        self.lines: queue.Queue = queue.Queue()
        self.start()

    def start(self) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=env, cwd=str(ROOT))
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc, self.lines), daemon=True).start()

    @staticmethod
    def _read(proc, lines) -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def run(self, case: int, timeout: float) -> dict:
        self.proc.stdin.write(f"{case}\n")
        self.proc.stdin.flush()
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            self.proc.wait()
            self.start()
            return {"case": case, "status": "hang", "detail": f"no answer in {timeout:.0f} s"}
        if line is None:
            code = self.proc.wait()
            self.start()
            status = "memory" if code == -9 else "crash"
            return {"case": case, "status": status, "detail": f"worker exit status {code}"}
        return json.loads(line)

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


# ---------------------------------------------------------------------------------------------
# the CLI and FFmpeg on a mutant

def tool_commands(path: str, out_dir: str) -> dict[str, list[str]]:
    bin_dir = ROOT / ".venv" / "bin"
    siedd = [str(bin_dir / "siedd")] if (bin_dir / "siedd").exists() else \
        [sys.executable, "-m", "siedd_codec"]
    ffmpeg = str(bin_dir / "ffmpeg")
    commands = {
        "info": siedd + ["info", path],
        "decode": siedd + ["decode", path, "--size", "24x16", "--quiet", "-o",
                           os.path.join(out_dir, "out.y4m")],
    }
    if Path(ffmpeg).exists():
        common = [ffmpeg, "-nostdin", "-v", "error", "-y"]
        commands["ffmpeg_source"] = common + ["-f", "lavfi", "-i", f"siedd={path}:s=24x16",
                                              "-f", "null", "-"]
        commands["ffmpeg_filter"] = common + ["-f", "lavfi", "-i",
                                              "color=black:size=16x16:rate=25:duration=0.4",
                                              "-vf", f"siedd={path}:s=24x16", "-f", "null", "-"]
        commands["ffmpeg_native"] = common + ["-siedd_size", "24x16", "-i", path,
                                              "-f", "null", "-"]
    return commands


def run_tool(cmd: list[str]) -> tuple[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT, env=env,
                              preexec_fn=limit_memory, errors="replace")
    except subprocess.TimeoutExpired:
        return "hang", f"no exit in {TOOL_TIMEOUT:.0f} s"
    err = proc.stderr.strip()
    if proc.returncode < 0 or proc.returncode > 127:
        return "crash", f"exit status {proc.returncode}: {err[-200:]}"
    if "Traceback" in err:
        return "unclean", err[-300:]
    if proc.returncode == 0:
        return "decoded", ""
    if "alloc" in err.lower() and "siedd" not in err.lower():
        return "memory", err[-200:]
    return "clean", err.splitlines()[-1][:200] if err else f"exit {proc.returncode}, silent"


def run_tools(case: int, seeds: dict[str, bytes], reader_status: str) -> list[dict]:
    _, data, what = mutant(case, seeds)
    out = []
    with tempfile.TemporaryDirectory(prefix="siedd-fuzz-tool-") as tmp:
        path = os.path.join(tmp, "case.siedd")
        Path(path).write_bytes(data)
        for tool, cmd in tool_commands(path, tmp).items():
            status, detail = run_tool(cmd)
            # exit 0 is right only where the reader decodes the whole file (info reports a
            # file without decoding it)
            if status == "decoded" and reader_status != "decoded" and tool != "info":
                status, detail = "unclean", f"exit 0 on a file the reader cannot decode " \
                                            f"({reader_status})"
            out.append({"case": case, "tool": tool, "status": status, "detail": detail,
                        "what": what})
    return out


# ---------------------------------------------------------------------------------------------

def campaign(cases: range, tools_every: int, progress: bool = False) -> dict:
    seeds = seed_files()
    worker = Worker()
    counts, tool_counts = Counter(), Counter()
    failures, by_mutator = [], Counter()
    started = time.time()
    try:
        for n, case in enumerate(cases):
            result = worker.run(case, CASE_TIMEOUT)
            counts[result["status"]] += 1
            by_mutator[(result.get("what", "?").split(":")[0], result["status"])] += 1
            if result["status"] not in ALLOWED:
                failures.append(result)
            if tools_every and n % tools_every == 0:
                for tool in run_tools(case, seeds, result["status"]):
                    tool_counts[(tool["tool"], tool["status"])] += 1
                    if tool["status"] not in ALLOWED:
                        failures.append(tool)
            if progress and n % 1000 == 0:
                print(f"{n} cases, {time.time() - started:.0f} s: {dict(counts)}", flush=True)
    finally:
        worker.close()
    return {
        "cases": len(cases), "first_case": cases.start, "seconds": round(time.time() - started, 1),
        "reader": dict(counts),
        "tools": {f"{tool} {status}": n for (tool, status), n in sorted(tool_counts.items())},
        "by_mutator": {f"{m} {s}": n for (m, s), n in sorted(by_mutator.items())},
        "failures": failures[:200], "failure_count": len(failures),
        "seed_files": sorted(seeds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--tools", type=int, default=50, help="mutants also run through the CLI "
                        "and FFmpeg (spread evenly)")
    parser.add_argument("--json", help="write the counts here (with the machine described)")
    args = parser.parse_args()
    if args.worker:
        worker_main()
        return 0
    every = max(1, args.cases // args.tools) if args.tools else 0
    result = campaign(range(args.first, args.first + args.cases), every, progress=True)
    print(json.dumps({k: v for k, v in result.items() if k != "failures"}, indent=1))
    for failure in result["failures"][:20]:
        print("FAIL", json.dumps(failure))
    if args.json:
        sys.path.insert(0, str(ROOT))
        from bench.common import machine, versions
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=str(ROOT)).stdout.strip()
        result.update(machine=machine(), versions=versions(), commit=commit,
                      date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      command=f"python tests/fuzzer.py --cases {args.cases} --first "
                              f"{args.first} --tools {args.tools}")
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if not result["failure_count"] else 1


if __name__ == "__main__":
    sys.exit(main())
