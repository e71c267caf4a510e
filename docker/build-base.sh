#!/bin/sh
# Makes the base image docker/Dockerfile builds FROM when no image registry is
# reachable: a minimal Debian root file system made by debootstrap from the machine's
# own Debian mirror, imported into podman (or docker) as one layer.
#
# Usage (as root): docker/build-base.sh [IMAGE]        default IMAGE: localhost/debian-base:bookworm
# Environment:
#   SUITE   Debian release to bootstrap (default: this machine's, from /etc/os-release)
#   MIRROR  Debian mirror (default: the first deb.debian.org-style URI in apt's sources)
#   ENGINE  podman or docker (default: podman)
#   FORCE=1 rebuild even if IMAGE exists
#
# The minbase variant holds what bin/tsetcd needs at run time: glibc, libstdc++ and
# libgcc (apt depends on them), /bin/sh and useradd. The host's node binary links only
# those (ldd), which is why the suite defaults to the host's own release.
set -eu

image=${1:-localhost/debian-base:bookworm}
engine=${ENGINE:-podman}

if [ "${FORCE:-0}" != 1 ] && "$engine" image exists "$image" 2>/dev/null; then
  echo "build-base: $image already exists (FORCE=1 to rebuild)"
  exit 0
fi

if [ -z "${SUITE:-}" ]; then
  SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
fi
if [ -z "${MIRROR:-}" ]; then
  # deb822 sources (URIs: ...) first, then one-line sources (deb URI suite ...).
  MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | awk '/^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }')
  if [ -z "$MIRROR" ]; then
    MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }')
  fi
fi
if [ -z "$SUITE" ] || [ -z "$MIRROR" ]; then
  echo "build-base: cannot tell the Debian suite ($SUITE) or mirror ($MIRROR); set SUITE and MIRROR" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "build-base: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/tsetcd-base.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
echo "build-base: debootstrap --variant=minbase $SUITE from $MIRROR"
debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}
# Trim what a container never uses: apt lists and package caches, docs and man pages.
rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin \
  "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/usr/share/doc/"* \
  "$work/rootfs/usr/share/man/"* "$work/rootfs/usr/share/info/"*

tar -C "$work/rootfs" --numeric-owner -c . | "$engine" import \
  --change 'CMD ["/bin/bash"]' \
  --message "debootstrap --variant=minbase $SUITE $MIRROR" - "$image"
echo "build-base: imported $image"
