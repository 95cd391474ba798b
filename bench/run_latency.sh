#!/bin/bash
# Latency of `run --rm busybox true`: our CLI and the docker CLI against dockyardd,
# and, when a Docker daemon answers on /var/run/docker.sock with a busybox image,
# the docker CLI against it, with the ratio.  Prints figures; asserts nothing.
#
#   bench/run_latency.sh [RUNS]      (default 20; uses DOCKYARD_HOST or the default socket)
set -u
runs=${1:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
host=${DOCKYARD_HOST:-unix:///run/dockyard/dockyard.sock}
dy=$here/.venv/bin/dockyard; [[ -x $dy ]] || dy=dockyard

median() {  # median wall time in seconds of N runs of a command
  local n=$1; shift; local ts=()
  "$@" >/dev/null 2>&1  # warm up
  for _ in $(seq 1 "$n"); do
    local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
    ts+=("$(( (e - s) / 1000 ))")
  done
  printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END{printf "%.4f\n", a[int((NR+1)/2)]/1e6}'
}

ours_cli=$(median "$runs" env DOCKYARD_HOST="$host" "$dy" run --rm busybox true)
ours_docker=$(median "$runs" env DOCKER_HOST="$host" docker run --rm busybox true)
printf 'dockyard CLI -> dockyardd : %ss\n' "$ours_cli"
printf 'docker CLI   -> dockyardd : %ss\n' "$ours_docker"
if curl -sf --unix-socket /var/run/docker.sock http://d/_ping >/dev/null 2>&1 &&
   DOCKER_HOST=unix:///var/run/docker.sock docker image inspect busybox >/dev/null 2>&1; then
  theirs=$(median "$runs" env DOCKER_HOST=unix:///var/run/docker.sock docker run --rm busybox true)
  printf 'docker CLI   -> dockerd   : %ss\n' "$theirs"
  printf 'ratio dockyardd/dockerd   : %.2f (target <= 0.5)\n' "$(echo "$ours_docker / $theirs" | bc -l)"
else
  echo "dockerd not reachable on /var/run/docker.sock with a busybox image: no ratio"
fi
