"""Register siedd's components in an FFmpeg 5.1 source tree. Idempotent, and a file is only
written when its content changes (so `make` in the tree recompiles nothing on a re-run).

    python ffmpeg_filter/patch_ffmpeg.py FFMPEG_SOURCE_DIR

Components (their C files stay in this directory; the tree gets symbolic links to them and to
siedd.h, so editing them here is what the next `make` compiles):
- the filters siedd and sieddsrc (libavfilter/vf_siedd.c): `extern const AVFilter ...` lines in
  allfilters.c, from which configure derives CONFIG_..._FILTER, and Makefile lines;
- the siedd demuxer (libavformat/siedddec.c): allformats.c and Makefile lines;
- the libsiedd decoder (libavcodec/libsiedddec.c) of a new codec id, AV_CODEC_ID_SIEDD,
  appended after the last video codec in codec_id.h, with its descriptor in codec_desc.c (the
  descriptors are sorted by id), allcodecs.c and Makefile lines.

Behaviour patches, each a marked block (`/* siedd-begin NAME ... siedd-end */`) replaced in
place on a re-run:
- libavdevice/lavfi.c: a graph string that starts with the filter name `siedd` is read as
  `sieddsrc` (a filter cannot be both 1-in/1-out for -vf and 0-in for `-f lavfi -i`; this lets
  users write `siedd=` in both places). A `pixel_format` option (what ffmpeg's -pix_fmt before
  -i sets) asks the graph's sinks for that one pixel format, so a source that can give it
  directly does, with no conversion.
- fftools/ffmpeg_opt.c: a lavfi input whose graph is a siedd source takes the outputs' -pix_fmt
  as that pixel_format when it names none itself: `-f lavfi -i siedd=... -pix_fmt yuv444p`
  gets the decoder's own 4:4:4 (or rgb24), not an upsampling of its default 4:2:0.
- fftools/ffmpeg.c: an error from a filter graph or a siedd input fails the run. FFmpeg 5.1
  exits 1 when -vf's graph fails, but an error from a -filter_complex graph ("Error while
  filtering"), a read error from a lavfi input (`-f lavfi -i`, which ffmpeg reads as a demuxer:
  taken for the end of the input unless -xerror) or from the siedd demuxer (a file cut short),
  and a frame the libsiedd decoder cannot render are logged and then ffmpeg exits 0. They now
  set the exit status to 1; what was rendered before the error is still written out and the
  output closed.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (file, the line after which to insert, the line): inserted once.
LINES = [
    ("libavfilter/allfilters.c", "extern const AVFilter ff_vf_null;",
     "extern const AVFilter ff_vf_siedd;"),
    ("libavfilter/allfilters.c", "extern const AVFilter ff_vsrc_testsrc2;",
     "extern const AVFilter ff_vsrc_sieddsrc;"),
    ("libavfilter/Makefile", "OBJS-$(CONFIG_NULL_FILTER)",
     "OBJS-$(CONFIG_SIEDD_FILTER)                  += vf_siedd.o"),
    ("libavfilter/Makefile", "OBJS-$(CONFIG_TESTSRC2_FILTER)",
     "OBJS-$(CONFIG_SIEDDSRC_FILTER)               += vf_siedd.o"),
    ("libavformat/allformats.c", "extern const AVInputFormat  ff_shorten_demuxer;",
     "extern const AVInputFormat  ff_siedd_demuxer;"),
    ("libavformat/Makefile", "OBJS-$(CONFIG_SIFF_DEMUXER)",
     "OBJS-$(CONFIG_SIEDD_DEMUXER)             += siedddec.o"),
    ("libavcodec/codec_id.h", "    AV_CODEC_ID_PHM,",
     "    AV_CODEC_ID_SIEDD,"),
    ("libavcodec/allcodecs.c", "extern const FFCodec ff_libdav1d_decoder;",
     "extern const FFCodec ff_libsiedd_decoder;"),
    ("libavcodec/Makefile", "OBJS-$(CONFIG_LIBDAV1D_DECODER)",
     "OBJS-$(CONFIG_LIBSIEDD_DECODER)           += libsiedddec.o"),
]

# Files configure scans for components: a change to one needs configure to run again.
REGISTRIES = ("libavfilter/allfilters.c", "libavformat/allformats.c", "libavcodec/allcodecs.c")

# Symbolic links: tree path -> this directory's file.
LINKS = {
    "libavfilter/vf_siedd.c": "vf_siedd.c",
    "libavfilter/siedd.h": "siedd.h",
    "libavformat/siedddec.c": "siedddec.c",
    "libavformat/siedd.h": "siedd.h",
    "libavcodec/libsiedddec.c": "libsiedddec.c",
    "libavcodec/siedd.h": "siedd.h",
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

# (file, name, anchor, block inserted after the anchor); each anchor occurs once.
BLOCKS = [
    ("libavcodec/codec_desc.c", "codec-desc",
     '        .long_name = NULL_IF_CONFIG_SMALL("PHM (Portable HalfFloatMap) image"),\n'
     "        .props     = AV_CODEC_PROP_INTRA_ONLY | AV_CODEC_PROP_LOSSLESS,\n"
     "    },\n",
     "    /* siedd-begin codec-desc: .siedd files (libavformat/siedddec.c, libsiedddec.c) */\n"
     "    {\n"
     "        .id        = AV_CODEC_ID_SIEDD,\n"
     "        .type      = AVMEDIA_TYPE_VIDEO,\n"
     '        .name      = "siedd",\n'
     '        .long_name = NULL_IF_CONFIG_SMALL("SIEDD neural video"),\n'
     "        .props     = AV_CODEC_PROP_INTRA_ONLY | AV_CODEC_PROP_LOSSY,\n"
     "    },\n"
     "    /* siedd-end */\n"),
    ("libavdevice/lavfi.c", "pixel-format-field",
     "    AVPacket subcc_packet;\n",
     "    /* siedd-begin pixel-format-field */\n"
     "    int pixel_format;        ///< the sinks' one pixel format, AV_PIX_FMT_NONE: any\n"
     "    /* siedd-end */\n"),
    ("libavdevice/lavfi.c", "pixel-format-option",
     '    { "dumpgraph", "dump graph to stderr",  OFFSET(dump_graph), AV_OPT_TYPE_STRING, '
     "{.str = NULL}, 0, 0, DEC },\n",
     "    /* siedd-begin pixel-format-option */\n"
     '    { "pixel_format", "the one pixel format of the video outputs (-pix_fmt before -i)", '
     "OFFSET(pixel_format), AV_OPT_TYPE_PIXEL_FMT, {.i64 = AV_PIX_FMT_NONE}, -1, INT_MAX, DEC },\n"
     "    /* siedd-end */\n"),
    ("libavdevice/lavfi.c", "pixel-format-sinks",
     "    if (!pix_fmts)\n"
     "        FAIL(AVERROR(ENOMEM));\n",
     "    /* siedd-begin pixel-format-sinks: pixel_format restricts every video sink to it */\n"
     "    if (lavfi->pixel_format != AV_PIX_FMT_NONE) {\n"
     "        pix_fmts[0] = lavfi->pixel_format;\n"
     "        pix_fmts[1] = AV_PIX_FMT_NONE;\n"
     "    }\n"
     "    /* siedd-end */\n"),
    ("fftools/ffmpeg_opt.c", "pix-fmt-request",
     "    /* configure terminal and setup signal handlers */\n"
     "    term_init();\n",
     "    /* siedd-begin pix-fmt-request: a lavfi input whose graph is a siedd source and that\n"
     "       names no pixel format takes the outputs' -pix_fmt (when they agree) as its\n"
     "       pixel_format, so that the source renders it directly: -pix_fmt rgb24 or yuv444p\n"
     "       gets the decoder's own pictures, not a conversion of its default 4:2:0 */\n"
     "    {\n"
     "        const char *wanted = NULL;\n"
     "        int agree = 1;\n"
     "        for (int i = 0; i < octx.groups[GROUP_OUTFILE].nb_groups; i++) {\n"
     "            const OptionGroup *g = &octx.groups[GROUP_OUTFILE].groups[i];\n"
     "            for (int j = 0; j < g->nb_opts; j++) {\n"
     "                const char *value = g->opts[j].val + (g->opts[j].val[0] == '+');\n"
     '                if (strcmp(g->opts[j].opt->name, "pix_fmt"))\n'
     "                    continue;\n"
     "                agree &= !wanted || !strcmp(wanted, value);\n"
     "                wanted = value;\n"
     "            }\n"
     "        }\n"
     "        if (!agree || (wanted && av_get_pix_fmt(wanted) == AV_PIX_FMT_NONE))\n"
     "            wanted = NULL;\n"
     "        for (int i = 0; wanted && i < octx.groups[GROUP_INFILE].nb_groups; i++) {\n"
     "            OptionGroup *g = &octx.groups[GROUP_INFILE].groups[i];\n"
     '            const char *graph = g->arg + strspn(g->arg, " \\t\\r\\n"), *after = NULL;\n'
     '            int lavfi = 0, named = !!av_dict_get(g->format_opts, "pixel_format", NULL, 0);\n'
     "            for (int j = 0; j < g->nb_opts; j++) {\n"
     '                lavfi |= !strcmp(g->opts[j].opt->name, "f") && !strcmp(g->opts[j].val, "lavfi");\n'
     '                named |= !strcmp(g->opts[j].opt->name, "pix_fmt");\n'
     "            }\n"
     '            if (!av_strstart(graph, "sieddsrc", &after))\n'
     '                av_strstart(graph, "siedd", &after);\n'
     "            /* the filter's name is all of the graph's first word (lavfi.c's rule) */\n"
     "            if (lavfi && !named && after && !av_isdigit(*after) && *after != '_' &&\n"
     "                !(*after >= 'a' && *after <= 'z') && !(*after >= 'A' && *after <= 'Z'))\n"
     '                av_dict_set(&g->format_opts, "pixel_format", wanted, 0);\n'
     "        }\n"
     "    }\n"
     "    /* siedd-end */\n"),
    ("fftools/ffmpeg.c", "lavfi-read-error",
     "            print_error(is->url, ret);\n"
     "            if (exit_on_error)\n"
     "                exit_program(1);\n",
     "            /* siedd-begin lavfi-read-error: a lavfi input is a filter graph; its error is\n"
     "               a failure (exit status 1), as an error in -vf's graph is; so is the siedd\n"
     "               demuxer's (a file cut short) */\n"
     "            if (!strcmp(is->iformat->name, \"lavfi\") || !strcmp(is->iformat->name, \"siedd\"))\n"
     "                main_return_code = 1;\n"
     "            /* siedd-end */\n"),
    ("fftools/ffmpeg.c", "filtering-error",
     "        ret = transcode_step();\n"
     "        if (ret < 0 && ret != AVERROR_EOF) {\n"
     "            av_log(NULL, AV_LOG_ERROR, \"Error while filtering: %s\\n\", av_err2str(ret));\n",
     "            /* siedd-begin filtering-error: a failed filter graph fails the run */\n"
     "            main_return_code = 1;\n"
     "            /* siedd-end */\n"),
    ("fftools/ffmpeg.c", "decode-error",
     "                av_log(NULL, AV_LOG_ERROR, \"Error while decoding stream #%d:%d: %s\\n\",\n"
     "                       ist->file_index, ist->st->index, av_err2str(ret));\n",
     "                /* siedd-begin decode-error: a .siedd frame that cannot be rendered is\n"
     "                   damage, not a glitch to decode past silently: exit status 1 */\n"
     "                if (ist->dec_ctx->codec_id == AV_CODEC_ID_SIEDD)\n"
     "                    main_return_code = 1;\n"
     "                /* siedd-end */\n"),
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


def with_block(text: str, name: str, anchor: str, block: str, path: Path) -> str:
    """`block` after `anchor`, or in place of the block of that name a previous run put in."""
    existing = re.search(r"[ \t]*/\* siedd-begin " + re.escape(name) + r"\b.*?/\* siedd-end \*/\n",
                         text, re.S)
    if existing:
        return text[:existing.start()] + block + text[existing.end():]
    if text.count(anchor) != 1:
        raise SystemExit(f"{path}: the anchor of '{name}' was not found exactly once "
                         "(not FFmpeg 5.1?)")
    return text.replace(anchor, anchor + block, 1)


def with_lavfi_graph_block(text: str, path: Path) -> str:
    if LAVFI_INCLUDE not in text:
        if LAVFI_INCLUDE_ANCHOR not in text:
            raise SystemExit(f"{path}: {LAVFI_INCLUDE_ANCHOR.strip()!r} not found")
        text = text.replace(LAVFI_INCLUDE_ANCHOR, LAVFI_INCLUDE_ANCHOR + LAVFI_INCLUDE, 1)
    existing = re.search(r"    /\* siedd-begin: .*?/\* siedd-end \*/\n", text, re.S)
    if existing:
        return text[:existing.start()] + LAVFI_BLOCK + text[existing.end():]
    if text.count(LAVFI_ANCHOR) != 1:
        raise SystemExit(f"{path}: the graph_str assignment was not found exactly once")
    return text.replace(LAVFI_ANCHOR, LAVFI_ANCHOR + LAVFI_BLOCK, 1)


def patch_files(src: Path) -> list[str]:
    """Every line and block, one write per file whose text changes."""
    files = sorted({f for f, *_ in LINES} | {f for f, *_ in BLOCKS} | {"libavdevice/lavfi.c"})
    changed = []
    for name in files:
        path = src / name
        text = path.read_text()
        for file, anchor, line in LINES:
            if file == name and line not in text.split("\n"):
                text = insert_after_line(text, anchor, line, path)
        if name == "libavdevice/lavfi.c":
            text = with_lavfi_graph_block(text, path)
        for file, block_name, anchor, block in BLOCKS:
            if file == name:
                text = with_block(text, block_name, anchor, block, path)
        if write_if_changed(path, text):
            changed.append(name)
    return changed


def link_sources(src: Path) -> list[str]:
    changed = []
    for name, target_name in LINKS.items():
        link = src / name
        target = HERE / target_name
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
    changed = patch_files(src) + link_sources(src)
    print(f"patch_ffmpeg: {', '.join(changed) if changed else 'already patched'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
