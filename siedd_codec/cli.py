"""siedd command line: encode | decode | info | verify | export-onnx.

Every failure the user can cause ends in one line on stderr ("siedd: error: ...") and a non-zero
exit: 2 for bad usage, 1 for bad input or a failed run, 130 when interrupted (Ctrl-C), 143 when
terminated (SIGTERM); either way temporary outputs are removed and an encode's state is kept."""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import textwrap
import threading
from dataclasses import dataclass
from fractions import Fraction

from . import __version__
from .errors import SieddError, SieddFormatError, SieddInputError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + error
        sys.stderr.write(f"siedd: error: {message}\n")
        sys.exit(2)


def _size(text: str) -> tuple[int, int]:
    from .reader import parse_size
    try:
        return parse_size(text)
    except SieddError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> Fraction:
    from .video_io import RATE_LIMITS
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"bad rate {text!r}: expected e.g. 25, 30000/1001") from None
    lo, hi = RATE_LIMITS[None]
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"bad rate {text!r}: must be in {lo}..{hi}")
    return value


def _frame_range(text: str) -> tuple[int | None, int | None]:
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        a = int(parts[0]) if parts[0] else None
        b = int(parts[1]) if parts[1] else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad frame range {text!r}: expected A:B, e.g. 0:50") from None
    if (a is not None and a < 0) or (b is not None and b < 0) or (a is not None and b is not None and b <= a):
        raise argparse.ArgumentTypeError(f"bad frame range {text!r}: need 0 <= A < B")
    return a, b


def _nonneg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _number(text: str, what: str, ok, bounds: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad {what} {text!r}: expected a number") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{what} must be in {bounds}, got {text}")
    return value


def _quality(text: str) -> float:
    from .ratecontrol import QUALITY_RANGE
    lo, hi = QUALITY_RANGE
    return _number(text, "quality", lambda v: lo <= v <= hi, f"{lo:g}..{hi:g}")


def _bpp(text: str) -> float:
    return _number(text, "bpp", lambda v: 0 < v <= 64, "(0, 64]")


def _byte_count(text: str) -> int:
    units = {"k": 1000, "m": 1000 ** 2, "g": 1000 ** 3}
    raw = text.strip().lower().rstrip("b")
    scale = units.get(raw[-1:], 1)
    try:
        value = float(raw[:-1] if raw[-1:] in units else raw) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: expected bytes, e.g. 250000 or 250k") from None
    if not 1 <= value <= 1 << 40:
        raise argparse.ArgumentTypeError(f"bad size {text!r}")
    return int(value)


def _ladder(text: str) -> list[tuple[int, int]]:
    from .ladder import parse_ladder
    try:
        return parse_ladder(text)
    except SieddError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    return _number(text, "segment length", lambda v: 0 < v <= 3600, "(0, 3600] seconds")


