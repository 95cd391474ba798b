#!/bin/bash
# `compose up -d` and `compose down` of a 5-service project (busybox, images already
# present): dockyard compose against dockyardd and, when a Docker daemon answers on
# /var/run/docker.sock and `docker compose` (or docker-compose) is installed, docker
# compose against it, with the ratios.  Prints figures; asserts nothing.
#
#   bench/compose.sh [RUNS]      (default 5; uses DOCKYARD_HOST or the default socket)
#
# The project: proxy (published on 127.0.0.1:18491) -> web x1 -> api -> db + cache,
# on two networks, with a named volume and a health check on db that gates api
# (service_healthy, probed every 200 ms; no start_interval, which docker-compose 1.x refuses) — what a small real project looks like.
# Every process handles SIGTERM, so `down` measures the engine, not a 10 s timeout.
# Each run is `up -d` on nothing then `down -v`; the project is removed at exit.
set -u
runs=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
host=${DOCKYARD_HOST:-unix:///run/dockyard/dockyard.sock}
dockerd=unix:///var/run/docker.sock
dy=$here/.venv/bin/dockyard; [[ -x $dy ]] || dy=dockyard
work=$(mktemp -d /tmp/bench-compose.XXXXXX)
project=bench-compose-$$

cat > "$work/compose.yaml" <<'YML'
x-idle: &idle ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
services:
  db:
    image: busybox
    command: *idle
    volumes: [data:/data]
    networks: [backend]
    healthcheck:
      test: ["CMD", "true"]
      interval: 200ms
  cache:
    image: busybox
    command: *idle
    networks: [backend]
  api:
    image: busybox
    command: *idle
    networks: [backend]
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_started}
  web:
    image: busybox
    command: *idle
    networks: [frontend, backend]
    depends_on: [api]
  proxy:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 80 & wait"]
    ports: ["127.0.0.1:18491:80"]
    networks: [frontend]
    depends_on: [web]
networks:
  frontend: {}
  backend: {}
volumes:
  data: {}
YML

compose_cmd=()  # how to run docker compose, if this machine has it
if docker compose version >/dev/null 2>&1; then compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then compose_cmd=(docker-compose); fi

cleanup() {
  DOCKYARD_HOST=$host "$dy" compose -f "$work/compose.yaml" -p "$project" down -v -t 1 >/dev/null 2>&1
  if [[ ${#compose_cmd[@]} -gt 0 ]]; then
    DOCKER_HOST=$dockerd "${compose_cmd[@]}" -f "$work/compose.yaml" -p "$project" down -v -t 1 >/dev/null 2>&1
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

median() { sort -n | awk '{a[NR]=$1} END{if (NR) printf "%.3f\n", a[int((NR+1)/2)]/1e6}'; }

measure() {  # measure LABEL CMD...: prints "UP DOWN" medians in seconds
  local ups=() downs=() s m e
  "$@" -f "$work/compose.yaml" -p "$project" up -d >/dev/null 2>&1   # warm up
  "$@" -f "$work/compose.yaml" -p "$project" down -v >/dev/null 2>&1
  for _ in $(seq 1 "$runs"); do
    s=$(date +%s%N)
    "$@" -f "$work/compose.yaml" -p "$project" up -d >/dev/null 2>"$work/err" || { cat "$work/err" >&2; return 1; }
    m=$(date +%s%N)
    "$@" -f "$work/compose.yaml" -p "$project" down -v >/dev/null 2>"$work/err" || { cat "$work/err" >&2; return 1; }
    e=$(date +%s%N)
    ups+=("$(( (m - s) / 1000 ))"); downs+=("$(( (e - m) / 1000 ))")
  done
  echo "$(printf '%s\n' "${ups[@]}" | median) $(printf '%s\n' "${downs[@]}" | median)"
}

DOCKYARD_HOST=$host "$dy" image inspect busybox >/dev/null 2>&1 ||
  DOCKYARD=$dy DOCKYARD_HOST=$host "$here/contrib/mkimage.sh" busybox >/dev/null
read -r ours_up ours_down < <(DOCKYARD_HOST=$host measure "$dy" compose) || exit 1
printf 'dockyard compose -> dockyardd: up -d %ss, down -v %ss  (5 services, median of %d)\n' \
  "$ours_up" "$ours_down" "$runs"
if [[ ${#compose_cmd[@]} -gt 0 ]] && curl -sf --unix-socket "${dockerd#unix://}" http://d/_ping >/dev/null 2>&1 &&
   DOCKER_HOST=$dockerd docker image inspect busybox >/dev/null 2>&1; then
  read -r their_up their_down < <(DOCKER_HOST=$dockerd measure "${compose_cmd[@]}") || exit 1
  printf '%s %s -> dockerd %s: up -d %ss, down -v %ss\n' "${compose_cmd[*]}" \
    "$("${compose_cmd[@]}" version --short 2>/dev/null)" \
    "$(DOCKER_HOST=$dockerd docker version -f '{{.Server.Version}}' 2>/dev/null)" "$their_up" "$their_down"
  printf 'ratio (dockyard / docker): up -d %.2f, down -v %.2f\n' \
    "$(echo "$ours_up / $their_up" | bc -l)" "$(echo "$ours_down / $their_down" | bc -l)"
else
  echo "docker compose with dockerd: not available on this machine (no ratio)"
fi
