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
echo "== run: the image's CMD, as its USER, in its WORKDIR"
if "$rb" run --help >/dev/null 2>&1; then
  "$rb" run --rm hello:1.0
else
  # Until `rbuild run` exists: unpack with umoci (an independent OCI tool) and chroot into it.
  umoci unpack --image "$RBUILD_ROOT/oci:hello:1.0" "$work/bundle" >/dev/null
  cfg=$work/bundle/config.json
  user=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["process"]; print("%d:%d" % (p["user"]["uid"], p["user"]["gid"]))' "$cfg")
  cwd=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["process"]["cwd"])' "$cfg")
  mapfile -t argv < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["process"]["args"]))' "$cfg")
  mapfile -t envs < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["process"]["env"]))' "$cfg")
  env -i "${envs[@]}" chroot --userspec="$user" "$work/bundle/rootfs" /bin/sh -c "cd $cwd && exec \"\$@\"" sh "${argv[@]}"
fi
echo "== demo OK"
