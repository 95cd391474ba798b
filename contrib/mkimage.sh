#!/bin/bash
# Make a base image locally (no registry needed) and import it through the CLI.
#
#   contrib/mkimage.sh busybox [TAG]   busybox:latest from Debian's busybox-static (seconds)
#   contrib/mkimage.sh debian  [TAG]   debian:bookworm from debootstrap --variant=minbase
#                                      (minutes the first time; the rootfs tarball is cached
#                                      in ${DOCKYARD_CACHE:-/var/cache/dockyard})
#   contrib/mkimage.sh python|node-slim|node|bases
#                                      the language base images built FROM debian:bookworm
#                                      with Dockerfiles: see examples/base-images/build.sh
#
# Uses `dockyard` from PATH or the repository's .venv, and DOCKYARD_HOST if set.
# `docker import` takes the same arguments, so the same images can be loaded into a
# Docker daemon for comparisons:  DOCKYARD=docker DOCKER_HOST=unix:///var/run/docker.sock
# contrib/mkimage.sh busybox
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
DOCKYARD=${DOCKYARD:-}
if [[ -z $DOCKYARD ]]; then
  if [[ -x $here/.venv/bin/dockyard ]]; then DOCKYARD=$here/.venv/bin/dockyard; else DOCKYARD=dockyard; fi
fi
cache=${DOCKYARD_CACHE:-/var/cache/dockyard}

usage() { echo "usage: $0 busybox|debian [TAG]   or   $0 python|node-slim|node|bases" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
case $1 in
  python|node-slim|node) DOCKYARD=$DOCKYARD exec "$here/examples/base-images/build.sh" "$1";;
  bases) DOCKYARD=$DOCKYARD exec "$here/examples/base-images/build.sh";;
esac

work=$(mktemp -d /tmp/dockyard-mkimage.XXXXXX)
trap 'rm -rf "$work"' EXIT

make_busybox() {
  local tag=${1:-busybox:latest} bb=/bin/busybox root=$work/rootfs
  [[ -x $bb ]] || { echo "$bb missing: apt-get install busybox-static" >&2; exit 1; }
  file -L "$bb" 2>/dev/null | grep -q 'dynamically linked' && { echo "$bb is not static" >&2; exit 1; }
  mkdir -p "$root"/{bin,dev,etc,home,proc,root,sys,tmp,usr/bin,usr/sbin,sbin,var/spool/mail,var/www}
  chmod 1777 "$root/tmp"; chmod 700 "$root/root"
  cp "$bb" "$root/bin/busybox"
  for applet in $("$bb" --list); do
    [[ $applet == busybox ]] || ln -f "$root/bin/busybox" "$root/bin/$applet"
  done
  cat >"$root/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
PW
  cat >"$root/etc/group" <<'GR'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:8:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
GR
  echo "root:*::0:::::" >"$root/etc/shadow"; chmod 600 "$root/etc/shadow"
  tar --numeric-owner -C "$root" -cf "$work/rootfs.tar" .
  "$DOCKYARD" import --change 'CMD ["sh"]' -m "busybox-static $("$bb" | head -1 | awk '{print $2}')" "$work/rootfs.tar" "$tag"
}

# The files docker's own debian images carry for life in a container (moby's
# contrib/mkimage/debootstrap): apt removes the .debs and its 80 MB of package
# caches after each run (without this every `RUN apt-get install` layer keeps
# /var/cache/apt/*.bin), downloads no translations, and package scripts start no
# services.  Only new files: an existing cached tarball gets them appended.
debian_container_tweaks() {
  local root=$1
  mkdir -p "$root/etc/apt/apt.conf.d" "$root/etc/dpkg/dpkg.cfg.d" "$root/usr/sbin"
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
  printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  printf 'Apt::AutoRemove::SuggestsImportant "false";\n' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
  printf 'force-unsafe-io\n' >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  printf '#!/bin/sh\n# no services are started by package installs inside a container\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  chmod 644 "$root"/etc/apt/apt.conf.d/docker-* "$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
}

make_debian() {
  local tag=${1:-debian:bookworm} tarball=$cache/debian-bookworm-minbase.tar
  if [[ ! -s $tarball ]]; then
    command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
    local mirror=${DEBIAN_MIRROR:-$(awk '/^deb / && /debian/ {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)}
    [[ -n $mirror ]] || mirror=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2; exit}')
    mirror=${mirror:-http://deb.debian.org/debian}
    echo "debootstrap bookworm from $mirror (cached afterwards in $tarball)" >&2
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >&2
    # What docker's debian image does: no caches, no logs, apt without recommends.
    rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/var/log/*
    printf 'APT::Install-Recommends "false";\n' >"$work/rootfs/etc/apt/apt.conf.d/99-docker-no-recommends"
    debian_container_tweaks "$work/rootfs"
    mkdir -p "$cache"
    tar --numeric-owner --xattrs -C "$work/rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
  elif ! tar -tf "$tarball" ./etc/apt/apt.conf.d/docker-clean >/dev/null 2>&1; then
    # A tarball cached before the tweaks existed: append them once (new files only,
    # so the tarball holds no duplicate entries).
    echo "adding the container tweaks to $tarball" >&2
    mkdir -p "$work/tweaks"
    debian_container_tweaks "$work/tweaks"
    cp "$tarball" "$tarball.tmp"
    (cd "$work/tweaks" && find . -type f -printf '%P\n' | sed 's|^|./|' | sort) >"$work/tweaks.list"
    tar --numeric-owner --owner=0 --group=0 -C "$work/tweaks" -rf "$tarball.tmp" -T "$work/tweaks.list" --no-recursion
    mv "$tarball.tmp" "$tarball"
  fi
  "$DOCKYARD" import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -m "debootstrap --variant=minbase bookworm" "$tarball" "$tag"
}

case $1 in
  busybox) make_busybox "${2:-}";;
  debian) make_debian "${2:-}";;
  *) usage;;
esac
