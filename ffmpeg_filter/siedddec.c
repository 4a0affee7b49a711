/*
 * siedd demuxer: a .siedd file (SIEDD neural video) as one video stream, for every
 * libavformat-based tool (ffmpeg, ffprobe, a program linked to this FFmpeg).
 *
 * Probing: the file's 8 magic bytes ("SIEDD\r\n\x1a", docs/FORMAT.md) and its major version.
 * Reading: the whole file (at most SIEDD_MAX_BUFFER_BYTES) becomes the stream's extradata,
 * which the libsiedd decoder (libavcodec/libsiedddec.c) renders from; libsiedd checks the file
 * and says what it declares (siedd_buffer_info: no ONNX Runtime session is made here). Each
 * frame is then one 4-byte packet holding its index (little-endian), every packet a keyframe,
 * pts = the index in a time base of 1/fps: every frame decodes on its own, so a seek is exact
 * and cheap (read_seek just moves the next index), inside a group too.
 *
 * A file cut short: the frames of its complete groups come out, then one error naming what is
 * missing (the project's ffmpeg.c patch turns that read error into exit status 1). Any other
 * damage is refused when the file is opened, with libsiedd's one-line message.
 */

#include <inttypes.h>

#include "libavutil/common.h"
#include "libavutil/intreadwrite.h"
#include "libavutil/mem.h"
#include "avformat.h"
#include "internal.h"

#include "siedd.h"

#define SIEDD_MAGIC         "SIEDD\r\n\x1a"
#define SIEDD_MAGIC_SIZE    8
#define SIEDD_READ_CHUNK    (1 << 20)

typedef struct SieddDemuxContext {
    int64_t next;               /* index of the next frame to emit */
    int frame_count;            /* frames the file declares */
    int readable_frames;        /* frames of its complete groups */
} SieddDemuxContext;

/* The magic alone: a version this build does not read is still a .siedd file, which libsiedd
   then refuses by name ("written by a newer siedd"). */
static int siedd_probe(const AVProbeData *p)
{
    if (p->buf_size < SIEDD_MAGIC_SIZE || memcmp(p->buf, SIEDD_MAGIC, SIEDD_MAGIC_SIZE))
        return 0;
    return AVPROBE_SCORE_MAX;
}

