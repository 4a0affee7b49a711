#!/usr/bin/env bash
# Build the project's FFmpeg 5.1 with siedd's components (the siedd filters, the .siedd demuxer
# and decoder) and install ffmpeg and ffprobe into VENV/bin. Called by `make ffmpeg`; every step
# is skipped when its result is already there, so a re-run with nothing changed only lets
# FFmpeg's own make find nothing to do.
#
#   bash ffmpeg_filter/build_ffmpeg.sh VENV BUILD_DIR
#
# 1. Debian packages: the build tools (nasm for x86 assembly, pkg-config) and the -dev packages
#    of every external library configure is told to use (linked dynamically).
# 2. FFmpeg 5.1's pristine source via `apt-get source --download-only ffmpeg`, with a private apt
#    configuration (deb-src twins of this machine's own Debian entries, lists in BUILD_DIR/apt):
#    no system file is changed and no mirror is named here.
# 3. ffmpeg_filter/patch_ffmpeg.py registers siedd's components; their C files are linked into
#    the tree.
# 4. configure (re-run only when its flags or the component registries change): a full FFmpeg -
#    every native decoder, encoder, demuxer, muxer, parser, bitstream filter, filter and local
#    protocol - plus the encoders and decoders Debian ships as libraries (x264, x265, libvpx,
#    dav1d, opus, LAME, Vorbis, SVT-AV1; freetype for drawtext, libxml2 for the DASH demuxer),
#    GPL because of x264 and x265. --disable-autodetect: only the libraries named here, so the
#    result does not depend on what else is installed. No network protocols, no devices but the
#    lavfi input, no ffplay. Linked to VENV/lib/libsiedd.so (built before, by
#    ffmpeg_filter/build_lib.py) with an rpath.
# 5. make -j$(nproc); copy ffmpeg and ffprobe into VENV/bin. From scratch: 10.4 CPU-minutes,
#    about 6 minutes on 2 idle cores (BUILD_DIR/build-times.log keeps every run's time).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$(realpath -m "${1:-$ROOT/.venv}")
BUILD=$(realpath -m "${2:-$ROOT/build/ffmpeg}")
FILTER_DIR=$ROOT/ffmpeg_filter
LIBDIR=$VENV/lib
PY=$VENV/bin/python
[ -x "$PY" ] || PY=python3

log() { echo "[ffmpeg] $*"; }
die() { echo "[ffmpeg] error: $*" >&2; exit 1; }
started=$SECONDS

[ -f "$LIBDIR/libsiedd.so" ] || die "$LIBDIR/libsiedd.so missing: build it first (make ffmpeg does)"
mkdir -p "$BUILD"

# --- 1. packages -----------------------------------------------------------------------------
LIBRARY_PACKAGES=(libx264-dev libx265-dev libvpx-dev libdav1d-dev libopus-dev libmp3lame-dev
                  libvorbis-dev libsvtav1enc-dev libfreetype-dev libxml2-dev zlib1g-dev
                  libbz2-dev liblzma-dev)
PACKAGES=(nasm pkg-config xz-utils make gcc "${LIBRARY_PACKAGES[@]}")
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt)"
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    apt_get() {
        local try
        for try in 1 2 3; do
            "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get -q -o DPkg::Lock::Timeout=300 "$@" && return 0
            log "apt-get $1 failed (try $try), retrying"
            sleep $((try * 10))
        done
        return 1
    }
    apt_get update
    apt_get install -y --no-install-recommends "${missing[@]}"
fi

