/*
 * libsiedd decoder: the frames of a .siedd file (SIEDD neural video), codec id "siedd", as
 * libavformat's siedd demuxer (libavformat/siedddec.c) hands them over: the whole file in the
 * extradata, then one packet per frame holding its index (4 bytes, little-endian).
 *
 * libsiedd (siedd.h, the project's decoder as a C library) is opened once from the extradata
 * and renders each packet's frame, at any size, in the pixel format asked for:
 *
 *   -siedd_size WxH        output size (default: the file's own)
 *   -siedd_pix_fmt FMT     yuv420p (default: what encoders and players take), yuv444p or
 *                          rgb24 (the decoder's own pixels, exact)
 *   -siedd_device D        auto, cpu or cuda
 *   -siedd_threads N       decoder threads (0: all cores)
 *
 * (ffmpeg and ffprobe take a decoder's private options before -i; the siedd_ prefix keeps
 * these names apart from every other codec's.) YUV is libsiedd's conversion: BT.709 matrix,
 * limited range, 4:2:0 chroma centred, and tagged so, as the siedd filters do.
 *
 * A frame that cannot be rendered (damage its checksums could not see) is one error line and
 * AVERROR_INVALIDDATA; the project's ffmpeg.c patch makes ffmpeg exit 1 after such an error.
 */

#include "libavutil/imgutils.h"
#include "libavutil/intreadwrite.h"
#include "libavutil/opt.h"
#include "libavutil/pixdesc.h"
#include "avcodec.h"
#include "codec_internal.h"
#include "decode.h"
#include "internal.h"

#include "siedd.h"

typedef struct LibSieddContext {
    const AVClass *class;

    /* options */
    int width, height;                  /* AV_OPT_TYPE_IMAGE_SIZE writes two ints */
    enum AVPixelFormat pix_fmt;
    int device;
    int threads;

    /* state */
    int handle;
    int format;                         /* SIEDD_FMT_* of pix_fmt */
    int frame_count;
} LibSieddContext;

static const char *const device_names[] = { "auto", "cpu", "cuda" };

/* Log libsiedd's last error and map its code to an AVERROR. */
static int libsiedd_fail(AVCodecContext *avctx, int code, const char *what)
{
    const char *message = siedd_last_error();
    if (!message || !*message)
        message = "unknown error";
    av_log(avctx, AV_LOG_ERROR, "%s%s%s\n", what ? what : "", what ? ": " : "", message);
    switch (code) {
    case SIEDD_ERR_FORMAT:    return AVERROR_INVALIDDATA;
    case SIEDD_ERR_ARG:
    case SIEDD_ERR_RANGE:     return AVERROR(EINVAL);
    default:                  return AVERROR_EXTERNAL;
    }
}

static av_cold int libsiedd_init(AVCodecContext *avctx)
{
    LibSieddContext *s = avctx->priv_data;
    int version, ret, width = 0, height = 0, fps_num = 0, fps_den = 0;

    s->handle = 0;
    switch (s->pix_fmt) {
    case AV_PIX_FMT_YUV420P: s->format = SIEDD_FMT_YUV420P; break;
    case AV_PIX_FMT_YUV444P: s->format = SIEDD_FMT_YUV444P; break;
    case AV_PIX_FMT_RGB24:   s->format = SIEDD_FMT_RGB24;   break;
    default:
        av_log(avctx, AV_LOG_ERROR, "siedd_pix_fmt %s: the decoder gives yuv420p, yuv444p or "
               "rgb24\n", av_get_pix_fmt_name(s->pix_fmt));
        return AVERROR(EINVAL);
    }

    /* cffi makes every call return 0 when the embedded Python failed to start */
    version = siedd_abi_version();
    if (!SIEDD_ABI_COMPATIBLE(version)) {
        if (!version)
            av_log(avctx, AV_LOG_ERROR, "libsiedd could not start its Python decoder (its "
                   "messages are above); rebuild it with `make ffmpeg`\n");
        else
            av_log(avctx, AV_LOG_ERROR, "libsiedd speaks ABI %#x, this decoder needs %#x; "
                   "rebuild with `make ffmpeg`\n", version, SIEDD_ABI_VERSION);
        return AVERROR_EXTERNAL;
    }
    if (!avctx->extradata_size) {
        av_log(avctx, AV_LOG_ERROR, "no .siedd file in the stream's extradata (the siedd "
               "demuxer puts it there)\n");
        return AVERROR_INVALIDDATA;
    }

    ret = siedd_open_buffer(avctx->extradata, avctx->extradata_size, s->width, s->height,
                            device_names[s->device], s->threads);
    if (ret <= 0)
        return libsiedd_fail(avctx, ret, NULL);
    s->handle = ret;
    ret = siedd_info(s->handle, &width, &height, &s->frame_count, &fps_num, &fps_den);
    if (ret != SIEDD_OK)
        return libsiedd_fail(avctx, ret, NULL);
    if ((ret = ff_set_dimensions(avctx, width, height)) < 0)
        return ret;

    avctx->pix_fmt             = s->pix_fmt;
    avctx->sample_aspect_ratio = (AVRational){ 1, 1 };
    avctx->framerate           = (AVRational){ fps_num, fps_den };
    if (s->pix_fmt == AV_PIX_FMT_RGB24) {
        /* untagged, as FFmpeg's own RGB decoders leave it */
        avctx->colorspace          = AVCOL_SPC_UNSPECIFIED;
        avctx->color_range         = AVCOL_RANGE_UNSPECIFIED;
    } else {
        avctx->colorspace          = AVCOL_SPC_BT709;
        avctx->color_range         = AVCOL_RANGE_MPEG;
        if (s->pix_fmt == AV_PIX_FMT_YUV420P)
            avctx->chroma_sample_location = AVCHROMA_LOC_CENTER;
    }
    return 0;
}

