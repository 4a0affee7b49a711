/*
 * siedd.h - C API of libsiedd, the .siedd decoder as a C shared library.
 *
 * libsiedd is built with cffi's embedding mode (ffmpeg_filter/build_lib.py): every function
 * below runs siedd_codec.capi in an embedded Python, which calls siedd_codec.reader.SieddReader
 * (there is no second decoder). The interpreter starts on the first call (0.2-1 s) and finds
 * the project's virtual environment by itself, whatever PATH holds.
 *
 * Conventions
 *  - Every call returns a negative SIEDD_ERR_* code on failure; siedd_last_error() then gives a
 *    one-line message (per calling thread, valid until that thread's next failing call).
 *  - 0 is never a success value. If the embedded Python cannot start, cffi makes every call
 *    return 0: call siedd_abi_version() first and accept the library only when
 *    SIEDD_ABI_COMPATIBLE(version) holds (0 never does).
 *  - Any thread may call; calls on one handle are serialised.
 *  - For programs that don't run Python themselves (FFmpeg, C tools): cffi's start-up lock can
 *    spin forever in a process whose own Python is already running. From Python, use
 *    siedd_codec.reader.SieddReader directly.
 *  - Pixels: SIEDD_FMT_RGB24 is the decoder's own output (packed R, G, B). SIEDD_FMT_YUV444P
 *    and SIEDD_FMT_YUV420P are converted from it with the BT.709 matrix, limited range
 *    (Y 16..235, Cb/Cr 16..240); 4:2:0 chroma is the mean of each 2x2 block (centre siting),
 *    an odd last column/row averaging what it has.
 */
#ifndef SIEDD_H
#define SIEDD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIEDD_ABI_VERSION   0x53450002  /* 'S' 'E' major 0 minor 2 */

/* A library whose siedd_abi_version() passes this has every call below: the same major
   version, and a minor one at least this header's (minor versions only add calls). */
#define SIEDD_ABI_COMPATIBLE(version) \
    (((version) & ~0xff) == (SIEDD_ABI_VERSION & ~0xff) && \
     ((version) & 0xff) >= (SIEDD_ABI_VERSION & 0xff))

/* The largest .siedd file the *_buffer calls take, in bytes (512 MiB): the library copies it,
   so a caller holds about twice this at most. */
#define SIEDD_MAX_BUFFER_BYTES 0x20000000

#define SIEDD_OK             1   /* success (never 0, see above) */
#define SIEDD_ERR_INTERNAL  -1   /* unexpected failure inside the decoder */
#define SIEDD_ERR_NOT_FOUND -2   /* the file does not exist or cannot be read */
#define SIEDD_ERR_FORMAT    -3   /* not a .siedd file, or a damaged one */
#define SIEDD_ERR_ARG       -4   /* bad argument: size, device, threads, stride, format */
#define SIEDD_ERR_HANDLE    -5   /* no such handle (never opened, or closed) */
#define SIEDD_ERR_RANGE     -6   /* frame index out of range, or a time that is not finite */

#define SIEDD_FMT_RGB24      1   /* planes[0]: width*3 bytes a row */
#define SIEDD_FMT_YUV444P    2   /* planes Y, Cb, Cr, each width x height */
#define SIEDD_FMT_YUV420P    3   /* Y width x height; Cb, Cr ceil(width/2) x ceil(height/2) */

/* --- cffi-begin: the declarations between these markers are the library's exports --- */

/* SIEDD_ABI_VERSION when the library is usable; 0 when its Python side failed to start. */
int siedd_abi_version(void);

/* The last failure's message on the calling thread ("" if none). Never NULL once
   siedd_abi_version() succeeded; owned by the library. */
const char *siedd_last_error(void);

/* Open a .siedd file for rendering at width x height. width = height = 0: the file's own size;
   one of them 0: derived from the other, keeping the file's aspect ratio. device: "auto",
   "cpu" or "cuda" (NULL: "auto"). threads: the decoder's CPU threads, 0 = all cores.
   Returns a handle (> 0) or a negative SIEDD_ERR_*. */
int siedd_open(const char *path, int width, int height, const char *device, int threads);

/* siedd_open for a .siedd file held in memory: size bytes at data (1..SIEDD_MAX_BUFFER_BYTES;
   more is SIEDD_ERR_ARG). The library keeps its own copy: data may be freed after the call.
   Since ABI minor 2. */
int siedd_open_buffer(const uint8_t *data, int64_t size, int width, int height,
                      const char *device, int threads);

/* What a .siedd file held in memory declares, without preparing to render it (no ONNX Runtime
   session), after the checks of opening (header, checksums, META, graphs): its own size,
   frame_count as declared, the frame rate, and readable_frames, the frames of its complete
   groups (less than frame_count for a file cut short: frames from readable_frames on cannot
   be rendered). A file without one complete group is SIEDD_ERR_FORMAT. Any pointer but data
   may be NULL. SIEDD_OK or a negative code. Since ABI minor 2. */
int siedd_buffer_info(const uint8_t *data, int64_t size, int *width, int *height,
                      int *frame_count, int *readable_frames, int *fps_num, int *fps_den);

/* Release a handle. SIEDD_OK or SIEDD_ERR_HANDLE. */
int siedd_close(int handle);

/* Output size, number of frames, frame rate (fps_num / fps_den) of an open handle.
   frame_count is what the file declares: of a file cut short, rendering a frame past its
   complete groups fails with SIEDD_ERR_FORMAT, so a caller renders what is there and then
   reports the file as incomplete. Any pointer may be NULL. SIEDD_OK or a negative code. */
int siedd_info(int handle, int *width, int *height, int *frame_count,
               int *fps_num, int *fps_den);

/* The file's own (encoded) size. SIEDD_OK or a negative code. */
int siedd_native_size(int handle, int *width, int *height);

/* Render frame `index` (0-based), or the picture at `seconds` (the linear blend of the two
   nearest frames; clamped to the clip), as RGB24 into dst: height rows of width*3 bytes,
   row r at dst + r*stride (stride >= width*3). SIEDD_OK or a negative code. */
int siedd_render_frame(int handle, int index, uint8_t *dst, int stride);
int siedd_render_time(int handle, double seconds, uint8_t *dst, int stride);

/* The same in any SIEDD_FMT_*: planes[i] and strides[i] for each plane of the format (an
   FFmpeg AVFrame's data and linesize arrays fit). SIEDD_OK or a negative code. */
int siedd_render_frame_planes(int handle, int index, int format,
                              uint8_t **planes, const int *strides);
int siedd_render_time_planes(int handle, double seconds, int format,
                             uint8_t **planes, const int *strides);

/* --- cffi-end --- */

#ifdef __cplusplus
}
#endif

#endif /* SIEDD_H */