def _positive(text: str) -> int:
    value = _nonneg(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Options show their defaults (where there is one to show); epilogs keep their layout."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if "%(default)" in text or not action.option_strings or default is None or \
                default is False or default == [] or default == argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


def _cpu_cost(name: str, preset) -> float | None:
    """The CPU seconds per frame the benchmark measured (timed whole, or projected) for this
    preset, if it measured them for the steps and groups the preset has now."""
    from .preset_costs import CPU
    measured = CPU.get("measured_for", {}).get(name)
    if measured is None or any(getattr(preset, k, None) != v for k, v in measured.items()):
        return None
    return CPU["seconds_per_frame"].get(name)


def presets_epilog() -> str:
    """encode --help's table: every preset, its model, groups and steps, and the encode time
    per frame to expect on a CPU (this project's benchmark) and on a GPU (the SIEDD paper's
    figure)."""
    from .preset_costs import CPU, GPU_PAPER
    from .presets import PRESETS
    rows = [("preset", "model", "group", "steps", "CPU s/frame", "GPU s/frame")]
    for name, preset in PRESETS.items():
        if preset.family == "siedd":
            model = f"SIEDD d={preset.hidden}"
            steps = f"{preset.anchor_steps} + {preset.steps}/group"
        else:
            model = f"grids, synthesis {preset.synthesis}"
            steps = f"{preset.steps}/group"
        cpu = _cpu_cost(name, preset)
        gpu = GPU_PAPER["seconds_per_frame"].get(name)
        whole = name in CPU.get("whole_runs", ())
        rows.append((name, model, f"{preset.group_size} frames", steps,
                     "not measured" if cpu is None else ("" if whole else "~") + f"{cpu:.3g}",
                     "not measured" if gpu is None else f"{gpu:.3g} (paper)"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                      for r in rows)
    w, h = CPU["size"]
    notes = [f"CPU: {CPU['clip']} {w}x{h}, {CPU['frames']} frames, {CPU['machine']} "
             f"({CPU['date'][:10]}): a whole encode timed by `make bench`, or (~) projected "
             "from the time per step it measured with the steps cut down, which has been off "
             "several times either way (not measured: a preset whose steps or groups changed "
             "since); a step samples a share of the frames' pixels, so larger frames cost more.",
             f"GPU: not measured by siedd; (paper) is the {GPU_PAPER['source']}, whose encoder "
             "has no rate-aware training.",
             "Before training, encode times a few steps on this machine and prints its own "
             "estimate."]
    return (f"presets and the encode time to expect:\n{table}\n\n"
            + "\n".join(textwrap.fill(n, 88) for n in notes))


def build_parser() -> argparse.ArgumentParser:
    from .ladder import SEGMENT_SECONDS
    from .presets import PRESETS
    parser = _Parser(prog="siedd", description="SIEDD neural video codec")
    parser.add_argument("--version", action="version", version=f"siedd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    enc = sub.add_parser("encode", help="train SIEDD on a video and write one .siedd file",
                         formatter_class=_HelpFormatter, epilog=presets_epilog())
    enc.add_argument("input", help="video file (anything FFmpeg reads) or a folder of PNG frames")
    enc.add_argument("-o", "--output", required=True, help="output .siedd file")
    enc.add_argument("--preset", default="tiny", choices=sorted(PRESETS),
                     help="the model and its training: see the table below")
    enc.add_argument("--start", type=_nonneg, default=0, help="first frame to encode")
    enc.add_argument("--frames", type=_positive, help="number of frames (default: all)")
    enc.add_argument("--size", type=_size, help="resample to WxH before training")
    enc.add_argument("--group-size", type=_positive, help="frames per decoder group (default: "
                     "the preset's)")
    enc.add_argument("--steps", type=_positive, help="training steps per group (default: the "
                     "preset's)")
    enc.add_argument("--anchor-steps", type=_positive, help="SIEDD's phase-1 steps (default: "
                     "the preset's)")
    rate = enc.add_mutually_exclusive_group()
    rate.add_argument("--quality", type=_quality, metavar="Q",
                      help="0..100, higher is better and bigger; Q=50 stops spending bits at 2 dB "
                           "per doubling of the rate, +25 halves that (default: the preset's, "
                           "50)")
    rate.add_argument("--bpp", type=_bpp, metavar="B",
                      help="target bits per pixel of the whole file (rate control, one encode; "
                           "picks the width too unless --set hidden=D)")
    rate.add_argument("--bytes", type=_byte_count, metavar="N",
                      help="target file size in bytes (250000, 250k, 1.5M), as --bpp")
    enc.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                     help="override any preset field, e.g. --set hidden=128 --set shared_bits=5")
    enc.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                     help="where training runs; auto: CUDA when torch sees a GPU")
    enc.add_argument("--seed", type=int, default=0, help="one seed, one file: the same input, "
                     "settings and seed give the same bytes")
    saved = enc.add_mutually_exclusive_group()
    saved.add_argument("--resume", action="store_true",
                       help="continue a killed encode from the work it saved in OUTPUT.partial/ "
                            "(its last finished group); same input and settings required")
    saved.add_argument("--restart", action="store_true",
                       help="discard the work a killed encode saved in OUTPUT.partial/ and start "
                            "over (without --resume or --restart, saved work there is an error)")
    enc.add_argument("--quiet", action="store_true",
                     help="no estimate, progress or messages on stderr")
    enc.add_argument("--json", action="store_true",
                     help="print the summary as one JSON object on stdout (progress stays on "
                          "stderr unless --quiet)")

    dec = sub.add_parser("decode", help="render a .siedd file to a video file or PNG frames")
    dec.add_argument("input", help=".siedd file")
    dec.add_argument("-o", "--output", required=True,
                     help="video file (.mp4, .mkv, .webm, .mov, .avi, .nut, .y4m), a PNG "
                          "pattern like frame_%%04d.png, or with --ladder an HLS master playlist "
                          "(.m3u8)")
    sizes = dec.add_mutually_exclusive_group()
    sizes.add_argument("--size", type=_size, help="output WxH (default: native)")
    sizes.add_argument("--ladder", type=_ladder, metavar="SIZES",
                       help="write an HLS ladder, one H.264 4:2:0 variant per size: WxH exactly, "
                            "Hp at the clip's aspect ratio (e.g. 426x240,1280x720,1080p)")
    dec.add_argument("--segment", type=_seconds, metavar="SECONDS",
                     help=f"--ladder's segment length (default {SEGMENT_SECONDS:g})")
    dec.add_argument("--fps", type=_rate, help="output frame rate; frames in between are blended")
    dec.add_argument("--frames", type=_frame_range, metavar="A:B", help="source frames A..B-1")
    dec.add_argument("--codec", help="FFmpeg encoder name (default: from the extension)")
    dec.add_argument("--pix-fmt", metavar="NAME",
                     help="pixel format to encode in, e.g. yuv444p (default: yuv420p where the "
                          "encoder takes it, RGB for lossless encoders, yuv444p for .y4m)")
    dec.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    dec.add_argument("-y", "--overwrite", action="store_true",
                     help="replace an existing output (default: refuse, like ffmpeg -n)")
    dec.add_argument("--quiet", action="store_true")

    info = sub.add_parser("info", help="describe a .siedd file (exit 1 if cut short or damaged)")
    info.add_argument("input")
    info.add_argument("--json", action="store_true")

    ver = sub.add_parser("verify", help="check a whole .siedd file: every section's checksum, "
                                        "every group decoded; exit 0 only if all is intact")
    ver.add_argument("input")
    ver.add_argument("--json", action="store_true")
    ver.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])

    exp = sub.add_parser("export-onnx", help="write standalone ONNX files and a JSON recipe")
    exp.add_argument("input")
    exp.add_argument("directory")
    return parser


