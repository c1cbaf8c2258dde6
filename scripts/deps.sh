#!/usr/bin/env bash
# Install what rbuild's demo and tests need on Debian, only when missing.
set -euo pipefail
need=()
command -v busybox >/dev/null 2>&1 && busybox --list-full >/dev/null 2>&1 || need+=(busybox-static)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v umoci >/dev/null 2>&1 || need+=(umoci)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v cargo >/dev/null 2>&1 || need+=(cargo)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v bzip2 >/dev/null 2>&1 || need+=(bzip2)
# The sandbox's seccomp filter links libseccomp dynamically (-lseccomp from libseccomp-dev at build time,
# libseccomp2 at run time; dynamic because libseccomp is LGPL); pkg-config checks for it.
pkg-config --exists libseccomp 2>/dev/null || need+=(libseccomp-dev pkg-config)
# tests/security_sandbox.rs builds a static C probe for exact system calls.
command -v gcc >/dev/null 2>&1 || need+=(gcc)
compgen -G '/usr/lib/*-linux-gnu/libc.a' >/dev/null || need+=(libc6-dev)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)   # tests/registry.rs
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)            # tests/registry.rs (htpasswd -B)
command -v openssl >/dev/null 2>&1 || need+=(openssl)                   # tests/registry.rs (test CA)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)                 # tests/output.rs (docker load)
command -v pasta >/dev/null 2>&1 || need+=(passt)                       # container networking (pasta)
command -v ip >/dev/null 2>&1 || need+=(iproute2)                       # named networks (bridge, veth pairs)
command -v ssh-agent >/dev/null 2>&1 || need+=(openssh-client)          # tests/build_mounts.rs (RUN --mount=type=ssh)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static) # tests/platforms.rs (RUN under qemu)
command -v update-binfmts >/dev/null 2>&1 || need+=(binfmt-support)        # registers qemu's binfmt_misc handlers
command -v git >/dev/null 2>&1 || need+=(git)                               # ADD <git url> (engine::git); tests/copy.rs (git daemon)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)                 # tests/containers_walk.rs (Debian base, scripts/debian-rootfs.sh)
if [ ${#need[@]} -gt 0 ]; then
  echo "deps.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# tests/platforms.rs: an arm64 busybox base (Debian's own binary, fetched from the apt mirror once) and
# binfmt_misc with qemu's handlers enabled (a kernel setting, not a network change), so RUN can emulate.
arm64_deb=/var/cache/rbuild-test/busybox-static_arm64.deb
if [ ! -s "$arm64_deb" ]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt-get update -qq
  fi
  mkdir -p "${arm64_deb%/*}"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq busybox-static:arm64 && mv busybox-static_*_arm64.deb "$arm64_deb")
  rm -rf "$tmp"
fi
[ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable
