#!/bin/bash
# `docker stats --no-stream` over N running containers (default 50) against dockyardd,
# and against dockerd when one answers.  Prints the wall time of one full table.
#
#   bench/stats_many.sh [N]
set -u
n=${1:-50}
host=${DOCKYARD_HOST:-unix:///run/dockyard/dockyard.sock}

run_on() {  # run_on SOCKET-URL LABEL
  local h=$1 label=$2 ids=()
  for _ in $(seq 1 "$n"); do ids+=("$(DOCKER_HOST=$h docker run -d busybox sleep 600)"); done
  local s e; s=$(date +%s%N)
  DOCKER_HOST=$h docker stats --no-stream "${ids[@]}" >/dev/null
  e=$(date +%s%N)
  printf 'stats --no-stream, %d containers -> %-9s: %.3fs\n' "$n" "$label" "$(echo "($e - $s) / 1000000000" | bc -l)"
  DOCKER_HOST=$h docker rm -f "${ids[@]}" >/dev/null
}

run_on "$host" dockyardd
if curl -sf --unix-socket /var/run/docker.sock http://d/_ping >/dev/null 2>&1 &&
   DOCKER_HOST=unix:///var/run/docker.sock docker image inspect busybox >/dev/null 2>&1; then
  run_on unix:///var/run/docker.sock dockerd
fi
