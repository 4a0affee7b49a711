"""The suite's settings per scale.

quick - a smoke run of every section at toy sizes (a few minutes on 2 CPU cores).
cpu   - the CPU suite (`make bench`): budgeted to finish within ~45 minutes on a 2-core CPU.
        siedd runs at CPU-sized operating points (small widths, a few hundred steps, fixed
        4,096 samples per step); the real presets S/M/L are measured for speed with cut-down step
        counts and their full encode time projected from the measured time per step.
gpu   - the same suite at full scale on CUDA: native clip sizes, more frames, the real presets
        with their full step counts (hours, not minutes).

siedd operating points are `{label, preset, set}`: a preset of siedd_codec.presets with field
overrides. Frames are always read by siedd_codec.video_io.read_video (RGB, resampled by swscale
when a size is given) and the baselines get exactly those frames.
"""
from __future__ import annotations

# CPU-sized siedd: the rate knob is the width d; everything else fixed. 4 anchors, 500 phase-1
# steps, 2,000 steps per 40-frame group (50 a frame), 4,096 samples per step, lr 1e-3 (the tiny
# preset's).
_CPU_POINT = dict(anchors=4, anchor_steps=500, steps=2000, group_size=40, sample_fraction=1 / 64,
                  min_samples=4096)
# The ablation's base: that point as its rows before siedd 0.10 ran it, 1,000 steps a group with
# the presets' groups of 20 then (a row run by this tree names its group size)
_ABLATION_POINT = dict(anchors=4, anchor_steps=500, steps=1000, sample_fraction=1 / 64,
                       min_samples=4096)
_CPU_RD_POINTS = [{"label": f"d{d}", "preset": "tiny", "set": {**_CPU_POINT, "hidden": d}}
                  for d in (48, 64, 96, 128, 192)]
_CRFS = [21, 26, 31, 36, 41, 46, 51]

