#!/bin/bash
# Make the local base images, each only if it is missing (-f: rebuild anyway):
#
#   debian:bookworm            contrib/mkimage.sh debian (debootstrap; tarball cached)
#   dockyard/python:3.11-slim  python/Dockerfile     FROM debian:bookworm
#   dockyard/node:18-slim      node-slim/Dockerfile  FROM debian:bookworm
#   dockyard/node:18           node/Dockerfile       FROM dockyard/node:18-slim
#
#   examples/base-images/build.sh [-f] [python|node-slim|node ...]   (default: all)
#
# Naming: dockyard/<language>:<the version Debian bookworm ships>[-slim], read like
# the Docker Hub official image a Dockerfile would otherwise start FROM
# (python:3.11-slim, node:18, node:18-slim).  The images are Debian's packages.
#
# Uses `dockyard` from PATH or the repository's .venv (DOCKYARD=... to override;
# DOCKYARD=docker with DOCKER_HOST and DOCKER_BUILDKIT=0 builds the same images on a
# Docker daemon).  RUN steps reach the Debian mirror through the default bridge's NAT
# (BUILD_NETWORK=host uses the host's network, as a Docker daemon without a bridge needs).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
DOCKYARD=${DOCKYARD:-}
if [[ -z $DOCKYARD ]]; then
  if [[ -x $repo/.venv/bin/dockyard ]]; then DOCKYARD=$repo/.venv/bin/dockyard; else DOCKYARD=dockyard; fi
fi
BUILD_NETWORK=${BUILD_NETWORK-}
EXTRA_CA_DIR=${EXTRA_CA_DIR-/usr/local/share/ca-certificates}
stage=$(mktemp -d /tmp/dockyard-base-images.XXXXXX)
trap 'rm -rf "$stage"' EXIT

force=0
if [[ ${1:-} == -f ]]; then force=1; shift; fi
wanted=("$@"); [[ ${#wanted[@]} -gt 0 ]] || wanted=(python node-slim node)

tag_of() {
  case $1 in
    python) echo dockyard/python:3.11-slim;;
    node-slim) echo dockyard/node:18-slim;;
    node) echo dockyard/node:18;;
    *) echo "unknown base image '$1' (python, node-slim, node)" >&2; exit 2;;
  esac
}
parent_of() { case $1 in node) echo node-slim;; *) echo debian;; esac; }

have() { "$DOCKYARD" image inspect "$1" >/dev/null 2>&1; }

declare -A done_=()
ensure() {  # ensure NAME: its parent first, then itself
  local name=$1
  [[ -n ${done_[$name]:-} ]] && return 0
  done_[$name]=1
  if [[ $name == debian ]]; then
    if (( force )) || ! have debian:bookworm; then
      DOCKYARD=$DOCKYARD "$repo/contrib/mkimage.sh" debian
    fi
    return 0
  fi
  ensure "$(parent_of "$name")"
  local tag; tag=$(tag_of "$name")
  if (( ! force )) && have "$tag"; then
    echo "$tag: present"
    return 0
  fi
  local net=(); [[ -n $BUILD_NETWORK ]] && net=(--network "$BUILD_NETWORK")
  local ctx=$here/$name
  if [[ -d $ctx/extra-ca ]]; then ctx=$(stage_context "$name"); fi
  echo "$tag: building from examples/base-images/$name"
  local s e; s=$(date +%s)
  "$DOCKYARD" build "${net[@]}" -t "$tag" "$ctx"
  e=$(date +%s)
  echo "$tag: built in $((e - s)) s"
}

# A copy of the image's directory with the host's extra certificate authorities in
# extra-ca/ (see python/extra-ca/README); prints its path.
stage_context() {
  cp -a "$here/$1" "$stage/$1"
  local n=0 crt
  if [[ -n $EXTRA_CA_DIR && -d $EXTRA_CA_DIR ]]; then
    for crt in "$EXTRA_CA_DIR"/*.crt; do
      [[ -f $crt ]] || continue
      cp "$crt" "$stage/$1/extra-ca/"; n=$((n + 1))
    done
  fi
  echo "$1: $n extra CA certificate(s) from ${EXTRA_CA_DIR:-nowhere}" >&2
  echo "$stage/$1"
}

for name in "${wanted[@]}"; do tag_of "$name" >/dev/null; ensure "$name"; done