static int libsiedd_decode(AVCodecContext *avctx, AVFrame *frame, int *got_frame,
                           AVPacket *avpkt)
{
    LibSieddContext *s = avctx->priv_data;
    uint32_t index;
    char what[32];
    int ret;

    if (avpkt->size != 4) {
        av_log(avctx, AV_LOG_ERROR, "a packet of %d bytes: a siedd packet is a 4-byte frame "
               "index\n", avpkt->size);
        return AVERROR_INVALIDDATA;
    }
    index = AV_RL32(avpkt->data);
    if (index >= (uint32_t)s->frame_count) {
        av_log(avctx, AV_LOG_ERROR, "frame %"PRIu32" out of range (the file has %d)\n",
               index, s->frame_count);
        return AVERROR_INVALIDDATA;
    }
    if ((ret = ff_get_buffer(avctx, frame, 0)) < 0)
        return ret;
    ret = siedd_render_frame_planes(s->handle, (int)index, s->format, frame->data,
                                    frame->linesize);
    if (ret != SIEDD_OK) {
        snprintf(what, sizeof(what), "frame %"PRIu32, index);
        return libsiedd_fail(avctx, ret, what);
    }
    frame->key_frame = 1;
    frame->pict_type = AV_PICTURE_TYPE_I;
    *got_frame = 1;
    return avpkt->size;
}

static av_cold int libsiedd_close(AVCodecContext *avctx)
{
    LibSieddContext *s = avctx->priv_data;
    if (s->handle > 0)
        siedd_close(s->handle);
    s->handle = 0;
    return 0;
}

#define OFFSET(x) offsetof(LibSieddContext, x)
#define VD AV_OPT_FLAG_VIDEO_PARAM | AV_OPT_FLAG_DECODING_PARAM
static const AVOption options[] = {
    { "siedd_size", "output size WxH (default: the file's own)", OFFSET(width), AV_OPT_TYPE_IMAGE_SIZE, { .str = NULL }, 0, 0, VD },
    { "siedd_pix_fmt", "output pixel format: yuv420p, yuv444p or rgb24 (the decoder's own, exact)", OFFSET(pix_fmt), AV_OPT_TYPE_PIXEL_FMT, { .i64 = AV_PIX_FMT_YUV420P }, -1, INT_MAX, VD },
    { "siedd_device", "where the decoder runs", OFFSET(device), AV_OPT_TYPE_INT, { .i64 = 0 }, 0, 2, VD, "siedd_device" },
        { "auto", "CUDA when it works here, else CPU", 0, AV_OPT_TYPE_CONST, { .i64 = 0 }, 0, 0, VD, "siedd_device" },
        { "cpu",  "CPU",                               0, AV_OPT_TYPE_CONST, { .i64 = 1 }, 0, 0, VD, "siedd_device" },
        { "cuda", "CUDA (an error where it is unavailable)", 0, AV_OPT_TYPE_CONST, { .i64 = 2 }, 0, 0, VD, "siedd_device" },
    { "siedd_threads", "decoder threads, 0: all cores", OFFSET(threads), AV_OPT_TYPE_INT, { .i64 = 0 }, 0, 1024, VD },
    { NULL },
};

static const AVClass libsiedd_class = {
    .class_name = "libsiedd decoder",
    .item_name  = av_default_item_name,
    .option     = options,
    .version    = LIBAVUTIL_VERSION_INT,
};

const FFCodec ff_libsiedd_decoder = {
    .p.name         = "libsiedd",
    .p.long_name    = NULL_IF_CONFIG_SMALL("SIEDD neural video (libsiedd)"),
    .p.type         = AVMEDIA_TYPE_VIDEO,
    .p.id           = AV_CODEC_ID_SIEDD,
    .p.capabilities = AV_CODEC_CAP_DR1,
    .p.priv_class   = &libsiedd_class,
    .p.wrapper_name = "libsiedd",
    .priv_data_size = sizeof(LibSieddContext),
    .init           = libsiedd_init,
    FF_CODEC_DECODE_CB(libsiedd_decode),
    .close          = libsiedd_close,
    .caps_internal  = FF_CODEC_CAP_INIT_CLEANUP,
};
