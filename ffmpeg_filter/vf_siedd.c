/*
 * siedd / sieddsrc: frames of a .siedd file (SIEDD neural video) in an FFmpeg filter graph.
 *
 * Both filters render through libsiedd (siedd.h), the project's decoder as a C library; this
 * file only adapts it to libavfilter (FFmpeg 5.1 API).
 *
 *   sieddsrc  (no input)   the file's frames at its own rate, then EOF; with r= the clip is
 *                          re-timed through any-time rendering (frames in between are blends).
 *                          `-f lavfi -i siedd=...` reaches it: the project's lavfi.c patch
 *                          maps a graph that starts with "siedd" to "sieddsrc".
 *   siedd     (1 in/1 out) for -vf: every input frame is replaced by the render at its
 *                          timestamp (plus start); the input's pixels are never read, so any
 *                          input pixel format is accepted.
 *
 * Output pixel formats: yuv420p, yuv444p (converted by libsiedd with the BT.709 matrix, limited
 * range, and tagged so) and rgb24 (the decoder's own), in that order of preference: an encoder
 * gets the first it takes (4:2:0 for libx264, libvpx...), and 4:4:4 or RGB only when asked for
 * (a format filter after it, an encoder's -pix_fmt; for the source form through the lavfi
 * input, the project's patches pass ffmpeg's -pix_fmt to that input as its pixel_format). The
 * .siedd demuxer and decoder (siedddec.c, libsiedddec.c) are the format's other way in.
 *
 * Errors are logged once (av_log) and returned as AVERRORs. A frame that cannot be rendered
 * also becomes the output's status, so a caller that pulls again gets the error, never EAGAIN
 * (the lavfi device would otherwise wait forever after a failed first frame); the project's
 * ffmpeg.c patch (patch_ffmpeg.py) turns such an error into exit status 1 in every form.
 */

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "libavutil/imgutils.h"
#include "libavutil/internal.h"
#include "libavutil/opt.h"
#include "libavutil/parseutils.h"
#include "libavutil/pixdesc.h"
#include "avfilter.h"
#include "filters.h"
#include "formats.h"
#include "internal.h"
#include "video.h"

#include "siedd.h"

typedef struct SieddContext {
    const AVClass *class;

    /* options */
    char *filename;
    int w, h;
    int size_w, size_h;           /* s/size: AV_OPT_TYPE_IMAGE_SIZE writes two ints */
    char *rate_str;               /* sieddsrc only (siedd refuses it) */
    int64_t start;                /* microseconds */
    int64_t frames;               /* 0: no limit */
    int64_t duration;             /* microseconds, 0: no limit */
    int device;
    int threads;

    /* state */
    int handle;
    int out_w, out_h, nb_frames;
    AVRational file_rate;         /* the file's frame rate */
    AVRational rate;              /* sieddsrc: output frame rate */
    int64_t first_frame;          /* sieddsrc: first file frame when not re-timed, else -1 */
    int64_t total;                /* sieddsrc: frames to output */
    int64_t count;                /* frames output so far */
    int warned_past_end;          /* siedd: said once that input times run past the clip */
} SieddContext;

#define OFFSET(x) offsetof(SieddContext, x)
#define FLAGS AV_OPT_FLAG_VIDEO_PARAM | AV_OPT_FLAG_FILTERING_PARAM