# The ablation (bench/ablation.py): every row on the RD section's clips, frames, widths and steps.
# "today" is the encoder before the rate levers, run from its commit; "default" is what the
# presets now do. The smaller levers run at two widths, each changing one thing of the default.
# Sized to finish in under two hours on the 2-core CPU (d=192 and the levers already measured
# worse in development - heads coded frame to frame, soft rounding, coarser starting steps - are
# left out; the README gives their development numbers).
BASELINE_COMMIT = "185eddb"
# the tree the rows before global motion ran on (siedd 0.9.0, format 9.0; its run of
# 2026-12-05): this tree, motion aside, trains and codes alike
ABLATION_9_COMMIT = "db5f469"
_DEFAULT_RATE = {"qat": "on", "rate_lambda": 0.664, "key_interval": 2}
_LEVER_WIDTHS = [48, 96]
_ABLATION_ROWS = [
    {"key": "today", "commit": BASELINE_COMMIT,
     "label": "today: format 1 (fixed 6/8/10-bit rows, histogram ANS), trained in float"},
    {"key": "format2", "commit": ABLATION_9_COMMIT,
     "set": {"qat": "off", "rate_lambda": 0.0, "key_interval": 1},
     "label": "format 2 (deflated META and graphs, float16 NORM, per-tensor steps, Laplace "
              "model), the same fixed steps, quantised after training"},
    {"key": "qat", "commit": ABLATION_9_COMMIT,
     "set": {"qat": "on", "rate_lambda": 0.0, "key_interval": 1},
     "label": "+ quantisation in training (noise, then straight-through), fixed steps"},
    {"key": "rate", "commit": ABLATION_9_COMMIT,
     "set": {"qat": "on", "rate_lambda": 0.664, "key_interval": 1},
     "label": "+ rate term, learned steps, step search (lambda 0.664: 2 dB per doubling, Q=50)"},
    {"key": "predict", "commit": ABLATION_9_COMMIT,
     "set": _DEFAULT_RATE,
     "label": "+ prediction between groups (a key group every 2): the default before motion"},
    {"key": "no_step_search", "commit": ABLATION_9_COMMIT,
     "set": {**_DEFAULT_RATE, "step_search": "off"},
     "widths": _LEVER_WIDTHS, "label": "0.9.0's default without the per-tensor step search"},
    {"key": "deadzone", "commit": ABLATION_9_COMMIT,
     "set": {**_DEFAULT_RATE, "deadzone": 0.15},
     "widths": _LEVER_WIDTHS, "label": "0.9.0's default + rounding dead zone 0.15 (RDO-style rounding)"},
    {"key": "quality75", "commit": ABLATION_9_COMMIT,
     "set": {**_DEFAULT_RATE, "rate_lambda": 0.332},
     "widths": _LEVER_WIDTHS, "label": "0.9.0's default at --quality 75 (1 dB per doubling)"},
    {"key": "quality25", "commit": ABLATION_9_COMMIT,
     "set": {**_DEFAULT_RATE, "rate_lambda": 1.328},
     "widths": _LEVER_WIDTHS, "label": "0.9.0's default at --quality 25 (4 dB per doubling)"},
    {"key": "groups40", "commit": ABLATION_9_COMMIT,
     "set": {**_DEFAULT_RATE, "group_size": 40, "steps": 2000},
     "label": "0.9.0's default + groups of 40 frames (20), 2,000 steps a group (the same steps a frame)"},
    {"key": "groups40_q75", "commit": ABLATION_9_COMMIT,
     "set": {**_DEFAULT_RATE, "group_size": 40, "steps": 2000, "rate_lambda": 0.332},
     "label": "groups of 40 as above, at --quality 75 (1 dB per doubling)"},
    {"key": "encoder_lambda4", "commit": ABLATION_9_COMMIT,
     "set": {**_DEFAULT_RATE, "encoder_lambda": 4.0},
     "widths": _LEVER_WIDTHS,
     "label": "0.9.0's default with the shared encoder's lambda x4 (a coarser encoder, which the groups "
              "then adapt to)"},
    {"key": "residual_lr03", "commit": ABLATION_9_COMMIT,
     "set": {**_DEFAULT_RATE, "residual_lr": 0.3},
     "widths": _LEVER_WIDTHS,
     "label": "0.9.0's default with a predicted group's residuals at 0.3x the lr (its heads at the full "
              "lr)"},
    # the seed's noise: the same configurations trained from another seed, at every width, so
    # that the default's BD-rate against today is also measured for every pairing of seeds
    {"key": "today_seed1", "commit": BASELINE_COMMIT, "seed": 1,
     "label": "today, seed 1 (the seed's noise: against today, seed 0)"},
    {"key": "default_seed1", "commit": ABLATION_9_COMMIT,
     "set": _DEFAULT_RATE, "seed": 1,
     "label": "the default before global motion, seed 1"},
    # global motion (format 10): a group that follows a panning camera trains and decodes its
    # shared layers over a canvas (siedd_codec/canvas.py); this tree
    {"key": "motion", "set": {**_DEFAULT_RATE, "motion": 1, "group_size": 20},
     "label": "+ global motion: a group follows a panning camera (format 10)"},
    {"key": "groups40_motion", "set": {**_DEFAULT_RATE, "motion": 1, "group_size": 40,
                                        "steps": 2000},
     "label": "+ groups of 40 frames, 2,000 steps a group (the same steps a frame): the default"},
    {"key": "default_seed1_motion", "set": {**_DEFAULT_RATE, "motion": 1, "group_size": 40,
                                             "steps": 2000}, "seed": 1,
     "label": "the default, seed 1"},
]
# the quick suite's default: the presets' own groups (its base sets them)
_QUICK_DEFAULT_ROW = {"key": "default", "set": {**_DEFAULT_RATE, "motion": 1},
                      "label": "the default (global motion, the base's groups)"}
