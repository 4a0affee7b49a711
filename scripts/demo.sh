#!/usr/bin/env bash
# The main job on a real clip: encode carphone (176x144, 120 frames) with the tiny preset on the
# default device, decode it back at twice its size to a video file, print PSNR, bpp and times.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
mkdir -p out
clip=.cache/siedd/clips/carphone_pristine.mp4
start=$(date +%s.%N)
$bin/siedd encode "$clip" -o out/carphone.siedd --preset tiny --json > out/carphone.json
mid=$(date +%s.%N)
$bin/siedd decode out/carphone.siedd -o out/carphone_352x288.mp4 --size 352x288 --quiet -y
end=$(date +%s.%N)
$bin/python - "$start" "$mid" "$end" <<'PY'
import json, sys
s = json.load(open("out/carphone.json"))
t0, t1, t2 = map(float, sys.argv[1:])
print(f"encoded {s['frames']} frames {s['width']}x{s['height']} on {s['device']}: "
      f"PSNR {s['psnr']:.2f} dB, {s['bytes']} bytes = {s['bpp']:.4f} bpp, "
      f"encode {t1 - t0:.1f} s (training {s['train_seconds']:.1f} s)")
print(f"decoded at 352x288 to out/carphone_352x288.mp4 in {t2 - t1:.1f} s")
PY