# ---------------------------------------------------------------------------------------------

def cmd_encode(args) -> int:
    from .encoder import encode
    from .presets import get_preset, parse_override
    overrides = dict(parse_override(item, args.preset) for item in args.set)
    overrides.update({k: v for k, v in (("group_size", args.group_size), ("steps", args.steps),
                                         ("anchor_steps", args.anchor_steps)) if v is not None})
    if args.quality is not None:
        from .families import family_of_preset
        overrides["rate_lambda"] = family_of_preset(get_preset(args.preset)).quality_to_lambda(
            args.quality)
    preset = get_preset(args.preset, **overrides)
    summary = encode(args.input, args.output, preset, start=args.start, frames=args.frames,
                     size=args.size, device=args.device, seed=args.seed, resume=args.resume,
                     restart=args.restart, quiet=args.quiet, target_bpp=args.bpp,
                     target_bytes=args.bytes,
                     choose_width=preset.family == "siedd" and "hidden" not in overrides)
    if summary is None:          # a torchrun rank other than 0: rank 0 reports
        return 0
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print(f"{summary['output']}: {summary['frames']} frames {summary['width']}x"
              f"{summary['height']}, PSNR {summary['psnr']:.2f} dB (clip MSE; mean of frames "
              f"{summary['psnr_mean_frames']:.2f}), SSIM {summary['ssim']:.4f}, "
              f"{summary['bytes']} bytes, "
              f"{summary['bpp']:.4f} bpp, {summary['seconds']:.1f} s "
              f"(train {summary['train_seconds']:.1f} s on {summary['device']})")
    return 0


MAX_OUTPUT_FRAMES = 1 << 24     # --fps re-timing: as many frames as a .siedd file may hold


def _refuse_existing(output: str, overwrite: bool) -> None:
    """Like ffmpeg -n for scripts: an existing output stays unless -y asks to replace it (a PNG
    pattern: its first file)."""
    from pathlib import Path
    from .video_io import first_output_file
    first = Path(first_output_file(output))
    if not overwrite and first.exists():
        raise SieddInputError(f"{first}: exists; add -y (--overwrite) to replace it")