# rows that are one configuration from different seeds: the report pairs every seed of the
# default with every seed of today
_ABLATION_SEEDS = {"today": ["today", "today_seed1"],
                   "default": ["groups40_motion", "default_seed1_motion"]}
_RATE_TARGETS = [0.03, 0.06]
_GRID_RATE_TARGETS = [0.02, 0.05]     # about the default's --quality 50 and 75 files

# The families section (bench/families.py): the ablation's clips plus a 1080p clip, bigbuckbunny
# upscaled from 1280x720 by swscale (no real 1080p source is reachable offline), 20 frames (SIEDD
# at two widths there: d=128 would take an hour on this CPU); x265 and both families run there.
_GRID_QUALITIES = (25, 50, 75)


def _grid_points(qualities=_GRID_QUALITIES, **extra):
    from siedd_codec.grid.preset import quality_to_lambda
    return [{"label": f"q{q}", "preset": "grid-tiny",
             "set": {"rate_lambda": round(quality_to_lambda(q), 6), **extra}} for q in qualities]

# The grid family's ablation (bench/ablation.py with quality points): each lever on the RD clips
# at --quality 25, 50, 75; "today" is grid-tiny before them, run from its commit. Rows measured
# with an earlier tree run from the commit they were measured with; the last from this tree.
GRID_BASELINE_COMMIT = "ad28fce"
GRID_ROUND2_COMMIT = "56461ff"
GRID_ROUND3_CODING_COMMIT = "647f23e"
GRID_ROUND3_COMMIT = "71463f6"
GRID_ROUND4_CAUSAL_COMMIT = "2c0fedd"
GRID_ROUND4_COMMIT = "4bfeea2"
GRID_ROUND5_COMMIT = "b9957cd"
GRID_ROUND6_COMMIT = "931651c"
GRID_ROUND7_LR_COMMIT = "9057529"     # the synthesis_lr row's tree (its lr set by the row)
GRID_ROUND7_COMMIT = "cef5aa2"
GRID_ROUND8_COMMIT = "19b4922"     # the meta row: this tree with the groups and steps before
GRID_ROUND9_COMMIT = "5fdc11d"     # groups of 40 (format 8.0; the grid code of 28552ea, its run)


def _faster_host(day: str) -> str:
    return (f"run {day} on a host of this kind with AVX-512, about twice as fast as the rows' "
            f"above: its encode and decode columns compare only with rows run there")


