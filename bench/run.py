"""siedd benchmark suite: rate-distortion against x264/x265, encode and decode speed.

    python bench/run.py                 # the CPU suite (make bench), results in bench/results/
    python bench/run.py --quick         # smoke run of every section, bench/results/quick/
    python bench/run.py --scale gpu     # full scale on CUDA
    python bench/run.py --only rd,decode
    python bench/run.py --report-only   # plots and README table from existing JSON

Every section writes bench/results[/quick|/gpu]/SECTION.json (machine, library versions, settings
and every figure), then plots (PNG) and the README's results table are regenerated from the JSON.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):          # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (RESULTS, WORK, busy_cpus, fetch_clips, load_average, log,  # noqa: E402
                          machine, read_json, versions, write_json)
from bench.config import DEFAULT_SECTIONS, SCALES, SECTIONS  # noqa: E402


def results_dir(scale: str, quick: bool) -> Path:
    if quick:
        return RESULTS / "quick"
    return RESULTS if scale == "cpu" else RESULTS / scale


def needed_clips(cfg: dict, sections) -> set[str]:
    names = set()
    if "rd" in sections:
        names |= {c["clip"] for c in cfg["rd"]["clips"]}
    if "encode" in sections:
        enc = cfg["encode"]
        names |= {enc[k]["clip"] for k in ("presets", "scaling_frames", "scaling_size") if enc.get(k)}
    if "decode" in sections:
        names.add(cfg["decode"]["clip"])
    for name in ("quant", "precision"):
        if name in sections:
            names.add(cfg[name]["clip"])
    for section in ("ablation", "grid_ablation"):
        if section in sections:
            names |= {c["clip"] for c in cfg[section]["clips"]}
    if "families" in sections:
        names |= {c["clip"] for c in cfg["families"]["clips"]}
    return names


def run_quant(cfg: dict, device: str) -> dict:
    """bench/compare_quant.py (our weight coding vs the reference's 6-bit + LZMA)."""
    from bench import compare_quant
    from bench.common import clip_path
    WORK.mkdir(parents=True, exist_ok=True)
    argv = [str(clip_path(cfg["clip"])), "--frames", str(cfg["frames"]), "--preset", cfg["preset"],
            "--out", str(WORK / "compare_quant.siedd")]
    for s in cfg.get("set", []):
        argv += ["--set", s]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        result = compare_quant.main(argv)
    result["clip"] = cfg["clip"]
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny smoke run of every section")
    ap.add_argument("--scale", choices=("cpu", "gpu"), default=None,
                    help="cpu (default without a GPU) or gpu (full scale, CUDA)")
    ap.add_argument("--only", default="", help=f"comma-separated sections of {','.join(SECTIONS)}")
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None,
                    help="override the scale's device")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch and ONNX Runtime threads (default: every usable CPU, or 1 when "
                         "other processes are busy on the CPU at the start - multi-threaded "
                         "torch and ONNX Runtime slow down many times over on a shared CPU)")
    ap.add_argument("--out", type=Path, default=None, help="results folder")
    ap.add_argument("--report-only", action="store_true",
                    help="only regenerate plots and the README table from existing JSON")
    ap.add_argument("--no-readme", action="store_true", help="do not touch README.md")
    args = ap.parse_args(argv)

    import torch
    scale = args.scale or ("gpu" if torch.cuda.is_available() and not args.quick else "cpu")
    cfg = SCALES["quick" if args.quick else scale]
    device = args.device or cfg["device"]
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench: --scale gpu / --device cuda asked for, but torch sees no CUDA")
    out_dir = args.out or results_dir(scale, args.quick)
    label = "quick" if args.quick else scale
    sections = [s.strip() for s in args.only.split(",") if s.strip()] or list(DEFAULT_SECTIONS)
    bad = [s for s in sections if s not in SECTIONS]
    if bad:
        raise SystemExit(f"bench: unknown section(s) {bad}; choose from {', '.join(SECTIONS)}")

    if not args.report_only:
        usable = len(os.sched_getaffinity(0))
        busy = busy_cpus() if device == "cpu" else None
        if args.threads:
            threads, why = args.threads, "--threads"
        elif busy is not None and busy >= 0.5 and usable > 1:
            threads, why = 1, f"other processes used {busy:.2f} CPUs at the start"
            log(f"warning: {why}: running with 1 thread (timings slower and noisier than on an "
                "idle machine; --threads N to insist)")
        else:
            threads, why = usable, "every usable CPU"
        torch.set_num_threads(threads)
        fetch_clips(needed_clips(cfg, sections))
        base = {"scale": label, "device": device, "threads": threads, "threads_reason": why,
                "busy_cpus_at_start": busy, "machine": machine(),
                "versions": versions()}
        log(f"{label} suite on {device}, {threads} threads -> {out_dir}")

        run_info = read_json(out_dir / "run.json") or {}
        run_info.update({**base, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                         "sections": run_info.get("sections", {})})
        t_all = time.perf_counter()
        peak = None
        if "peak" in sections or {"encode", "decode"} & set(sections):
            t0 = time.perf_counter()
            peak = run_section("peak", out_dir, base, cfg, lambda: run_peak(cfg["peak"], device))
            run_info["sections"]["peak"] = {"seconds": round(time.perf_counter() - t0, 1),
                                            "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        peak_data = peak or (read_json(out_dir / "peak.json") or {}).get("result") or {}
        from bench import ablation, families, memory, rd, scale, speed
        jobs = {
            "rd": lambda: rd.run(cfg["rd"], device),
            "encode": lambda: speed.run_encode(cfg["encode"], device, peak_data),
            "decode": lambda: speed.run_decode(cfg["decode"], device, threads, peak_data),
            "quant": lambda: run_quant(cfg["quant"], device),
            "precision": lambda: speed.run_precision(cfg["precision"], device),
            "ablation": lambda: ablation.run(cfg["ablation"], device, out_dir),
            "families": lambda: families.run(cfg["families"], device, out_dir),
            "grid_ablation": lambda: ablation.run(cfg["grid_ablation"], device, out_dir),
            "memory": lambda: memory.run(cfg["memory"], device),
            "scale": lambda: scale.run(cfg["scale"], device),
        }
        for name in SECTIONS:
            if name in sections and name in jobs:
                t0 = time.perf_counter()
                run_section(name, out_dir, base, cfg, jobs[name])
                run_info["sections"][name] = {"seconds": round(time.perf_counter() - t0, 1),
                                              "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        run_info["seconds"] = round(time.perf_counter() - t_all, 1)
        run_info["load_average_end"] = load_average()
        write_json(out_dir / "run.json", run_info)
        log(f"done in {run_info['seconds']:.0f} s")

    from bench import report
    # encode --help's figures come from the committed results only, never a quick run's
    official = Path(out_dir).resolve() == (report.ROOT / "bench" / "results").resolve()
    made = report.build(out_dir, update_readme=not args.no_readme,
                        costs_module=report.COSTS_MODULE if official else None)
    for p in made:
        log(f"wrote {p}")
    return 0


def run_peak(cfg: dict, device: str) -> dict:
    from bench.flops import matmul_peak
    return matmul_peak(device, seconds=cfg["seconds"], sizes=cfg["sizes"], repeats=cfg["repeats"])


def run_section(name: str, out_dir: Path, base: dict, cfg: dict, job):
    log(f"section {name}")
    load0 = load_average()
    t0 = time.perf_counter()
    result = job()
    seconds = time.perf_counter() - t0
    data = {**base, "section": name, "settings": cfg.get(name),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "seconds": round(seconds, 1),
            "load_average_start": load0, "load_average_end": load_average(), "result": result}
    write_json(out_dir / f"{name}.json", data)
    log(f"section {name}: {seconds:.0f} s")
    return result


if __name__ == "__main__":
    sys.exit(main())