@dataclass(frozen=True)
class _Pictures:
    """What decode writes: `count` pictures at `fps`; picture k is source frame first + k, or
    with --fps the picture at time first/fps_source + k/fps."""
    first: int
    count: int
    fps: Fraction
    retimed: bool

    def picture(self, reader, k: int):
        if not self.retimed:
            return reader[self.first + k]
        return reader.frame_at(float(self.first / reader.fps + Fraction(k) / self.fps))


def _pictures(reader, args) -> _Pictures:
    declared, readable = reader.declared_frame_count, reader.frame_count
    first, stop = args.frames or (None, None)
    first = first or 0
    stop = declared if stop is None else stop
    if first >= declared or stop > declared:
        raise SieddInputError(f"--frames {first}:{stop} is past the end ({declared} frames)")
    if stop > readable:     # cut short or damaged: no shorter video without a word
        raise SieddFormatError(f"{args.input}: {reader.loss}; frames {readable}-{declared - 1} "
                               f"cannot be decoded, --frames 0:{readable} decodes the ones "
                               "before")
    if args.fps is None:
        return _Pictures(first, stop - first, reader.fps, False)
    # Output frame k shows source time first/fps_src + k/fps, for every k whose time falls
    # before the range's end (each source frame lasts 1/fps_src): ceil(span x fps) frames,
    # exactly, as the FFmpeg source form's r= gives (README, "Usage").
    count = math.ceil(Fraction(stop - first) / reader.fps * Fraction(args.fps))
    if count > MAX_OUTPUT_FRAMES:
        raise SieddInputError(f"--fps {args.fps} makes {count} frames of the {stop - first} "
                              f"source frames (at most {MAX_OUTPUT_FRAMES})")
    return _Pictures(first, count, Fraction(args.fps), True)


def _decode_problem(args) -> str | None:
    """Option combinations decode refuses (bad usage, exit 2)."""
    hls = args.output.lower().endswith(".m3u8")
    if args.ladder is None:
        if hls:
            return "an .m3u8 output is an HLS ladder: add --ladder SIZES (e.g. 426x240,720p)"
        if args.segment is not None:
            return "--segment applies to --ladder only"
        return None
    if not hls:
        return "--ladder writes an HLS master playlist: -o NAME.m3u8"
    if args.codec or args.pix_fmt:
        return "--ladder writes H.264 in yuv420p; --codec and --pix-fmt do not apply"
    return None


def cmd_decode(args) -> int:
    from .fsutil import same_file
    from .reader import SieddReader
    if same_file(args.input, args.output):
        raise SieddInputError(f"{args.output}: refusing to overwrite the input")
    if args.ladder:
        from . import container, ladder
        ladder.refuse_existing(args.output, args.overwrite)
        native = None
        if any(width == 0 for width, _ in args.ladder):     # an Hp size: the clip's aspect
            clip = container.read(args.input, allow_damaged=True)
            native = (clip.width, clip.height)
        sizes = ladder.resolve_ladder(args.ladder, native)
    else:
        _refuse_existing(args.output, args.overwrite)
        sizes = [args.size]
    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(SieddReader(args.input, size=size, device=args.device,
                                                   allow_damaged=True)) for size in sizes]
        plan = _pictures(readers[0], args)
        if args.ladder:
            variants = ladder.write_ladder(args.output, readers, plan.fps, plan.count,
                                           plan.picture, args.segment or ladder.SEGMENT_SECONDS)
            if not args.quiet:
                print(_ladder_report(args.output, variants), file=sys.stderr)
            return 0
        from .video_io import VideoWriter
        reader = readers[0]
        with VideoWriter(args.output, reader.width, reader.height, plan.fps, args.codec,
                         args.pix_fmt) as writer:
            for k in range(plan.count):
                writer.write(plan.picture(reader, k))
        if not args.quiet:
            print(f"{args.output}: {writer.count} frames {reader.width}x{reader.height} "
                  f"@ {float(writer.fps):.6g} fps, {writer.pix_fmt}", file=sys.stderr)
    return 0


