/*
 * capi_check: a C program that exercises libsiedd's API (siedd.h) the way FFmpeg's filter and
 * any other C caller do. tests/test_capi.py compiles it against the built library, runs it
 * (with a minimal environment) and compares what it prints and writes with SieddReader.
 *
 *   capi_check FILE.siedd WIDTH HEIGHT OUT_DIR
 *
 * Prints "key value..." lines; writes OUT_DIR/rgb.raw (every frame, packed rgb24),
 * OUT_DIR/time.raw (the picture at 0.123 s) and OUT_DIR/yuv420p.raw (frame 5, packed planes).
 * The *_buffer calls get the file read into memory, whole and cut short.
 * libsiedd embeds Python: run this in its own process, never inside a Python program.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siedd.h"

#define PAD 7

static int handle, width, height, frames;
static unsigned char *sequential;            /* every frame, packed */

static void report(const char *key, int code)
{
    printf("%s %d %s\n", key, code, code < 0 ? siedd_last_error() : "");
}

static int write_file(const char *dir, const char *name, const void *data, size_t size)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!(f = fopen(path, "wb")) || fwrite(data, 1, size, f) != size) {
        perror(path);
        return -1;
    }
    return fclose(f);
}

static void *render_some(void *arg)
{
    int start = *(int *)arg, i, bad = 0;
    size_t frame_bytes = (size_t)width * height * 3;
    unsigned char *out = malloc(frame_bytes);
    for (i = start; i < frames; i += 3) {
        if (siedd_render_frame(handle, i, out, width * 3) != SIEDD_OK ||
            memcmp(out, sequential + i * frame_bytes, frame_bytes))
            bad++;
    }
    free(out);
    return (void *)(size_t)bad;
}