/* One option table for both filters, so that `ffmpeg -h filter=siedd` documents all of them. */
static const AVOption siedd_options[] = {
    { "filename", "the .siedd file to render (also the first positional argument)", OFFSET(filename), AV_OPT_TYPE_STRING, {.str = NULL}, 0, 0, FLAGS },
    { "f",        "the .siedd file to render (also the first positional argument)", OFFSET(filename), AV_OPT_TYPE_STRING, {.str = NULL}, 0, 0, FLAGS },
    { "w",        "output width (0: the file's, or from h at the file's aspect ratio)", OFFSET(w), AV_OPT_TYPE_INT, {.i64 = 0}, 0, 16384, FLAGS },
    { "h",        "output height (0: the file's, or from w at the file's aspect ratio)", OFFSET(h), AV_OPT_TYPE_INT, {.i64 = 0}, 0, 16384, FLAGS },
    { "s",        "output size WxH, instead of w and h (default: the file's)", OFFSET(size_w), AV_OPT_TYPE_IMAGE_SIZE, {.str = NULL}, 0, 0, FLAGS },
    { "size",     "output size WxH, instead of w and h (default: the file's)", OFFSET(size_w), AV_OPT_TYPE_IMAGE_SIZE, {.str = NULL}, 0, 0, FLAGS },
    { "r",        "source form only (-f lavfi -i siedd=...): output frame rate, default the file's; another rate re-times the clip (frames in between are blends). With -vf the input's timestamps decide", OFFSET(rate_str), AV_OPT_TYPE_STRING, {.str = NULL}, 0, 0, FLAGS },
    { "rate",     "source form only (-f lavfi -i siedd=...): output frame rate, default the file's; another rate re-times the clip (frames in between are blends). With -vf the input's timestamps decide", OFFSET(rate_str), AV_OPT_TYPE_STRING, {.str = NULL}, 0, 0, FLAGS },
    { "start",    "clip time of the first frame (source form); with -vf, added to each input timestamp", OFFSET(start), AV_OPT_TYPE_DURATION, {.i64 = 0}, 0, INT64_MAX, FLAGS },
    { "frames",   "output at most this many frames, then EOF (0: no limit)", OFFSET(frames), AV_OPT_TYPE_INT64, {.i64 = 0}, 0, INT64_MAX, FLAGS },
    { "duration", "output at most this much time, then EOF (0: no limit)", OFFSET(duration), AV_OPT_TYPE_DURATION, {.i64 = 0}, 0, INT64_MAX, FLAGS },
    { "device",   "where the decoder runs", OFFSET(device), AV_OPT_TYPE_INT, {.i64 = 0}, 0, 2, FLAGS, "device" },
        { "auto", "CUDA when it works here, else CPU", 0, AV_OPT_TYPE_CONST, {.i64 = 0}, 0, 0, FLAGS, "device" },
        { "cpu",  "CPU",                               0, AV_OPT_TYPE_CONST, {.i64 = 1}, 0, 0, FLAGS, "device" },
        { "cuda", "CUDA (an error where it is unavailable)", 0, AV_OPT_TYPE_CONST, {.i64 = 2}, 0, 0, FLAGS, "device" },
    { "threads",  "decoder threads, 0: all cores", OFFSET(threads), AV_OPT_TYPE_INT, {.i64 = 0}, 0, 1024, FLAGS },
    { NULL }
};

static const char *const device_names[] = { "auto", "cpu", "cuda" };

/* In order of preference where the consumer takes several (a source's output goes to the first
   one its consumer takes): 4:2:0 is what encoders and players take; 4:4:4 and RGB (exact) are
   had by asking for them. */
static const enum AVPixelFormat out_pix_fmts[] = {
    AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUV444P, AV_PIX_FMT_RGB24, AV_PIX_FMT_NONE
};

static int siedd_format(enum AVPixelFormat fmt)
{
    switch (fmt) {
    case AV_PIX_FMT_RGB24:   return SIEDD_FMT_RGB24;
    case AV_PIX_FMT_YUV444P: return SIEDD_FMT_YUV444P;
    case AV_PIX_FMT_YUV420P: return SIEDD_FMT_YUV420P;
    default:                 return 0;
    }
}

/* Log libsiedd's last error and map its code to an AVERROR. */
static int siedd_fail(AVFilterContext *ctx, int code, const char *what)
{
    const char *message = siedd_last_error();
    if (!message || !*message)
        message = "unknown error";
    av_log(ctx, AV_LOG_ERROR, "%s%s%s\n", what ? what : "", what ? ": " : "", message);
    switch (code) {
    case SIEDD_ERR_NOT_FOUND: return AVERROR(ENOENT);
    case SIEDD_ERR_FORMAT:    return AVERROR_INVALIDDATA;
    case SIEDD_ERR_ARG:
    case SIEDD_ERR_RANGE:     return AVERROR(EINVAL);
    default:                  return AVERROR_EXTERNAL;
    }
}

