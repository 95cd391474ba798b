#!/bin/bash
# Latency of `docker exec CONTAINER true` through the docker CLI against dockyardd,
# and against dockerd on /var/run/docker.sock when one answers with a busybox image.
# Prints figures and the ratio (target for the containers issue: <= 1.0).
#
#   bench/exec_latency.sh [RUNS]     (default 20; uses DOCKYARD_HOST or the default socket)
set -u
runs=${1:-20}
host=${DOCKYARD_HOST:-unix:///run/dockyard/dockyard.sock}

median() {
  local n=$1; shift; local ts=()
  "$@" >/dev/null 2>&1
  for _ in $(seq 1 "$n"); do
    local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
    ts+=("$(( (e - s) / 1000 ))")
  done
  printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END{printf "%.4f\n", a[int((NR+1)/2)]/1e6}'
}

ours_id=$(DOCKER_HOST=$host docker run -d busybox sleep 600)
trap 'DOCKER_HOST=$host docker rm -f "$ours_id" >/dev/null 2>&1' EXIT
ours=$(median "$runs" env DOCKER_HOST="$host" docker exec "$ours_id" true)
printf 'docker exec true -> dockyardd : %ss\n' "$ours"
if curl -sf --unix-socket /var/run/docker.sock http://d/_ping >/dev/null 2>&1 &&
   DOCKER_HOST=unix:///var/run/docker.sock docker image inspect busybox >/dev/null 2>&1; then
  theirs_id=$(DOCKER_HOST=unix:///var/run/docker.sock docker run -d busybox sleep 600)
  theirs=$(median "$runs" env DOCKER_HOST=unix:///var/run/docker.sock docker exec "$theirs_id" true)
  DOCKER_HOST=unix:///var/run/docker.sock docker rm -f "$theirs_id" >/dev/null
  printf 'docker exec true -> dockerd   : %ss\n' "$theirs"
  printf 'ratio dockyardd/dockerd      : %.2f (target <= 1.0)\n' "$(echo "$ours / $theirs" | bc -l)"
else
  echo "dockerd not reachable on /var/run/docker.sock with a busybox image: no ratio"
fi
