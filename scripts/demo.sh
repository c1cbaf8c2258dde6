#!/usr/bin/env bash
# The main job end to end, offline: build rbuild, make a busybox base image, build examples/hello with
# rbuild, check it with skopeo, and run the image's command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --quiet
rb=$PWD/target/release/rbuild
export RBUILD_ROOT=${RBUILD_ROOT:-$(mktemp -d /tmp/rbuild-demo.XXXXXX)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== store: $RBUILD_ROOT"
scripts/busybox-rootfs.sh "$work/busybox.tar"
"$rb" import "$work/busybox.tar" busybox:latest \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["sh"]'
echo "== rbuild build -t hello:1.0 examples/hello"
"$rb" build -t hello:1.0 examples/hello
"$rb" images
echo "== skopeo inspect oci:$RBUILD_ROOT/oci:hello:1.0"
skopeo inspect "oci:$RBUILD_ROOT/oci:hello:1.0" | head -20
echo "== rbuild run --rm hello:1.0   (the image's CMD, as its USER, in its WORKDIR, in a sandbox)"
"$rb" run --rm hello:1.0
echo "== umoci unpack (an independent OCI implementation) agrees on the files"
umoci unpack --image "$RBUILD_ROOT/oci:hello:1.0" "$work/bundle" >/dev/null
cat "$work/bundle/rootfs/var/lib/hello/status"
echo "== demo OK"
