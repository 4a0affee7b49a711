"""The encode pipeline, one way: input video -> training -> ONNX graphs + quantised,
entropy-coded weights -> one .siedd file -> (decoded back) summary."""
from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

from . import __version__, container
from .errors import SieddInputError
from .families import family_of_preset
from .fsutil import require_folder, require_writable, same_file
from .metrics import bpp, clip_quality
from .progress import Progress, Stage
from .resume import ResumeState
from .video_io import read_video


def encode(input_path: str, output: str, preset: Preset, start: int = 0,
           frames: int | None = None, size: tuple[int, int] | None = None,
           device: str = "auto", seed: int = 0, resume: bool = False, restart: bool = False,
           quiet: bool = False, measure: bool = True, target_bpp: float | None = None,
           target_bytes: int | None = None, choose_width: bool = False) -> dict:
    """Encode a video. Rate control: target_bpp or target_bytes sets the file's size (and,
    with choose_width, lets rate control pick the width); otherwise the preset's rate_lambda
    (the --quality knob) sets the trade. Finished work is saved in OUTPUT.partial/ as training
    goes; resume continues from it, restart discards it, and with neither, saved work there is
    an error (resume.ResumeState).

    Under torchrun (distributed.py) every process calls this; rank 0 writes the file and
    returns the summary, the others return None."""
    from .distributed import Job
    job = Job.from_env()
    if job is None:
        return _encode(input_path, output, preset, start, frames, size, device, seed, resume,
                       restart, quiet, measure, target_bpp, target_bytes, choose_width, None)
    if target_bpp is not None or target_bytes is not None:
        raise SieddInputError("rate control (--bpp, --bytes) trains the groups one after "
                              "another, each on what the others spent: it takes one process; "
                              "with torchrun use --quality")
    device = job.device(device)
    job.start(device)
    try:
        return _encode(input_path, output, preset, start, frames, size, device, seed, resume,
                       restart, quiet or not job.leader, measure, None, None, choose_width, job)
    finally:
        job.close()


def keep_freed_memory() -> None:
    """Training allocates and frees tensors of a few MB many times a step (a latent-grid
    group's rate term passes over every latent). glibc hands blocks that size back to the
    kernel and then takes them again page fault by page fault: measured, about a quarter of a
    grid-tiny training step at 640x360 on a 2-core CPU. This keeps freed blocks in the heap
    for reuse (mmap only above 32 MiB, no trimming), for the rest of the process. Other C
    libraries: nothing changes."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3           # glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)                   # glibc's largest allowed value
    mallopt(m_trim_threshold, 2 ** 31 - 1)


def _encode(input_path, output, preset, start, frames, size, device, seed, resume, restart,
            quiet, measure, target_bpp, target_bytes, choose_width, job) -> dict | None:
    family = family_of_preset(preset)
    leader = job is None or job.leader
    if resume and restart:
        raise SieddInputError("resume and restart exclude each other")

    # on stderr: an estimate before training, one ETA over the stages, then the measurement
    progress = Progress(enabled=not quiet)
    log = progress.message

    out = Path(output)
    if same_file(input_path, out) or Path(input_path).resolve() == out.resolve():
        raise SieddInputError(f"{output}: refusing to overwrite the input")
    if out.is_dir():
        raise SieddInputError(f"{output}: is a folder")
    require_folder(out)
    require_writable(out)           # found now, not after the training it would waste
    t0 = time.perf_counter()
    video = read_video(input_path, start=start, frames=frames, size=size)
    t_read = time.perf_counter() - t0
    if target_bpp is not None:
        target_bytes = round(target_bpp * len(video) * video.width * video.height / 8)
    info = {"software": f"siedd {__version__}", "preset": preset.as_dict(), "seed": seed,
            "device": "cuda", "precision": "fp32", "start_frame": start}
    if target_bytes is not None:
        info["target_bytes"] = target_bytes
        info["final_lambda"] = 1.0
    preset, budget_bits = family.plan(video, preset, target_bytes, choose_width, info)
    log(f"siedd: {video.source}: {len(video)} frames, {video.width}x{video.height} "
        f"@ {float(video.fps):.3f} fps, preset {preset.name} ({preset.summary()})"
        + (f", target {target_bytes} bytes" if target_bytes else ""))
    stat = os.stat(input_path)
    fingerprint = {"input": str(Path(input_path).resolve()), "mtime": stat.st_mtime_ns,
                   "size_bytes": stat.st_size, "start": start, "frames": len(video),
                   "shape": [video.width, video.height], "preset": preset.as_dict(), "seed": seed,
                   "target_bytes": target_bytes}
    partial = out.with_name(out.name + ".partial")
    groups = len(family.groups(video, preset))
    if leader:          # rank 0 checks, keeps or clears the saved work; the others then join it
        state = ResumeState(partial, fingerprint, resume=resume, restart=restart, groups=groups)
    if job is not None:
        job.barrier()
        if not leader:
            state = ResumeState.attach(partial, fingerprint, groups=groups)
    if resume and not state.resuming:
        log(f"siedd: no saved work in {state.folder}; starting from the beginning")
    keep_freed_memory()
    model, stats = family.train(video, preset, budget_bits, device, seed, progress, state, log,
                                info, job)
    if not leader:
        return None
    t_train = time.perf_counter() - t0 - t_read
    sf = family.build_file(model, video, preset, info)
    file_bytes = container.write(out, sf)
    state.clear()
    seconds = time.perf_counter() - t0
    summary = {"input": str(input_path), "output": str(output), "frames": len(video),
               "width": video.width, "height": video.height,
               "fps": float(video.fps), "preset": preset.name, "bytes": file_bytes,
               "bpp": bpp(file_bytes, len(video), video.width, video.height),
               "seconds": round(seconds, 3), "train_seconds": round(t_train, 3),
               "phase1_seconds": round(stats["phase1_seconds"], 3),
               "phase2_seconds": round(stats["phase2_seconds"], 3),
               "device": stats["device"], "precision": stats["precision"],
               "groups": stats["groups"], "family": family.NAME,
               **({"hidden": preset.hidden} if hasattr(preset, "hidden") else {}),
               "rate_lambda": float(f"{stats['final_lambda']:.4g}"),
               "groups_restored": stats["groups_restored"]}
    if target_bytes is not None:
        summary["target_bytes"] = target_bytes
    if measure:
        # measured on the written file, then stored in its META for `info`: the rewrite changes
        # only META (a few bytes), and bytes and bpp are the final file's
        from .reader import SieddReader
        t2 = time.perf_counter()
        progress.add(Stage("measuring quality", len(video), None, unit="frame"))
        progress.start("measuring quality")

        def decoded(reader):
            for frame in reader:
                yield frame
                progress.advance(1)
        with SieddReader(out) as reader:
            quality = clip_quality(decoded(reader), video)   # streamed: a frame of each at a time
        sf.meta["encoder"]["quality"] = {k: round(v, 4) if isinstance(v, float) else v
                                         for k, v in quality.items()}
        file_bytes = container.write(out, sf)
        summary.update(psnr=quality["psnr"], psnr_mean_frames=quality["psnr_mean_frames"],
                       ssim=quality["ssim"], bytes=file_bytes,
                       bpp=bpp(file_bytes, len(video), video.width, video.height),
                       measure_seconds=round(time.perf_counter() - t2, 3))
    progress.finish()
    return summary
