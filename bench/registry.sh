#!/bin/bash
# Push and pull of a 200 MB, 5-layer image over loopback against the CNCF
# reference registry (Debian's docker-registry, started here on a temporary root),
# through the docker CLI against dockyardd and, when one answers on
# /var/run/docker.sock, against dockerd, with MB/s and the ratios.  Prints figures;
# asserts nothing.  Target for the distribution issue: at least dockerd's
# throughput both ways (ratio of times <= 1.0).
#
#   bench/registry.sh [RUNS]     (default 3; uses DOCKYARD_HOST or the default socket)
set -u
runs=${1:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
host=${DOCKYARD_HOST:-unix:///run/dockyard/dockyard.sock}
dockerd=unix:///var/run/docker.sock
port=${BENCH_REGISTRY_PORT:-15099}
command -v docker-registry >/dev/null || apt-get install -y -q docker-registry >/dev/null 2>&1
work=$(mktemp -d /tmp/bench-registry.XXXXXX)
cleanup() {
  [[ -s $work/pids ]] && kill $(cat "$work/pids") 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# 5 layers of 40 MB of random bytes (incompressible, as real layers mostly are not)
mkdir -p "$work/ctx"
{ echo "FROM busybox"; for i in 1 2 3 4 5; do head -c 40000000 /dev/urandom >"$work/ctx/part$i"; echo "COPY part$i /part$i"; done; } >"$work/ctx/Dockerfile"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds() { local s e; s=$(date +%s.%N); "$@" >"$work/last.log" 2>&1 || { echo "failed: $*" >&2; tail -3 "$work/last.log" >&2; }; e=$(date +%s.%N); echo "$e - $s" | bc -l; }

start_registry() {  # a registry of its own on PORT with an empty root: every blob really moves
  local p=$1
  rm -rf "$work/store-$p"
  printf 'version: 0.1\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
    "$work/store-$p" "$p" >"$work/registry-$p.yml"
  docker-registry serve "$work/registry-$p.yml" >>"$work/registry.log" 2>&1 &
  echo $! >>"$work/pids"
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$p/v2/" && return 0; sleep 0.1; done
  echo "registry on $p did not start" >&2
}

measure() {  # HOST → "push_seconds pull_seconds" (medians)
  local h=$1 pushes=() pulls=() i p ref
  for i in $(seq 1 "$runs"); do
    p=$((port + i + ${2:-0}))
    ref=localhost:$p/bench/big:v1
    start_registry "$p"
    DOCKER_HOST=$h DOCKER_BUILDKIT=0 docker build -q -t "$ref" "$work/ctx" >/dev/null 2>&1 || { echo "build failed on $h" >&2; return 1; }
    pushes+=("$(seconds env DOCKER_HOST=$h docker push "$ref")")
    DOCKER_HOST=$h docker rmi -f "$ref" >/dev/null 2>&1
    DOCKER_HOST=$h docker image prune -f >/dev/null 2>&1
    pulls+=("$(seconds env DOCKER_HOST=$h docker pull "$ref")")
    DOCKER_HOST=$h docker rmi -f "$ref" >/dev/null 2>&1
  done
  echo "$(printf '%s\n' "${pushes[@]}" | median) $(printf '%s\n' "${pulls[@]}" | median)"
}

mb=200
read -r ours_push ours_pull < <(measure "$host")
printf 'dockyardd: push %.2fs (%.0f MB/s), pull %.2fs (%.0f MB/s)\n' "$ours_push" "$(echo "$mb / $ours_push" | bc -l)" \
  "$ours_pull" "$(echo "$mb / $ours_pull" | bc -l)"
if DOCKER_HOST=$dockerd docker version >/dev/null 2>&1 && DOCKER_HOST=$dockerd docker image inspect busybox >/dev/null 2>&1; then
  read -r their_push their_pull < <(measure "$dockerd" 50)
  printf 'dockerd:   push %.2fs (%.0f MB/s), pull %.2fs (%.0f MB/s)\n' "$their_push" "$(echo "$mb / $their_push" | bc -l)" \
    "$their_pull" "$(echo "$mb / $their_pull" | bc -l)"
  printf 'ratio of times dockyardd/dockerd: push %.2f, pull %.2f (target <= 1.0)\n' \
    "$(echo "$ours_push / $their_push" | bc -l)" "$(echo "$ours_pull / $their_pull" | bc -l)"
else
  echo "no dockerd with busybox on $dockerd: dockyardd's figures only"
fi
