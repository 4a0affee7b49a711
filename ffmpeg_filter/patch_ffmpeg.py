"""Register the siedd filters in an FFmpeg 5.1 source tree. Idempotent, and a file is only
written when its content changes (so `make` in the tree recompiles nothing on a re-run).

    python ffmpeg_filter/patch_ffmpeg.py FFMPEG_SOURCE_DIR

- libavfilter/allfilters.c: `extern const AVFilter ff_vf_siedd;` and `ff_vsrc_sieddsrc`
  (configure derives CONFIG_SIEDD_FILTER / CONFIG_SIEDDSRC_FILTER and --enable-filter=... from
  these lines).
- libavfilter/Makefile: both filters build vf_siedd.o.
- libavfilter/vf_siedd.c and siedd.h: symbolic links to this directory's files, so editing
  them here is what the next `make` compiles.
- libavdevice/lavfi.c: a graph string that starts with the filter name `siedd` is read as
  `sieddsrc` (a filter cannot be both 1-in/1-out for -vf and 0-in for `-f lavfi -i`; this lets
  users write `siedd=` in both places).
- fftools/ffmpeg.c: an error from a filter graph fails the run. FFmpeg 5.1 exits 1 when -vf's
  graph fails, but an error from a -filter_complex graph ("Error while filtering") or from a
  lavfi input (`-f lavfi -i`, which ffmpeg reads as a demuxer: a read error, taken for the end
  of the input unless -xerror) is logged and then ffmpeg exits 0. Both now set the exit status
  to 1; what was rendered before the error is still written out and the output closed.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

EXTERNS = {
    "extern const AVFilter ff_vf_null;": "extern const AVFilter ff_vf_siedd;",
    "extern const AVFilter ff_vsrc_testsrc2;": "extern const AVFilter ff_vsrc_sieddsrc;",
}
MAKEFILE_LINES = {
    "OBJS-$(CONFIG_NULL_FILTER)": "OBJS-$(CONFIG_SIEDD_FILTER)                  += vf_siedd.o",
    "OBJS-$(CONFIG_TESTSRC2_FILTER)": "OBJS-$(CONFIG_SIEDDSRC_FILTER)               += vf_siedd.o",
}

LAVFI_INCLUDE_ANCHOR = '#include "libavutil/bprint.h"\n'
LAVFI_INCLUDE = '#include "libavutil/avstring.h" /* siedd */\n'
LAVFI_ANCHOR = "        lavfi->graph_str = av_strdup(avctx->url);\n"
LAVFI_BLOCK = """\
    /* siedd-begin: `-f lavfi -i siedd=...` is the source filter sieddsrc */
    if (lavfi->graph_str) {
        const char *graph = lavfi->graph_str + strspn(lavfi->graph_str, " \\t\\r\\n");
        if (av_strstart(graph, "siedd", NULL)) {
            char next = graph[5];
            if (!(next >= 'a' && next <= 'z') && !(next >= 'A' && next <= 'Z') &&
                !(next >= '0' && next <= '9') && next != '_') {
                char *mapped = av_asprintf("sieddsrc%s", graph + 5);
                if (!mapped)
                    FAIL(AVERROR(ENOMEM));
                av_log(avctx, AV_LOG_DEBUG, "graph '%s' read as '%s'\\n", graph, mapped);
                av_free(lavfi->graph_str);
                lavfi->graph_str = mapped;
            }
        }
    }
    /* siedd-end */