def _ladder_report(output: str, variants: list[dict]) -> str:
    def count(n, what):
        return f"{n} {what}{'s' * (n != 1)}"
    first = variants[0]
    lines = [f"{output}: HLS ladder of {count(len(variants), 'variant')}, "
             f"{count(first['frames'], 'frame')} @ {float(first['fps']):.6g} fps in "
             f"{count(first['segments'], 'segment')}"]
    lines += [f"  {v['name']}: {v['average_bandwidth'] / 1000:.0f} kb/s average, "
              f"{v['bandwidth'] / 1000:.0f} kb/s peak, {v['codecs']}" for v in variants]
    return "\n".join(lines)


def describe(path: str) -> dict:
    """What `info` says: the file as declared, and what is really there (a cut-short or damaged
    file: the bytes present, the complete groups, the frames that decode, their bpp)."""
    from . import container
    from .families import family_of_meta
    from .metrics import bpp
    sf = container.read(path, allow_damaged=True)
    family = family_of_meta(sf.meta)
    fps = sf.fps
    readable = sf.readable_frames
    info = {
        "file": path, "format_version": f"{sf.version[0]}.{sf.version[1]}",
        "width": sf.width, "height": sf.height, "frame_count": sf.frame_count,
        "fps": float(fps), "fps_rational": f"{fps.numerator}/{fps.denominator}",
        "duration": float(sf.frame_count / fps), "family": family.NAME,
        "preset": sf.meta["model"].get("preset"),
        "group_size": sf.meta["model"]["group_size"], "groups": len(sf.groups),
        "intact": not sf.truncated, "problem": sf.loss(),
        "truncated": sf.present_bytes < sf.file_bytes,
        "complete_groups": sf.group_status.count(container.GROUP_OK),
        "damaged_groups": [g for g, status in enumerate(sf.group_status)
                           if status == container.GROUP_DAMAGED],
        "decodable_frames": readable,
        "quant": sf.meta.get("quant", {}), "color": sf.meta["video"].get("color", {}),
        "file_bytes": sf.present_bytes, "declared_bytes": sf.file_bytes,
        "bpp": bpp(sf.present_bytes, readable, sf.width, sf.height) if readable else None,
        "sections": sf.section_sizes, "encoder": sf.meta.get("encoder", {}),
        "quality": _stored_quality(sf.meta.get("encoder", {})),
    }
    info.update(family.describe(sf))
    return info


def _stored_quality(encoder: dict) -> dict | None:
    """The quality the encoder measured and stored in META (siedd 0.3 on); None when absent or
    not numbers (META's `encoder` is informative: a stranger's file may hold anything there)."""
    quality = encoder.get("quality")
    keys = ("psnr", "psnr_mean_frames", "ssim", "frames")
    if not isinstance(quality, dict) or not all(
            isinstance(quality.get(k), (int, float)) and not isinstance(quality.get(k), bool)
            and math.isfinite(quality[k]) for k in keys):
        return None
    return quality


def cmd_info(args) -> int:
    """Exits 1 when the file is not whole (cut short, or a group's checksum does not match),
    after describing it: `siedd info F && ...` must not pass a damaged file on."""
    info = describe(args.input)
    if args.json:
        print(json.dumps(info, sort_keys=True))
    else:
        print(f"{info['file']}: siedd {info['format_version']}, {info['width']}x{info['height']}, "
              f"{info['frame_count']} frames @ {info['fps_rational']} fps "
              f"({info['duration']:.2f} s)")
        print(f"  model: {info['family']}, preset {info['preset']}, {info['model_summary']}, "
              f"group size {info['group_size']} ({info['groups']} group"
              f"{'' if info['groups'] == 1 else 's'})")
        size = f"{info['file_bytes']} bytes"
        if info["truncated"]:
            size += f" present of {info['declared_bytes']} declared"
        if info["intact"]:
            rate = f"{info['bpp']:.4f} bpp"
        elif info["bpp"] is None:
            rate = "no frame can be decoded"
        else:
            rate = (f"{info['bpp']:.4f} bpp over the {info['decodable_frames']} frames that can "
                    "be decoded")
        print(f"  size: {size}, {rate}; sections "
              + ", ".join(f"{k} {v}" for k, v in info["sections"].items()))
        print(f"  decode cost: {info['macs_per_pixel']:.0f} MAC/pixel per frame, "
              f"{info['macs_per_pixel_amortized']:.0f} amortised over the groups' shared work")
        quality = info["quality"]
        print("  quality at encode: " + (
            f"PSNR {quality['psnr']:.2f} dB (clip MSE; mean of frames "
            f"{quality['psnr_mean_frames']:.2f}), SSIM {quality['ssim']:.4f}, RGB, "
            f"{quality['frames']} frames" if quality else "not recorded"))
        if not info["intact"]:
            print(f"  {'DAMAGED' if info['damaged_groups'] else 'TRUNCATED'}: "
                  f"{_not_intact(info)}")
    if info["intact"]:
        return 0
    sys.stderr.write(f"siedd: error: {args.input}: {_not_intact(info)}\n")
    return 1