# --- 2. source -------------------------------------------------------------------------------
find_source() {
    [ -d "$BUILD/src" ] || return 0
    find "$BUILD/src" -mindepth 2 -maxdepth 2 -name .siedd-extracted -printf '%h\n' | sort | tail -n1
}
SRC=$(find_source)
if [ -z "$SRC" ]; then
    t0=$SECONDS
    APT=$BUILD/apt
    rm -rf "$APT" "$BUILD/download"
    mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/parts" "$BUILD/download"
    : > "$APT/sources.list"
    if [ -f /etc/apt/sources.list ]; then
        sed -n -E 's/^[[:space:]]*deb[[:space:]]+/deb-src /p' /etc/apt/sources.list > "$APT/sources.list"
    fi
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && sed -E 's/^Types:.*$/Types: deb-src/' "$f" > "$APT/parts/$(basename "$f")"
    done
    for f in /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && sed -n -E 's/^[[:space:]]*deb[[:space:]]+/deb-src /p' "$f" > "$APT/parts/$(basename "$f")"
    done
    APT_OPTS=(-q -o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=$APT/parts"
              -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache")
    [ "$(id -u)" -eq 0 ] && APT_OPTS+=(-o APT::Sandbox::User=root)
    fetched=0
    for try in 1 2 3; do
        # a third-party entry without sources may fail its update: the download decides
        apt-get "${APT_OPTS[@]}" update >"$BUILD/apt-update.log" 2>&1 || true
        if (cd "$BUILD/download" && apt-get "${APT_OPTS[@]}" source --download-only ffmpeg \
                >"$BUILD/apt-source.log" 2>&1); then
            fetched=1
            break
        fi
        log "apt-get source ffmpeg failed (try $try), retrying"
        sleep $((try * 10))
    done
    ((fetched)) || { cat "$BUILD/apt-update.log" "$BUILD/apt-source.log" >&2; die "could not fetch FFmpeg's source"; }
    tarball=$(ls "$BUILD"/download/ffmpeg_*.orig.tar.* 2>/dev/null | head -n1)
    [ -n "$tarball" ] || die "apt-get source gave no ffmpeg_*.orig.tar.* (see $BUILD/apt-source.log)"
    case "$(basename "$tarball")" in
        ffmpeg_5.1.*) ;;
        *) die "this project builds FFmpeg 5.1 (Debian 12's); apt offers $(basename "$tarball")" ;;
    esac
    rm -rf "$BUILD/src"
    mkdir -p "$BUILD/src"
    tar --no-same-owner -xf "$tarball" -C "$BUILD/src"
    SRC=$(find "$BUILD/src" -mindepth 1 -maxdepth 1 -type d -name 'ffmpeg-5.1*' | head -n1)
    [ -n "$SRC" ] && [ -x "$SRC/configure" ] || die "unexpected layout in $tarball"
    touch "$SRC/.siedd-extracted"
    log "source $(basename "$SRC") fetched in $((SECONDS - t0)) s"
fi

# --- 3. register the filters -----------------------------------------------------------------
"$PY" "$FILTER_DIR/patch_ffmpeg.py" "$SRC"

# --- 4. configure ----------------------------------------------------------------------------
JOBS=$(nproc)
CONFIG=(
    --prefix="$BUILD/install"
    --disable-autodetect --disable-doc --disable-debug --disable-ffplay --disable-network
    --disable-indevs --enable-indev=lavfi --disable-outdevs
    --enable-gpl
    --enable-libx264 --enable-libx265 --enable-libvpx --enable-libdav1d --enable-libopus
    --enable-libmp3lame --enable-libvorbis --enable-libsvtav1 --enable-libfreetype
    --enable-libxml2 --enable-zlib --enable-bzlib --enable-lzma --enable-iconv
    --extra-ldflags="-L$LIBDIR -Wl,-rpath,$LIBDIR"
    --extra-libs=-lsiedd
)
stamp=$BUILD/configure.flags
if [ ! -f "$SRC/ffbuild/config.mak" ] || [ ! -f "$stamp" ] || \
        [ "$(cat "$stamp")" != "${CONFIG[*]}" ] || \
        [ -n "$(find "$SRC/libavfilter/allfilters.c" "$SRC/libavformat/allformats.c" \
                "$SRC/libavcodec/allcodecs.c" -newer "$SRC/ffbuild/config.mak")" ]; then
    t0=$SECONDS
    log "configure"
    rm -f "$stamp"
    (cd "$SRC" && ./configure "${CONFIG[@]}" > "$BUILD/configure.log" 2>&1) \
        || { tail -n 30 "$SRC/ffbuild/config.log" >&2; die "configure failed (log: $BUILD/configure.log, $SRC/ffbuild/config.log)"; }
    echo "${CONFIG[*]}" > "$stamp"
    log "configure took $((SECONDS - t0)) s"
fi

# --- 5. build and install --------------------------------------------------------------------
t0=$SECONDS
log "make -j$JOBS"
make -C "$SRC" -j"$JOBS" ffmpeg ffprobe > "$BUILD/make.log" 2>&1 \
    || { tail -n 40 "$BUILD/make.log" >&2; die "make failed (log: $BUILD/make.log)"; }
log "make took $((SECONDS - t0)) s"

mkdir -p "$VENV/bin"
for prog in ffmpeg ffprobe; do
    if ! cmp -s "$SRC/$prog" "$VENV/bin/$prog"; then
        cp "$SRC/$prog" "$VENV/bin/.$prog.partial"      # never overwrite a running binary
        mv -f "$VENV/bin/.$prog.partial" "$VENV/bin/$prog"
        log "installed $VENV/bin/$prog"
    fi
done
for kind in filters demuxers decoders; do
    listing=$("$VENV/bin/ffmpeg" -hide_banner "-$kind" 2>/dev/null) || true
    grep -Eq '^ [^ ]+ +(lib)?siedd ' <<< "$listing" \
        || die "the installed ffmpeg has no siedd among its $kind"
done
total=$((SECONDS - started))
echo "$(date -u +%FT%TZ) build_ffmpeg.sh: ${total} s (nproc ${JOBS})" >> "$BUILD/build-times.log"
log "done in ${total} s"
