#!/usr/bin/env bash
# Make a busybox rootfs tarball offline, from Debian's busybox-static: /bin/busybox, a relative symlink for
# every applet (what `busybox --install -s` would make), /etc/passwd and /etc/group, /tmp. Reproducible
# (sorted names, fixed mtimes, numeric root ownership).
# With DEB (a busybox-static .deb of another architecture, e.g. arm64), its /bin/busybox goes in instead,
# with the host busybox's applet list (same Debian release, same applets).
# Usage: scripts/busybox-rootfs.sh OUT.tar [DEB]
set -euo pipefail
out=${1:?usage: $0 OUT.tar [DEB]}
deb=${2:-}
bb=""
for c in /bin/busybox /usr/bin/busybox; do
  if [ -x "$c" ] && "$c" --list-full >/dev/null 2>&1 && ! ldd "$c" >/dev/null 2>&1; then bb=$c; break; fi
done
if [ -z "$bb" ]; then
  echo "busybox-rootfs.sh: a static busybox is needed: apt-get install -y busybox-static" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/rootfs
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,var,home}
chmod 1777 "$r/tmp"
chmod 700 "$r/root"
if [ -n "$deb" ]; then
  dpkg-deb -x "$deb" "$work/deb"
  install -m 0755 "$work/deb/bin/busybox" "$r/bin/busybox"
else
  install -m 0755 "$bb" "$r/bin/busybox"
fi
"$bb" --list-full | while read -r p; do
  [ "$p" = bin/busybox ] && continue
  d=$(dirname "$p")
  mkdir -p "$r/$d"
  case "$d" in
    bin|sbin) t=../bin/busybox ;;
    usr/bin|usr/sbin) t=../../bin/busybox ;;
    *) t=/bin/busybox ;;
  esac
  [ -e "$r/$p" ] || [ -L "$r/$p" ] || ln -s "$t" "$r/$p"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
tar --sort=name --mtime='2024-01-01 00:00:00Z' --owner=0 --group=0 --numeric-owner -C "$r" -cf "$out" .