_FASTER_HOST = _faster_host("2026-12-04")
_GRID_ABLATION_ROWS = [
    {"key": "today", "commit": GRID_BASELINE_COMMIT,
     "label": "today: grid-tiny at ad28fce (one Laplace per level, fixed groups of 20, 1,000 steps)"},
    {"key": "context", "commit": GRID_ROUND2_COMMIT, "set": {"scene_cuts": 0, "steps": 1000},
     "label": "+ temporal context: a level's later planes coded and trained with a Laplace per "
              "bucket of the plane before (entropy model 3)"},
    {"key": "cuts", "commit": GRID_ROUND2_COMMIT, "set": {"steps": 1000}, "clips": ["bikes"],
     "label": "+ a new group at every scene cut, steps in proportion to a group's frames "
              "(only bikes has cuts)"},
    {"key": "steps", "commit": GRID_ROUND2_COMMIT, "set": {},
     "label": "+ 1,200 steps per group instead of 1,000 (format 3.0)"},
    {"key": "coding", "commit": GRID_ROUND3_CODING_COMMIT, "set": {},
     "label": "+ a shared level's rows coded and trained with the row before as context, a "
              "per-frame level's planes as differences where that is cheaper (format 4.0, "
              "entropy models 4 and 5)"},
    {"key": "synthesis", "commit": GRID_ROUND3_COMMIT, "set": {},
     "label": "+ a synthesis of 32 then 16 (16, 16 before), the frame graph making a frame a run "
              "(graph version 2, for decode speed)"},
    {"key": "causal", "commit": GRID_ROUND4_CAUSAL_COMMIT, "set": {"synthesis_bits": 8},
     "label": "+ a shared level coded by causal prediction from its left and upper neighbours "
              "where that is smaller (format 5.0, entropy model 6; the coder only, training "
              "unchanged)"},
    {"key": "synthesis_bits", "commit": GRID_ROUND4_CAUSAL_COMMIT, "set": {},
     "label": "+ the synthesis weights at 7 bits (8 before)"},
    {"key": "buckets", "commit": GRID_ROUND4_COMMIT, "set": {},
     "label": "+ each context-coded tensor's bucket count chosen by the coder (2, 3, 4 or 6; "
              "6 before)"},
    {"key": "steps1500", "commit": GRID_ROUND4_COMMIT, "set": {"steps": 1500},
     "label": "the row above with 1,500 steps per group (1,200; measured, not adopted then)"},
    {"key": "speed", "commit": GRID_ROUND5_COMMIT, "set": {},
     "label": "+ a faster training step (the rate's gradient computed with it, all levels read "
              "in one gather, freed memory kept in the heap, fused Adam), spent on 1,600 steps "
              "per group (1,200)"},
    {"key": "motion", "commit": GRID_ROUND6_COMMIT, "set": {},
     "label": "+ global motion: a group whose camera pans stores each frame's translation, and "
              "its shared levels are read where the frame moved them (format 6.0)"},
    {"key": "synthesis_lr", "commit": GRID_ROUND7_LR_COMMIT, "set": {"synthesis_lr": 0.01},
     "label": "+ the synthesis' learning rate at 0.01 (5e-3)", "note": _FASTER_HOST},
    {"key": "graphs", "commit": GRID_ROUND7_COMMIT, "set": {},
     "label": "+ the two ONNX graphs in one LZMA2 stream, 877 bytes less a file (format 7.0), "
              "and grid decoding in bands side by side", "note": _FASTER_HOST},
    {"key": "meta", "commit": GRID_ROUND8_COMMIT, "set": {"group_size": 20, "steps": 1600},
     "label": "+ META deflated against a preset dictionary, ~400 bytes less a file (format 8.0)",
     "note": _FASTER_HOST},
    {"key": "groups40", "commit": GRID_ROUND9_COMMIT, "set": {},
     "label": "+ groups of 40 frames (20), 2,400 steps a group (60 a frame; 80 before)",
     "note": _FASTER_HOST},
    {"key": "graphs9", "set": {},
     "label": "+ the two ONNX graphs deflated against a preset dictionary of the graphs siedd "
              "builds, ~1,460 bytes less a file (format 9.0): the default",
     "note": _faster_host("2026-12-05")},
]


def _grid_ablation(clips, qualities=_GRID_QUALITIES, rows=None, base_set=None):
    from siedd_codec.grid.preset import quality_to_lambda
    return {"name": "grid_ablation", "clips": clips, "widths": list(qualities),
            "point_field": "rate_lambda",
            "point_values": {str(q): round(quality_to_lambda(q), 6) for q in qualities},
            "crfs": _CRFS, "today": "today", "default": "graphs9",
            "base": {"preset": "grid-tiny", "set": base_set or {}},
            "rows": rows or _GRID_ABLATION_ROWS, "rate_targets": _GRID_RATE_TARGETS,
            "jobs": 2, "threads_per_job": 1}


# what training holds does not depend on the step counts: the memory section cuts them to a few
_MEMORY_STEPS = {"anchor_steps": 4, "steps": 4}

_QUICK_POINT = dict(anchors=2, anchor_steps=100, steps=150, group_size=4, sample_fraction=1 / 8,
                    min_samples=512)