int main(int argc, char **argv)
{
    char missing[4096];
    int version, w = 0, h = 0, n = 0, num = 0, den = 0, i, r, ok, code;
    size_t frame_bytes, stride;
    unsigned char *buffer;

    if (argc != 5) {
        fprintf(stderr, "usage: %s FILE.siedd WIDTH HEIGHT OUT_DIR\n", argv[0]);
        return 2;
    }
    width = atoi(argv[2]);
    height = atoi(argv[3]);

    version = siedd_abi_version();
    printf("abi %#x\n", version);
    if (!SIEDD_ABI_COMPATIBLE(version))
        return 1;                          /* 0: the embedded Python did not start */

    snprintf(missing, sizeof(missing), "%s/missing.siedd", argv[4]);
    report("open_missing", siedd_open(missing, 0, 0, NULL, 0));
    report("open_not_siedd", siedd_open(argv[0], 0, 0, NULL, 0));
    report("open_negative_size", siedd_open(argv[1], -5, 10, NULL, 0));
    report("open_huge_size", siedd_open(argv[1], 20000, 10, NULL, 0));
    report("open_bad_device", siedd_open(argv[1], 0, 0, "tpu", 0));
    report("open_bad_threads", siedd_open(argv[1], 0, 0, "cpu", -1));
    report("open_null", siedd_open(NULL, 0, 0, NULL, 0));
    report("close_unknown", siedd_close(12345));

    /* aspect ratio from the width alone */
    code = siedd_open(argv[1], 2 * width, 0, "cpu", 1);
    report("open_width_only", code > 0 ? SIEDD_OK : code);
    if (code > 0) {
        r = siedd_info(code, &w, &h, NULL, NULL, NULL);
        printf("width_only_size %d %d %d\n", r, w, h);
        siedd_close(code);
    }

    handle = siedd_open(argv[1], width, height, "cpu", 1);
    report("open", handle > 0 ? SIEDD_OK : handle);
    if (handle <= 0)
        return 1;
    r = siedd_info(handle, &w, &h, &n, &num, &den);
    printf("info %d %d %d %d %d %d\n", r, w, h, n, num, den);
    r = siedd_native_size(handle, &w, &h);
    printf("native %d %d %d\n", r, w, h);
    report("info_nulls", siedd_info(handle, NULL, NULL, NULL, NULL, NULL));
    frames = n;

    /* every frame into a padded buffer: rows at a stride, padding untouched */
    frame_bytes = (size_t)width * height * 3;
    stride = (size_t)width * 3 + PAD;
    buffer = malloc(stride * height);
    sequential = malloc(frame_bytes * frames);
    ok = 1;
    for (i = 0; i < frames; i++) {
        int y, x;
        memset(buffer, 0xAB, stride * height);
        if ((r = siedd_render_frame(handle, i, buffer, (int)stride)) != SIEDD_OK) {
            report("render_frame", r);
            return 1;
        }
        for (y = 0; y < height; y++) {
            memcpy(sequential + i * frame_bytes + (size_t)y * width * 3, buffer + y * stride,
                   (size_t)width * 3);
            for (x = 0; x < PAD; x++)
                ok &= buffer[y * stride + width * 3 + x] == 0xAB;
        }
    }
    printf("padding_untouched %d\n", ok);
    write_file(argv[4], "rgb.raw", sequential, frame_bytes * frames);

    r = siedd_render_time(handle, 0.123, buffer, width * 3);
    report("render_time", r);
    write_file(argv[4], "time.raw", buffer, frame_bytes);

    memset(buffer, 0xAB, stride * height);
    report("render_out_of_range", siedd_render_frame(handle, frames, buffer, (int)stride));
    report("render_negative", siedd_render_frame(handle, -1, buffer, (int)stride));
    report("render_short_stride", siedd_render_frame(handle, 0, buffer, width * 3 - 1));
    report("render_null", siedd_render_frame(handle, 0, NULL, (int)stride));
    for (i = 0, ok = 1; i < (int)(stride * height); i++)
        ok &= buffer[i] == 0xAB;
    printf("failed_calls_wrote_nothing %d\n", ok);

    /* yuv420p planes with their own strides */
    {
        int cw = (width + 1) / 2, ch = (height + 1) / 2;
        int strides[3] = { width + 9, cw + 5, cw + 3 };
        uint8_t *planes[3], *packed = malloc((size_t)width * height + 2 * (size_t)cw * ch), *p;
        planes[0] = malloc((size_t)strides[0] * height);
        planes[1] = malloc((size_t)strides[1] * ch);
        planes[2] = malloc((size_t)strides[2] * ch);
        report("render_yuv420p", siedd_render_frame_planes(handle, 5, SIEDD_FMT_YUV420P,
                                                           planes, strides));
        report("render_bad_format", siedd_render_frame_planes(handle, 5, 99, planes, strides));
        p = packed;
        for (i = 0; i < height; i++, p += width)
            memcpy(p, planes[0] + (size_t)i * strides[0], width);
        for (r = 1; r < 3; r++)
            for (i = 0; i < ch; i++, p += cw)
                memcpy(p, planes[r] + (size_t)i * strides[r], cw);
        write_file(argv[4], "yuv420p.raw", packed, p - packed);
    }

    /* three threads at once on the same handle */
    {
        pthread_t threads[3];
        int starts[3] = { 0, 1, 2 };
        size_t bad = 0;
        void *result;
        for (i = 0; i < 3; i++)
            pthread_create(&threads[i], NULL, render_some, &starts[i]);
        for (i = 0; i < 3; i++) {
            pthread_join(threads[i], &result);
            bad += (size_t)result;
        }
        printf("threads_mismatches %zu\n", bad);
    }

    /* the same file from memory */
    {
        FILE *f = fopen(argv[1], "rb");
        long size;
        uint8_t *data, junk[64] = "not a siedd file, just bytes";
        int readable = 0, from_memory;
        unsigned char *frame = malloc(frame_bytes);
        if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET))
            return 1;
        data = malloc(size);
        if (fread(data, 1, size, f) != (size_t)size)
            return 1;
        fclose(f);
        r = siedd_buffer_info(data, size, &w, &h, &n, &readable, &num, &den);
        printf("buffer_info %d %d %d %d %d %d %d\n", r, w, h, n, readable, num, den);
        r = siedd_buffer_info(data, size - 10, NULL, NULL, &n, &readable, NULL, NULL);
        printf("buffer_info_cut %d %d %d\n", r, n, readable);
        report("buffer_info_header_only", siedd_buffer_info(data, 60, NULL, NULL, NULL, NULL,
                                                            NULL, NULL));
        report("buffer_info_junk", siedd_buffer_info(junk, sizeof(junk), NULL, NULL, NULL, NULL,
                                                     NULL, NULL));
        report("buffer_info_null", siedd_buffer_info(NULL, size, NULL, NULL, NULL, NULL, NULL,
                                                     NULL));
        report("buffer_info_empty", siedd_buffer_info(data, 0, NULL, NULL, NULL, NULL, NULL,
                                                      NULL));
        report("buffer_info_too_large", siedd_buffer_info(data, (int64_t)SIEDD_MAX_BUFFER_BYTES + 1,
                                                          NULL, NULL, NULL, NULL, NULL, NULL));
        report("open_buffer_junk", siedd_open_buffer(junk, sizeof(junk), 0, 0, NULL, 0));
        from_memory = siedd_open_buffer(data, size, width, height, "cpu", 1);
        memset(data, 0, size);                 /* the library keeps its own copy */
        free(data);
        report("open_buffer", from_memory > 0 ? SIEDD_OK : from_memory);
        if (from_memory <= 0)
            return 1;
        r = siedd_info(from_memory, &w, &h, &n, &num, &den);
        printf("buffer_handle_info %d %d %d %d %d %d\n", r, w, h, n, num, den);
        for (i = 0, ok = 1; i < frames; i++) {
            ok &= siedd_render_frame(from_memory, i, frame, width * 3) == SIEDD_OK &&
                  !memcmp(frame, sequential + i * frame_bytes, frame_bytes);
        }
        printf("buffer_frames_equal %d\n", ok);
        report("buffer_close", siedd_close(from_memory));
        free(frame);
    }

    report("close", siedd_close(handle));
    report("close_again", siedd_close(handle));
    report("info_closed", siedd_info(handle, NULL, NULL, NULL, NULL, NULL));
    return 0;
}
