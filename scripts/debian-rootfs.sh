#!/usr/bin/env bash
# A real Debian 12 (bookworm) rootfs tarball from Debian's own packages: `mmdebstrap --variant=minbase`
# (30-70 s, ~170 MB, needs Debian's package mirror). Cached: a second call returns at once. Used by
# tests/containers_walk.rs and scripts/bench-containers; import it as the tests do:
#   rbuild import OUT.tar debian:12 --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["bash"]'
# Usage: scripts/debian-rootfs.sh [OUT.tar]  (default /var/cache/rbuild-bench/debian12.tar); prints the path.
set -euo pipefail
OUT=${1:-/var/cache/rbuild-bench/debian12.tar}
mkdir -p "$(dirname "$OUT")"
# One maker at a time (test binaries may run in parallel).
exec 9>"$OUT.lock"
flock 9
if [ -d "$OUT" ]; then
  # An unpacked tree under that name (mmdebstrap takes an output name without a tar suffix for a directory).
  tar --numeric-owner -C "$OUT" -cf "$OUT.part" . && rm -rf "$OUT" && mv "$OUT.part" "$OUT"
fi
if [ ! -s "$OUT" ]; then
  command -v mmdebstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null; }
  mmdebstrap --quiet --variant=minbase --format=tar bookworm "$OUT.part" && mv "$OUT.part" "$OUT"
fi
echo "$OUT"
