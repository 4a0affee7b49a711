"""The model families a .siedd file can hold, behind one small interface. META's
`model.family` names the family ("siedd" where absent: files before the grid family).

A family module provides:
    NAME, USES_NORM
    quality_to_lambda(quality)                         the --quality scale
    validate_model(model, meta, major, require, int_in)   META["model"] checks (container)
    graphs(meta) -> [(GENC bytes, GDEC bytes)]          the graphs siedd builds for META's
        model, one pair per graph version the renderer takes; a file's must equal one
    open_renderer(sf, device, threads, feature_cache_bytes)
        -> .device, .render_group(g, width, height, frames: slice | None), .close()
    groups(video, preset) -> [(first frame, frame count)]    the groups an encode trains
    plan(video, preset, target_bytes, choose_width, info) -> (preset, budget_bits or None)
        rate control's plan before training (may choose a width); raises SieddInputError
    train(video, preset, budget_bits, device, seed, progress, state, log, info, job)
        -> (trained model, stats)                               (encoder; imports torch)
        progress: progress.Progress - calibrate, plan the stages, report the steps
        job: distributed.Job or None - this process's share of a torchrun encode; every
        rank returns the whole trained model
    build_file(trained, video, preset, info) -> container.SieddFile
    describe(sf) -> dict with macs_per_pixel, macs_per_pixel_amortized, model_summary
    export_onnx(sf, path, directory) -> [files written]
"""
from __future__ import annotations

import importlib

from .errors import SieddFormatError, SieddInputError, shown

MODULES = {"siedd": ".siedd_family", "grid": ".grid.family"}
DEFAULT = "siedd"


def family(name: str):
    try:
        module = MODULES[name]
    except (KeyError, TypeError):
        raise SieddFormatError(f"unknown model family {shown(name)}; this decoder knows "
                               + ", ".join(sorted(MODULES))) from None
    return importlib.import_module(module, __package__)


def family_of_meta(meta: dict):
    return family(meta.get("model", {}).get("family", DEFAULT))


def family_of_preset(preset):
    try:
        return family(preset.family)
    except SieddFormatError as exc:
        raise SieddInputError(str(exc)) from None