SCALES: dict[str, dict] = {
    "quick": {
        "device": "cpu",
        "peak": {"sizes": [512, 1024], "seconds": 0.3, "repeats": 1},
        "memory": {"clip": "bikes", "size": [160, 68], "frames": [20, 60], "preset": "tiny",
                   "set": _MEMORY_STEPS, "threads": 1},
        "scale": {"clip": "bikes", "size": [96, 48], "frames": 16, "preset": "tiny",
                  "set": {"group_size": 4, "anchor_steps": 10, "steps": 10}},
        "rd": {
            "clips": [{"clip": "bikes", "size": [160, 68], "frames": 8},
                      {"clip": "vtest", "size": [192, 144], "frames": 8}],
            "crfs": [30, 40, 51],
            "siedd": [{"label": f"d{d}", "preset": "tiny", "set": {**_QUICK_POINT, "hidden": d}}
                      for d in (32, 64)],
        },
        "encode": {
            "presets": {"clip": "bigbuckbunny", "size": [160, 90], "frames": 8,
                        "cut": {"tiny": {"anchor_steps": 4, "steps": 4, "group_size": 4},
                                "s": {"anchor_steps": 2, "steps": 2, "group_size": 4}}},
            "scaling_frames": {"clip": "bikes", "size": [96, 40], "frames": [4, 8],
                               "preset": "tiny", "set": {**_QUICK_POINT, "hidden": 32,
                                                         "anchor_steps": 10, "steps": 10}},
            "scaling_size": {"clip": "bigbuckbunny", "sizes": [[80, 44], [160, 90]], "frames": 4,
                             "preset": "tiny", "set": {**_QUICK_POINT, "hidden": 32,
                                                       "anchor_steps": 10, "steps": 10}},
        },
        "decode": {
            "clip": "bigbuckbunny", "size": [160, 90], "frames": 8,
            "presets": ["tiny", "s"], "sizes_preset": "s",
            "train_set": {"anchors": 1, "anchor_steps": 2, "steps": 2, "group_size": 4},
            "scales": [0.5, 1.0, 2.0], "frame_at_a_time_frames": 2, "torch_frame_scales": [1.0],
            "bf16_check": True,
            "goal": {"size": [160, 90], "fps": 5, "preset": "s",
                     "note": "quick run: the real goal is 640x360"},
        },
        "quant": {"clip": "carphone", "frames": 8, "preset": "tiny",
                  "set": ["anchor_steps=20", "steps=20", "group_size=4", "anchors=2"]},
        "precision": {"clip": "bikes", "size": [160, 68], "frames": 8, "preset": "tiny",
                      "set": {**_QUICK_POINT, "anchor_steps": 20, "steps": 20},
                      "widths": [32], "seeds": [0]},
        "ablation": {"clips": [{"clip": "bikes", "size": [160, 68], "frames": 8}],
                     "widths": [32, 48], "crfs": [30, 40, 51], "today": "today",
                     "base": {"preset": "tiny", "set": _QUICK_POINT},
                     "rows": [_ABLATION_ROWS[0], _QUICK_DEFAULT_ROW], "default": "default",
                     "rate_targets": [0.5], "jobs": 2, "threads_per_job": 1},
        "grid_ablation": {**_grid_ablation([{"clip": "bikes", "size": [160, 68], "frames": 8}],
                                           qualities=(25, 75),
                                           rows=[_GRID_ABLATION_ROWS[0], _GRID_ABLATION_ROWS[-1]],
                                           base_set={"steps": 20}),
                          "crfs": [30, 40, 51], "rate_targets": [0.5]},
    },
    "cpu": {
        "device": "cpu",
        "peak": {"sizes": [1024, 2048, 4096], "seconds": 1.5, "repeats": 3},
        "rd": {
            "clips": [{"clip": "bikes", "size": [640, 272], "frames": 40},
                      {"clip": "bigbuckbunny", "size": [640, 360], "frames": 40},
                      {"clip": "vtest", "size": [384, 288], "frames": 40}],
            "crfs": _CRFS,
            "siedd": _CPU_RD_POINTS,
        },
        "encode": {
            # the real presets at 640x360, 40 frames (2 groups), step counts cut down
            "presets": {"clip": "bigbuckbunny", "size": [640, 360], "frames": 40,
                        "cut": {"tiny": {"anchor_steps": 10, "steps": 20},
                                "s": {"anchor_steps": 8, "steps": 60},
                                "m": {"anchor_steps": 5, "steps": 30},
                                "l": {"anchor_steps": 4, "steps": 20},
                                "grid-tiny": {"steps": 30}, "grid-s": {"steps": 12},
                                "grid-m": {"steps": 6}},
                        # affordable here: encoded whole too, the figure --help shows
                        "whole": ["tiny", "grid-tiny"]},
            "scaling_frames": {"clip": "bikes", "size": [320, 136], "frames": [20, 40, 80, 160, 250],
                               "preset": "tiny",
                               "set": {**_CPU_POINT, "hidden": 96, "anchor_steps": 100,
                                       "steps": 200, "min_samples": 2048}},
            "scaling_size": {"clip": "bigbuckbunny", "frames": 20,
                             "sizes": [[160, 90], [320, 180], [640, 360], [1280, 720]],
                             "preset": "tiny",
                             "set": {**_CPU_POINT, "hidden": 96, "anchor_steps": 100,
                                     "steps": 200, "min_samples": 2048}},
        },
        "decode": {
            "clip": "bigbuckbunny", "size": [640, 360], "frames": 20,
            "presets": ["tiny", "s", "m", "l"], "sizes_preset": "s",
            "train_set": {"anchors": 2, "anchor_steps": 3, "steps": 3},
            "scales": [0.25, 0.5, 1.0, 1.5, 2.0], "frame_at_a_time_frames": 2,
            "torch_frame_scales": [1.0], "bf16_check": True,
            "goal": {"size": [640, 360], "fps": 5, "preset": "s"},
        },
        "quant": {"clip": "carphone", "frames": 40, "preset": "tiny",
                  "set": ["anchor_steps=300", "steps=600"]},
        # fp32 against bf16 training: a small and a wide model, two seeds (one seed's PSNR
        # moves by more than the precision does)
        "precision": {"clip": "bikes", "size": [640, 272], "frames": 20, "preset": "tiny",
                      "set": {**_CPU_POINT, "anchor_steps": 300, "steps": 600},
                      "widths": [96, 256], "seeds": [0, 1]},
        # the RD section's clips, frames, widths and steps; one thread per encode, two at once
        "ablation": {"clips": [{"clip": "bikes", "size": [640, 272], "frames": 40},
                               {"clip": "bigbuckbunny", "size": [640, 360], "frames": 40},
                               {"clip": "vtest", "size": [384, 288], "frames": 40}],
                     "widths": [48, 64, 96, 128], "crfs": _CRFS, "today": "today",
                     "base": {"preset": "tiny", "set": _ABLATION_POINT},
                     "rows": _ABLATION_ROWS, "default": "groups40_motion", "rate_targets": _RATE_TARGETS,
                     "seeds": _ABLATION_SEEDS,
                     "jobs": 2, "threads_per_job": 1},
        "grid_ablation": _grid_ablation([{"clip": "bikes", "size": [640, 272], "frames": 40},
                                         {"clip": "bigbuckbunny", "size": [640, 360], "frames": 40},
                                         {"clip": "vtest", "size": [384, 288], "frames": 40}]),
        # peak memory of `siedd encode` against the clip's length (bench/memory.py); `before`:
        # the encoder that held the whole clip
        # one process (1 and 2 threads) against torchrun with 2 ranks: 4 groups, 2 chains
        "scale": {"clip": "bikes", "size": [320, 136], "frames": 80, "preset": "tiny",
                  "set": {"anchor_steps": 100, "steps": 300}},
        "memory": {"clip": "bigbuckbunny", "size": [640, 360], "frames": [200, 2000],
                   "preset": "tiny", "set": _MEMORY_STEPS, "threads": 1, "before": "cde42c5"},
        "families": {
            "clips": [{"clip": "bikes", "size": [640, 272], "frames": 40},
                      {"clip": "bigbuckbunny", "size": [640, 360], "frames": 40},
                      {"clip": "vtest", "size": [384, 288], "frames": 40},
                      {"clip": "bigbuckbunny", "size": [1920, 1080], "frames": 20,
                       "note": "upscaled from 1280x720", "siedd_labels": ["d48", "d96"]}],
            "crfs": _CRFS, "grid": _grid_points(),
            "siedd": [p for p in _CPU_RD_POINTS if p["label"] != "d192"],   # the ablation's
            "jobs": 2, "threads_per_job": 1,
            # the SIEDD tiny preset as it is (600 + 2,000 steps, d=96): the encode-time yardstick
            "tiny_reference": {"clip": "bigbuckbunny", "size": [640, 360]},
            "decode": {"clip": "bigbuckbunny", "size": [640, 360], "siedd": "d64", "grid": "q50",
                       "sizes": [[640, 360], [1280, 720]]},
            "picture": {"clip": "bigbuckbunny", "size": [640, 360], "frame": 20, "grid": "q50",
                        "crop": [160, 60, 320, 240]},
        },
    },
    "gpu": {
        "device": "cuda",
        "peak": {"sizes": [2048, 4096, 8192], "seconds": 2.0, "repeats": 2},
        "rd": {
            "clips": [{"clip": "bikes", "size": None, "frames": 120},
                      {"clip": "bigbuckbunny", "size": None, "frames": 120},
                      {"clip": "vtest", "size": None, "frames": 120}],
            "crfs": [18, 22, 26, 30, 34, 38, 42, 46, 51],
            "siedd": [{"label": p.upper(), "preset": p, "set": {}} for p in ("s", "m", "l")],
        },
        "encode": {
            "presets": {"clip": "bigbuckbunny", "size": None, "frames": 120,
                        "cut": {p: {"anchor_steps": 300, "steps": 300} for p in ("s", "m", "l")}},
            "scaling_frames": {"clip": "bikes", "size": None, "frames": [20, 60, 120, 240],
                               "preset": "s", "set": {"anchor_steps": 500, "steps": 500}},
            "scaling_size": {"clip": "bigbuckbunny", "frames": 40,
                             "sizes": [[320, 180], [640, 360], [1280, 720], [1920, 1080]],
                             "preset": "s", "set": {"anchor_steps": 500, "steps": 500}},
        },
        "decode": {
            "clip": "bigbuckbunny", "size": None, "frames": 40,
            "presets": ["s", "m", "l"], "sizes_preset": "s",
            "train_set": {"anchors": 2, "anchor_steps": 20, "steps": 20},
            "scales": [0.25, 0.5, 1.0, 1.5, 2.0], "frame_at_a_time_frames": 4,
            "torch_frame_scales": [0.5, 1.0], "bf16_check": True,
            # the goal: 1080p (1.5x bigbuckbunny's 720p) at 60 fps, preset S
            "goal": {"size": [1920, 1080], "fps": 60, "preset": "s"},
        },
        "quant": {"clip": "bigbuckbunny", "frames": 40, "preset": "s",
                  "set": ["anchor_steps=2000", "steps=2000"]},
        "precision": {"clip": "bikes", "size": None, "frames": 40, "preset": "s",
                      "set": {"anchor_steps": 2000, "steps": 2000},
                      "widths": [512], "seeds": [0, 1]},
    },
}
SECTIONS = ("peak", "rd", "encode", "decode", "quant", "precision", "memory", "scale",
            "ablation", "families", "grid_ablation")
# what a plain run does; the ablation and families (hours on a CPU) run when asked for:
# --only ablation,families
DEFAULT_SECTIONS = SECTIONS[:-3]
