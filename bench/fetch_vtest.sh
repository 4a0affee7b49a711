#!/usr/bin/env bash
# Fetch vtest.avi (768x576, 795 frames @ 10 fps, a real outdoor camera) into $1/clips, from
# Debian's opencv-doc package (apt-get download: no root needed, nothing installed).
# Idempotent: does nothing when the clip is already there.
set -euo pipefail
cache="${1:?usage: fetch_vtest.sh CACHE_DIR}"
[ -s "$cache/clips/vtest.avi" ] && exit 0
mkdir -p "$cache/clips" "$cache/debs"
cache=$(cd "$cache" && pwd)
clips="$cache/clips"
cd "$cache/debs"
if ! ls opencv-doc_*.deb >/dev/null 2>&1; then
  if ! apt-get download opencv-doc >/dev/null 2>&1; then
    # a fresh machine may have no package lists yet
    if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; fi
    apt-get download opencv-doc >/dev/null 2>&1 || {
      echo "fetch_vtest.sh: 'apt-get download opencv-doc' failed (a Debian/Ubuntu apt source is needed)" >&2
      exit 1; }
  fi
fi
deb=$(ls opencv-doc_*.deb | head -n 1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards '*/examples/data/vtest.avi'
found=$(find "$tmp" -name vtest.avi -type f | head -n 1)
[ -s "$found" ] || { echo "fetch_vtest.sh: vtest.avi not found in $deb" >&2; exit 1; }
mv "$found" "$clips/.vtest.avi.tmp"
mv "$clips/.vtest.avi.tmp" "$clips/vtest.avi"
rm -f "$deb"
echo "fetched vtest.avi ($(stat -c %s "$clips/vtest.avi") bytes)"
