#!/usr/bin/env bash
# @module scripts/docker/build-test-images.sh
# Build the two images the Docker sandbox tests and benchmark use, without any image registry:
#   potato-test/busybox:latest  a root filesystem made from the host's static busybox
#   potato-test/python:latest   a Debian minbase root filesystem with python3 and git
# Each is `docker import`ed from a tarball. A build is skipped when its image already exists;
# the Debian packages are cached outside the repository so a rebuild needs no download.
# Needs root, a running engine (scripts/docker/start-engine.sh), busybox-static and debootstrap.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_DIR="${POTATO_IMAGE_CACHE:-/var/cache/potato-test-images}"
SUITE="${POTATO_DEBIAN_SUITE:-bookworm}"
BUSYBOX_IMAGE="potato-test/busybox:latest"
PYTHON_IMAGE="potato-test/python:latest"

"$HERE/start-engine.sh"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "build-test-images: '$1' is missing: apt-get install -y $2" >&2
    exit 1
  fi
}

# The mirror apt already uses (deb822 sources first, then the one-line format).
debian_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
      /etc/apt/sources.list.d/*.sources | head -n 1)"
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri="$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
      /etc/apt/sources.list | head -n 1)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

WORK="$(mktemp -d /tmp/potato-image-build.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

build_busybox() {
  if image_exists "$BUSYBOX_IMAGE"; then
    echo "build-test-images: $BUSYBOX_IMAGE exists, skipping"
    return
  fi
  need busybox busybox-static
  local bb root="$WORK/busybox"
  bb="$(command -v busybox)"
  # ldd fails on a static binary: a dynamic busybox would not run in an empty root filesystem.
  if ldd "$bb" >/dev/null 2>&1; then
    echo "build-test-images: $bb is dynamically linked; install busybox-static" >&2
    exit 1
  fi
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home/user,workspace,proc,sys,dev}
  chmod 1777 "$root/tmp"
  cp "$bb" "$root/bin/busybox"
  # Same result as `busybox --install -s`: one symlink per applet at its usual place.
  local applet
  for applet in $("$bb" --list-full); do
    [ "$applet" = "bin/busybox" ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
  done
  cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
  cat >"$root/etc/group" <<'GROUP'
root:x:0:
user:x:1000:
nogroup:x:65534:
GROUP
  chown 1000:1000 "$root/home/user"
  tar -C "$root" --numeric-owner -cf - . |
    docker import --change 'CMD ["/bin/sh"]' --change 'WORKDIR /workspace' - "$BUSYBOX_IMAGE" >/dev/null
  echo "build-test-images: built $BUSYBOX_IMAGE"
}

build_python() {
  if image_exists "$PYTHON_IMAGE"; then
    echo "build-test-images: $PYTHON_IMAGE exists, skipping"
    return
  fi
  need debootstrap debootstrap
  local mirror packages root="$WORK/python" tarball
  mirror="$(debian_mirror)"
  packages="python3,git,ca-certificates"
  tarball="$CACHE_DIR/debootstrap-$SUITE-minbase-$(echo "$packages" | tr ',' '-').tgz"
  mkdir -p "$CACHE_DIR"
  if [ ! -s "$tarball" ]; then
    echo "build-test-images: downloading Debian $SUITE packages from $mirror (cached in $tarball)"
    debootstrap --variant=minbase --include="$packages" --make-tarball="$tarball.partial" \
      "$SUITE" "$WORK/download" "$mirror"
    mv "$tarball.partial" "$tarball"
  fi
  echo "build-test-images: installing Debian $SUITE into a root filesystem"
  debootstrap --variant=minbase --include="$packages" --unpack-tarball="$tarball" \
    "$SUITE" "$root" "$mirror"
  # Leave the image small and free of host state: no apt lists or package caches.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/*
  chroot "$root" /usr/sbin/useradd --uid 1000 --create-home --shell /bin/bash user
  mkdir -p "$root/workspace"
  tar -C "$root" --numeric-owner -cf - . |
    docker import --change 'CMD ["/bin/bash"]' --change 'WORKDIR /workspace' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' - "$PYTHON_IMAGE" >/dev/null
  echo "build-test-images: built $PYTHON_IMAGE"
}

case "${1:-all}" in
  busybox) build_busybox ;;
  python) build_python ;;
  all) build_busybox; build_python ;;
  *) echo "usage: $0 [busybox|python|all]" >&2; exit 2 ;;
esac