"""


# fftools/ffmpeg.c: (name, anchor, block inserted after the anchor); each anchor occurs once.
FFMPEG_C_BLOCKS = [
    ("lavfi-read-error",
     "            print_error(is->url, ret);\n"
     "            if (exit_on_error)\n"
     "                exit_program(1);\n",
     "            /* siedd-begin lavfi-read-error: a lavfi input is a filter graph; its error is\n"
     "               a failure (exit status 1), as an error in -vf's graph is */\n"
     "            if (!strcmp(is->iformat->name, \"lavfi\"))\n"
     "                main_return_code = 1;\n"
     "            /* siedd-end */\n"),
    ("filtering-error",
     "        ret = transcode_step();\n"
     "        if (ret < 0 && ret != AVERROR_EOF) {\n"
     "            av_log(NULL, AV_LOG_ERROR, \"Error while filtering: %s\\n\", av_err2str(ret));\n",
     "            /* siedd-begin filtering-error: a failed filter graph fails the run */\n"
     "            main_return_code = 1;\n"
     "            /* siedd-end */\n"),
]


def write_if_changed(path: Path, text: str) -> bool:
    if path.read_text() == text:
        return False
    tmp = path.with_name(path.name + ".siedd-tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def insert_after_line(text: str, anchor_prefix: str, line: str, path: Path) -> str:
    lines = text.split("\n")
    for i, existing in enumerate(lines):
        if existing.startswith(anchor_prefix):
            lines.insert(i + 1, line)
            return "\n".join(lines)
    raise SystemExit(f"{path}: anchor {anchor_prefix!r} not found (not FFmpeg 5.1?)")


def patch_allfilters(src: Path) -> bool:
    path = src / "libavfilter" / "allfilters.c"
    text = path.read_text()
    for anchor, line in EXTERNS.items():
        if line not in text:
            text = insert_after_line(text, anchor, line, path)
    return write_if_changed(path, text)


def patch_makefile(src: Path) -> bool:
    path = src / "libavfilter" / "Makefile"
    text = path.read_text()
    for anchor, line in MAKEFILE_LINES.items():
        key = line.split()[0]
        if not re.search(r"^" + re.escape(key) + r"\s", text, re.M):
            text = insert_after_line(text, anchor, line, path)
    return write_if_changed(path, text)


def patch_lavfi(src: Path) -> bool:
    path = src / "libavdevice" / "lavfi.c"
    text = path.read_text()
    if LAVFI_INCLUDE not in text:
        if LAVFI_INCLUDE_ANCHOR not in text:
            raise SystemExit(f"{path}: {LAVFI_INCLUDE_ANCHOR.strip()!r} not found")
        text = text.replace(LAVFI_INCLUDE_ANCHOR, LAVFI_INCLUDE_ANCHOR + LAVFI_INCLUDE, 1)
    existing = re.search(r"    /\* siedd-begin.*?/\* siedd-end \*/\n", text, re.S)
    if existing:
        text = text[:existing.start()] + LAVFI_BLOCK + text[existing.end():]
    else:
        if text.count(LAVFI_ANCHOR) != 1:
            raise SystemExit(f"{path}: the graph_str assignment was not found exactly once")
        text = text.replace(LAVFI_ANCHOR, LAVFI_ANCHOR + LAVFI_BLOCK, 1)
    return write_if_changed(path, text)


def patch_ffmpeg_c(src: Path) -> bool:
    path = src / "fftools" / "ffmpeg.c"
    text = path.read_text()
    for name, anchor, block in FFMPEG_C_BLOCKS:
        existing = re.search(r"[ \t]*/\* siedd-begin " + re.escape(name) + r"\b.*?/\* siedd-end \*/\n",
                             text, re.S)
        if existing:
            text = text[:existing.start()] + block + text[existing.end():]
            continue
        if text.count(anchor) != 1:
            raise SystemExit(f"{path}: the anchor of '{name}' was not found exactly once "
                             "(not FFmpeg 5.1?)")
        text = text.replace(anchor, anchor + block, 1)
    return write_if_changed(path, text)


def link_sources(src: Path) -> list[str]:
    changed = []
    for name in ("vf_siedd.c", "siedd.h"):
        link = src / "libavfilter" / name
        target = HERE / name
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(target)
        changed.append(name)
    return changed


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: patch_ffmpeg.py FFMPEG_SOURCE_DIR", file=sys.stderr)
        return 2
    src = Path(argv[1]).resolve()
    if not (src / "libavfilter" / "allfilters.c").is_file():
        print(f"{src}: not an FFmpeg source tree", file=sys.stderr)
        return 1
    changed = [name for name, did in (("allfilters.c", patch_allfilters(src)),
                                      ("libavfilter/Makefile", patch_makefile(src)),
                                      ("lavfi.c", patch_lavfi(src)),
                                      ("ffmpeg.c", patch_ffmpeg_c(src))) if did]
    changed += link_sources(src)
    print(f"patch_ffmpeg: {', '.join(changed) if changed else 'already patched'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