/* The whole file into a padded buffer (any input: a pipe has no size). */
static int siedd_read_all(AVFormatContext *s, uint8_t **out, int *out_size)
{
    uint8_t *data = NULL, *grown;
    int64_t size = 0, capacity = 0, hint = avio_size(s->pb);
    int ret;

    *out = NULL;
    if (hint > SIEDD_MAX_BUFFER_BYTES) {
        av_log(s, AV_LOG_ERROR, "the file holds %"PRId64" bytes: more than the %d MiB this "
               "demuxer reads\n", hint, SIEDD_MAX_BUFFER_BYTES >> 20);
        return AVERROR(EFBIG);
    }
    for (;;) {
        if (capacity - size < SIEDD_READ_CHUNK) {
            capacity = hint > 0 && !capacity ? hint + 1 : FFMAX(2 * capacity, SIEDD_READ_CHUNK);
            capacity = FFMIN(capacity, (int64_t)SIEDD_MAX_BUFFER_BYTES + 1);
            grown = av_realloc(data, capacity + AV_INPUT_BUFFER_PADDING_SIZE);
            if (!grown) {
                av_free(data);
                return AVERROR(ENOMEM);
            }
            data = grown;
        }
        ret = avio_read(s->pb, data + size, FFMIN(capacity - size, SIEDD_READ_CHUNK));
        if (ret == AVERROR_EOF || ret == 0)
            break;
        if (ret < 0) {
            av_free(data);
            return ret;
        }
        size += ret;
        if (size > SIEDD_MAX_BUFFER_BYTES) {
            av_free(data);
            av_log(s, AV_LOG_ERROR, "the file holds more than the %d MiB this demuxer reads\n",
                   SIEDD_MAX_BUFFER_BYTES >> 20);
            return AVERROR(EFBIG);
        }
    }
    memset(data + size, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    *out = data;
    *out_size = size;
    return 0;
}

static int siedd_read_header(AVFormatContext *s)
{
    SieddDemuxContext *c = s->priv_data;
    AVStream *st;
    uint8_t *data;
    const char *message;
    int size, version, ret, width = 0, height = 0, fps_num = 0, fps_den = 0;

    /* cffi makes every call return 0 when the embedded Python failed to start */
    version = siedd_abi_version();
    if (!SIEDD_ABI_COMPATIBLE(version)) {
        if (!version)
            av_log(s, AV_LOG_ERROR, "libsiedd could not start its Python decoder (its "
                   "messages are above); rebuild it with `make ffmpeg`\n");
        else
            av_log(s, AV_LOG_ERROR, "libsiedd speaks ABI %#x, this demuxer needs %#x; "
                   "rebuild with `make ffmpeg`\n", version, SIEDD_ABI_VERSION);
        return AVERROR_EXTERNAL;
    }

    if ((ret = siedd_read_all(s, &data, &size)) < 0)
        return ret;
    ret = siedd_buffer_info(data, size, &width, &height, &c->frame_count, &c->readable_frames,
                            &fps_num, &fps_den);
    if (ret != SIEDD_OK) {
        message = siedd_last_error();
        av_log(s, AV_LOG_ERROR, "%s\n", message && *message ? message : "libsiedd failed");
        av_free(data);
        return ret == SIEDD_ERR_FORMAT ? AVERROR_INVALIDDATA : AVERROR_EXTERNAL;
    }
    if (width <= 0 || height <= 0 || fps_num <= 0 || fps_den <= 0 || c->frame_count <= 0 ||
        c->readable_frames <= 0 || c->readable_frames > c->frame_count) {
        av_log(s, AV_LOG_ERROR, "libsiedd described the file as %dx%d, %d/%d fps, %d of %d "
               "frames\n", width, height, fps_num, fps_den, c->readable_frames, c->frame_count);
        av_free(data);
        return AVERROR_BUG;
    }

    if (!(st = avformat_new_stream(s, NULL))) {
        av_free(data);
        return AVERROR(ENOMEM);
    }
    st->codecpar->extradata      = data;
    st->codecpar->extradata_size = size;
    st->codecpar->codec_type     = AVMEDIA_TYPE_VIDEO;
    st->codecpar->codec_id       = AV_CODEC_ID_SIEDD;
    st->codecpar->width          = width;
    st->codecpar->height         = height;
    /* the decoder's default output: with it known here, probing the stream decodes nothing */
    st->codecpar->format         = AV_PIX_FMT_YUV420P;
    st->codecpar->sample_aspect_ratio = (AVRational){ 1, 1 };
    st->avg_frame_rate = st->r_frame_rate = (AVRational){ fps_num, fps_den };
    avpriv_set_pts_info(st, 64, fps_den, fps_num);
    st->start_time = 0;
    st->duration   = c->frame_count;
    st->nb_frames  = c->frame_count;
    /* everything a prober wants is known here, timestamps too: avformat_find_stream_info then
       reads no packet, and so opens no decoder (each open is an ONNX Runtime session, and an
       error in the decoder's options would be said twice) */
    s->max_ts_probe = 0;
    c->next = 0;
    if (c->readable_frames < c->frame_count)
        av_log(s, AV_LOG_WARNING, "the file is cut short: only its first %d of %d frames can "
               "be decoded\n", c->readable_frames, c->frame_count);
    return 0;
}

static int siedd_read_packet(AVFormatContext *s, AVPacket *pkt)
{
    SieddDemuxContext *c = s->priv_data;
    int ret;

    if (c->next >= c->frame_count)
        return AVERROR_EOF;
    if (c->next >= c->readable_frames) {
        av_log(s, AV_LOG_ERROR, "the file is cut short: frames %d to %d cannot be decoded "
               "(their group is incomplete)\n", c->readable_frames, c->frame_count - 1);
        c->next = c->frame_count;           /* said once: EOF from here on */
        return AVERROR_INVALIDDATA;
    }
    if ((ret = av_new_packet(pkt, 4)) < 0)
        return ret;
    AV_WL32(pkt->data, (uint32_t)c->next);
    pkt->stream_index = 0;
    pkt->pts = pkt->dts = c->next;
    pkt->duration = 1;
    pkt->pos = -1;
    pkt->flags |= AV_PKT_FLAG_KEY;
    c->next++;
    return 0;
}

/* Every frame is a keyframe: the next packet is the frame at `timestamp` (the stream's 1/fps
   time base: av_seek_frame has converted a stream_index -1 seek), clamped to the clip. */
static int siedd_read_seek(AVFormatContext *s, int stream_index, int64_t timestamp, int flags)
{
    SieddDemuxContext *c = s->priv_data;

    if (flags & AVSEEK_FLAG_BYTE)
        return AVERROR(ENOSYS);
    c->next = av_clip64(timestamp, 0, c->frame_count - 1);
    return 0;
}

const AVInputFormat ff_siedd_demuxer = {
    .name           = "siedd",
    .long_name      = NULL_IF_CONFIG_SMALL("SIEDD neural video"),
    .priv_data_size = sizeof(SieddDemuxContext),
    .read_probe     = siedd_probe,
    .read_header    = siedd_read_header,
    .read_packet    = siedd_read_packet,
    .read_seek      = siedd_read_seek,
    .extensions     = "siedd",
    .flags          = AVFMT_NOBINSEARCH | AVFMT_NOGENSEARCH | AVFMT_NO_BYTE_SEEK,
};
