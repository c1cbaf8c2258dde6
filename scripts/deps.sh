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
command -v ssh-agent >/dev/null 2>&1 || need+=(openssh-client)          # tests/build_mounts.rs (RUN --mount=type=ssh)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)                 # tests/containers_walk.rs (Debian base, scripts/debian-rootfs.sh)
if [ ${#need[@]} -gt 0 ]; then
  echo "deps.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