static av_cold int siedd_open_file(AVFilterContext *ctx)
{
    SieddContext *s = ctx->priv;
    int version, ret, w = s->w, h = s->h, fps_num = 0, fps_den = 0;

    s->handle = 0;
    if (!s->filename || !*s->filename) {
        av_log(ctx, AV_LOG_ERROR, "no .siedd file given: use %s=FILE.siedd[:w=W:h=H]\n",
               ctx->filter->name);
        return AVERROR(EINVAL);
    }
    if (s->size_w || s->size_h) {
        if ((w && w != s->size_w) || (h && h != s->size_h)) {
            av_log(ctx, AV_LOG_ERROR, "size %dx%d given twice, differently (s=%dx%d, w=%d, h=%d)\n",
                   s->size_w, s->size_h, s->size_w, s->size_h, w, h);
            return AVERROR(EINVAL);
        }
        w = s->size_w;
        h = s->size_h;
    }

    /* cffi makes every call return 0 when the embedded Python failed to start */
    version = siedd_abi_version();
    if (!SIEDD_ABI_COMPATIBLE(version)) {
        if (!version)
            av_log(ctx, AV_LOG_ERROR, "libsiedd could not start its Python decoder (its "
                   "messages are above); rebuild it with `make ffmpeg`\n");
        else
            av_log(ctx, AV_LOG_ERROR, "libsiedd speaks ABI %#x, this filter needs "
                   "%#x; rebuild with `make ffmpeg`\n", version, SIEDD_ABI_VERSION);
        return AVERROR_EXTERNAL;
    }

    ret = siedd_open(s->filename, w, h, device_names[s->device], s->threads);
    if (ret <= 0)
        return siedd_fail(ctx, ret, NULL);
    s->handle = ret;

    ret = siedd_info(s->handle, &s->out_w, &s->out_h, &s->nb_frames, &fps_num, &fps_den);
    if (ret != SIEDD_OK)
        return siedd_fail(ctx, ret, s->filename);
    if (fps_num <= 0 || fps_den <= 0 || s->nb_frames <= 0) {
        av_log(ctx, AV_LOG_ERROR, "%s: bad frame rate %d/%d or frame count %d\n",
               s->filename, fps_num, fps_den, s->nb_frames);
        return AVERROR_INVALIDDATA;
    }
    s->file_rate = (AVRational){ fps_num, fps_den };
    if ((ret = av_image_check_size(s->out_w, s->out_h, 0, ctx)) < 0)
        return ret;
    return 0;
}

static av_cold void siedd_uninit(AVFilterContext *ctx)
{
    SieddContext *s = ctx->priv;
    if (s->handle > 0)
        siedd_close(s->handle);
    s->handle = 0;
}

static void siedd_tag_frame(AVFrame *frame, enum AVPixelFormat fmt)
{
    frame->key_frame           = 1;
    frame->interlaced_frame    = 0;
    frame->pict_type           = AV_PICTURE_TYPE_I;
    frame->sample_aspect_ratio = (AVRational){ 1, 1 };
    if (fmt == AV_PIX_FMT_RGB24) {
        /* left untagged, as FFmpeg's own RGB sources do: a tag here would travel through an
           RGB->YUV scale and mislabel its output */
        frame->colorspace      = AVCOL_SPC_UNSPECIFIED;
        frame->color_range     = AVCOL_RANGE_UNSPECIFIED;
        frame->chroma_location = AVCHROMA_LOC_UNSPECIFIED;
    } else {
        frame->colorspace      = AVCOL_SPC_BT709;
        frame->color_range     = AVCOL_RANGE_MPEG;
        frame->chroma_location = fmt == AV_PIX_FMT_YUV420P ? AVCHROMA_LOC_CENTER
                                                           : AVCHROMA_LOC_UNSPECIFIED;
    }
    frame->color_primaries = AVCOL_PRI_UNSPECIFIED;
    frame->color_trc       = AVCOL_TRC_UNSPECIFIED;
}

/* Render file frame `index` (>= 0) or, when index < 0, the picture at `seconds`. */
static int siedd_render(AVFilterContext *ctx, AVFrame *frame, int64_t index, double seconds)
{
    SieddContext *s = ctx->priv;
    int fmt = siedd_format(frame->format), ret;
    char what[64];

    if (!fmt) {
        av_log(ctx, AV_LOG_ERROR, "unexpected pixel format %s\n",
               av_get_pix_fmt_name(frame->format));
        return AVERROR_BUG;
    }
    if (index >= 0) {
        ret = siedd_render_frame_planes(s->handle, (int)index, fmt, frame->data, frame->linesize);
        snprintf(what, sizeof(what), "frame %"PRId64, index);
    } else {
        ret = siedd_render_time_planes(s->handle, seconds, fmt, frame->data, frame->linesize);
        snprintf(what, sizeof(what), "time %.6f s", seconds);
    }
    if (ret != SIEDD_OK)
        return siedd_fail(ctx, ret, what);
    siedd_tag_frame(frame, frame->format);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* sieddsrc                                                                                   */

static av_cold int sieddsrc_init(AVFilterContext *ctx)
{
    SieddContext *s = ctx->priv;
    double clip_seconds, start_seconds;
    int ret;

    if ((ret = siedd_open_file(ctx)) < 0)
        return ret;

    s->rate = s->file_rate;
    if (s->rate_str && (av_parse_video_rate(&s->rate, s->rate_str) < 0 ||
                        s->rate.num <= 0 || s->rate.den <= 0)) {
        av_log(ctx, AV_LOG_ERROR, "bad frame rate '%s'\n", s->rate_str);
        return AVERROR(EINVAL);
    }

    clip_seconds  = (double)s->nb_frames * s->file_rate.den / s->file_rate.num;
    start_seconds = s->start / 1e6;
    if (start_seconds >= clip_seconds) {
        av_log(ctx, AV_LOG_ERROR, "start %.6f s is not before the end of %s (%d frames, "
               "%.6f s)\n", start_seconds, s->filename, s->nb_frames, clip_seconds);
        return AVERROR(EINVAL);
    }

    /* the file's own frames when the rate is the file's and start falls on a frame */
    s->first_frame = -1;
    if (!av_cmp_q(s->rate, s->file_rate) &&
        (s->start * s->file_rate.num) % ((int64_t)s->file_rate.den * 1000000) == 0) {
        s->first_frame = s->start * s->file_rate.num / ((int64_t)s->file_rate.den * 1000000);
        s->total = s->nb_frames - s->first_frame;
    } else if (!s->start) {
        /* ceil(clip duration * rate), exactly */
        s->total = av_rescale_rnd(s->nb_frames, (int64_t)s->file_rate.den * s->rate.num,
                                  (int64_t)s->file_rate.num * s->rate.den, AV_ROUND_UP);
    } else {
        s->total = (int64_t)ceil((clip_seconds - start_seconds) * av_q2d(s->rate) - 1e-6);
    }
    if (s->frames > 0)
        s->total = FFMIN(s->total, s->frames);
    if (s->duration > 0)
        s->total = FFMIN(s->total, av_rescale_rnd(s->duration, s->rate.num,
                                                  (int64_t)s->rate.den * 1000000, AV_ROUND_UP));
    s->total = FFMAX(s->total, 1);
    s->count = 0;
    av_log(ctx, AV_LOG_VERBOSE, "%s: %dx%d, %d frames at %d/%d fps -> %"PRId64" frames at "
           "%d/%d fps%s\n", s->filename, s->out_w, s->out_h, s->nb_frames, s->file_rate.num,
           s->file_rate.den, s->total, s->rate.num, s->rate.den,
           s->first_frame < 0 ? " (re-timed)" : "");
    return 0;
}

static int sieddsrc_config_props(AVFilterLink *outlink)
{
    SieddContext *s = outlink->src->priv;
    outlink->w                   = s->out_w;
    outlink->h                   = s->out_h;
    outlink->sample_aspect_ratio = (AVRational){ 1, 1 };
    outlink->frame_rate          = s->rate;
    outlink->time_base           = av_inv_q(s->rate);
    return 0;
}

static int sieddsrc_activate(AVFilterContext *ctx)
{
    SieddContext *s = ctx->priv;
    AVFilterLink *outlink = ctx->outputs[0];
    AVFrame *frame;
    int ret;

    if (!ff_outlink_frame_wanted(outlink))
        return FFERROR_NOT_READY;
    if (s->count >= s->total) {
        ff_outlink_set_status(outlink, AVERROR_EOF, s->count);
        return 0;
    }
    frame = ff_get_video_buffer(outlink, outlink->w, outlink->h);
    if (!frame)
        return AVERROR(ENOMEM);
    if (s->first_frame >= 0)
        ret = siedd_render(ctx, frame, s->first_frame + s->count, 0.0);
    else
        ret = siedd_render(ctx, frame, -1,
                           s->start / 1e6 + (double)s->count * s->rate.den / s->rate.num);
    if (ret < 0) {
        /* the error becomes the output's status: whoever pulls again (the lavfi device,
           ffmpeg's -filter_complex, a buffersink) gets this error, not EAGAIN forever */
        av_frame_free(&frame);
        ff_outlink_set_status(outlink, ret, s->count);
        return ret;
    }
    frame->pts          = s->count++;
    frame->pkt_duration = 1;
    return ff_filter_frame(outlink, frame);
}

AVFILTER_DEFINE_CLASS_EXT(sieddsrc, "sieddsrc", siedd_options);

static const AVFilterPad sieddsrc_outputs[] = {
    {
        .name          = "default",
        .type          = AVMEDIA_TYPE_VIDEO,
        .config_props  = sieddsrc_config_props,
    },
};

const AVFilter ff_vsrc_sieddsrc = {
    .name          = "sieddsrc",
    .description   = NULL_IF_CONFIG_SMALL("Render a .siedd (SIEDD neural video) file at any size: "
                                          "its frames at its own rate, or re-timed with r. "
                                          "`-f lavfi -i siedd=...` is this filter."),
    .priv_size     = sizeof(SieddContext),
    .priv_class    = &sieddsrc_class,
    .init          = sieddsrc_init,
    .uninit        = siedd_uninit,
    .activate      = sieddsrc_activate,
    .inputs        = NULL,
    FILTER_OUTPUTS(sieddsrc_outputs),
    FILTER_PIXFMTS_ARRAY(out_pix_fmts),
};

/* ------------------------------------------------------------------------------------------ */
/* siedd (-vf)                                                                                */

static av_cold int siedd_init(AVFilterContext *ctx)
{
    SieddContext *s = ctx->priv;
    s->count = 0;
    if (s->rate_str) {
        av_log(ctx, AV_LOG_ERROR, "r/rate is for the source form (-f lavfi -i siedd=...); "
               "with -vf the input's timestamps decide (put an fps filter before siedd)\n");
        return AVERROR(EINVAL);
    }
    return siedd_open_file(ctx);
}

static int siedd_query_formats(AVFilterContext *ctx)
{
    int ret;
    /* the input's pixels are never read: any format, no conversion in front of us */
    if ((ret = ff_formats_ref(ff_all_formats(AVMEDIA_TYPE_VIDEO),
                              &ctx->inputs[0]->outcfg.formats)) < 0)
        return ret;
    return ff_formats_ref(ff_make_format_list(out_pix_fmts), &ctx->outputs[0]->incfg.formats);
}

static int siedd_config_output(AVFilterLink *outlink)
{
    SieddContext *s = outlink->src->priv;
    outlink->w                   = s->out_w;
    outlink->h                   = s->out_h;
    outlink->sample_aspect_ratio = (AVRational){ 1, 1 };
    return 0;
}

static int siedd_filter_one(AVFilterContext *ctx, AVFrame *in)
{
    SieddContext *s = ctx->priv;
    AVFilterLink *inlink = ctx->inputs[0], *outlink = ctx->outputs[0];
    AVFrame *out;
    double seconds, clip_seconds;
    int ret;

    if (in->pts != AV_NOPTS_VALUE)
        seconds = in->pts * av_q2d(inlink->time_base);
    else    /* no timestamp: the file's own frame sequence */
        seconds = (double)s->count * s->file_rate.den / s->file_rate.num;

    if ((s->frames > 0 && s->count >= s->frames) ||
        (s->duration > 0 && seconds * 1e6 >= (double)s->duration - 0.5)) {
        int64_t pts = in->pts;
        av_frame_free(&in);
        ff_inlink_set_status(inlink, AVERROR_EOF);
        ff_outlink_set_status(outlink, AVERROR_EOF, pts);
        return 0;
    }

    seconds += s->start / 1e6;     /* the clip's time from here on */
    clip_seconds = (double)s->nb_frames * s->file_rate.den / s->file_rate.num;
    if (!s->warned_past_end && seconds >= clip_seconds) {
        av_log(ctx, AV_LOG_WARNING, "input time %.3f s is past the clip's end (%d frames, "
               "%.3f s): holding its last frame from here on\n", seconds, s->nb_frames,
               clip_seconds);
        s->warned_past_end = 1;
    }

    out = ff_get_video_buffer(outlink, outlink->w, outlink->h);
    if (!out) {
        av_frame_free(&in);
        return AVERROR(ENOMEM);
    }
    ret = siedd_render(ctx, out, -1, seconds);
    if (ret < 0) {
        /* as in sieddsrc: the error is the output's status from now on (and, through
           FF_FILTER_FORWARD_STATUS_BACK, the input's) */
        ff_outlink_set_status(outlink, ret, in->pts);
        av_frame_free(&in);
        av_frame_free(&out);
        return ret;
    }
    out->pts          = in->pts;
    out->pkt_duration = in->pkt_duration;
    av_frame_free(&in);
    s->count++;
    return ff_filter_frame(outlink, out);
}

static int siedd_activate(AVFilterContext *ctx)
{
    AVFilterLink *inlink = ctx->inputs[0], *outlink = ctx->outputs[0];
    AVFrame *in;
    int ret;

    FF_FILTER_FORWARD_STATUS_BACK(outlink, inlink);
    ret = ff_inlink_consume_frame(inlink, &in);
    if (ret < 0)
        return ret;
    if (ret > 0)
        return siedd_filter_one(ctx, in);
    FF_FILTER_FORWARD_STATUS(inlink, outlink);
    FF_FILTER_FORWARD_WANTED(outlink, inlink);
    return FFERROR_NOT_READY;
}

AVFILTER_DEFINE_CLASS_EXT(siedd, "siedd", siedd_options);

static const AVFilterPad siedd_inputs[] = {
    {
        .name = "default",
        .type = AVMEDIA_TYPE_VIDEO,
    },
};

static const AVFilterPad siedd_outputs[] = {
    {
        .name         = "default",
        .type         = AVMEDIA_TYPE_VIDEO,
        .config_props = siedd_config_output,
    },
};

const AVFilter ff_vf_siedd = {
    .name          = "siedd",
    .description   = NULL_IF_CONFIG_SMALL("Replace each frame by the render of a .siedd (SIEDD "
                                          "neural video) file at its timestamp, at any size. "
                                          "As an input: `-f lavfi -i siedd=...` (see sieddsrc)."),
    .priv_size     = sizeof(SieddContext),
    .priv_class    = &siedd_class,
    .init          = siedd_init,
    .uninit        = siedd_uninit,
    .activate      = siedd_activate,
    FILTER_INPUTS(siedd_inputs),
    FILTER_OUTPUTS(siedd_outputs),
    FILTER_QUERY_FUNC(siedd_query_formats),
};