def _not_intact(info: dict) -> str:
    readable = info["decodable_frames"]
    return info["problem"] + (f"; frames 0-{readable - 1} of {info['frame_count']} can be "
                              "decoded" if readable else "; no frame can be decoded")


def cmd_verify(args) -> int:
    from .verify import INTACT, verify
    report = verify(args.input, args.device)
    groups = report["groups"]
    bad = [e for e in groups if e["status"] != INTACT]
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        print(f"{args.input}: {'intact' if report['intact'] else 'NOT INTACT'}: "
              f"{len(groups) - len(bad)} of {len(groups)} groups decode, "
              f"{report['decodable_frames']} of {report['frame_count']} frames")
        if report["error"]:
            print(f"  {report['error']}")
        for run in _runs(groups):
            a, b = run[0], run[-1]
            which = (f"group {a['group']}" if a is b else f"groups {a['group']}-{b['group']}")
            frames = f"frames {a['first_frame']}-{b['first_frame'] + b['frame_count'] - 1}"
            reason = f": {a['reason']}" if a["reason"] else ""
            print(f"  {which} ({frames}): {a['status']}{reason}")
    if report["intact"]:
        return 0
    if report["error"]:
        problem = report["error"]
    else:
        first = bad[0]
        problem = (f"{len(bad)} of {len(groups)} groups cannot be decoded (group "
                   f"{first['group']}: {first['status']}: {first['reason']})")
    sys.stderr.write(f"siedd: error: {args.input}: {problem}\n")
    return 1


def _runs(groups: list[dict]) -> list[list[dict]]:
    """Consecutive groups with the same status and reason, for a short report."""
    runs: list[list[dict]] = []
    for entry in groups:
        if runs and (runs[-1][-1]["status"], runs[-1][-1]["reason"]) == (entry["status"],
                                                                          entry["reason"]):
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return runs


def cmd_export_onnx(args) -> int:
    from . import container
    from .families import family_of_meta
    from .fsutil import require_folder
    sf = container.read(args.input)
    require_folder(args.directory)      # DIRECTORY itself is made, not the folders above it
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise SieddError(f"export-onnx needs the onnx package (pip install 'siedd[encode]'): {exc}")
    files = family_of_meta(sf.meta).export_onnx(sf, args.input, args.directory)
    print(f"{args.directory}: wrote {len(files)} files")
    return 0


COMMANDS = {"encode": cmd_encode, "decode": cmd_decode, "info": cmd_info, "verify": cmd_verify,
            "export-onnx": cmd_export_onnx}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: temporary outputs removed, an encode's state kept."""


def _terminate(signum, frame):
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = _decode_problem(args) if args.command == "decode" else None
    if problem:
        parser.error(problem)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        return _run(args)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _run(args) -> int:
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:          # `siedd info --json | head`: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt as exc:
        hint = " (continue with --resume)" if args.command == "encode" else ""
        sys.stderr.write(f"siedd: {'terminated' if isinstance(exc, _Terminated) else 'interrupted'}"
                         f"{hint}\n")
        return 143 if isinstance(exc, _Terminated) else 130
    except SieddError as exc:
        sys.stderr.write(f"siedd: error: {exc}\n")
        return 1
    except (OSError, MemoryError) as exc:
        name = getattr(exc, "filename", None)
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        sys.stderr.write(f"siedd: error: {name + ': ' if name else ''}{reason}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
