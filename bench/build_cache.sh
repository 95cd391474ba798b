#!/bin/bash
# Build times of a 15-step Dockerfile FROM busybox (ENV, WORKDIR, LABEL, COPY, RUN,
# EXPOSE, CMD; a context of a few small files) through the docker CLI's classic
# builder (DOCKER_BUILDKIT=0): cold (--no-cache) and fully cached, RUNS times each,
# against dockyardd and, when one answers on /var/run/docker.sock, against dockerd,
# with the ratios.  Prints figures; asserts nothing.  Target for the builder issue:
# a fully cached rebuild takes at most 0.5x dockerd's time.
#
#   bench/build_cache.sh [RUNS]     (default 5; uses DOCKYARD_HOST or the default socket)
#
# A daemon without busybox gets it from contrib/mkimage.sh (dockerd through
# `docker import`).  Every image the runs make is removed at the end.
set -u
runs=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
host=${DOCKYARD_HOST:-unix:///run/dockyard/dockyard.sock}
dockerd=unix:///var/run/docker.sock
dy=$here/.venv/bin/dockyard; [[ -x $dy ]] || dy=dockyard
export DOCKER_BUILDKIT=0
repo=bench-build-cache

ctx=$(mktemp -d /tmp/bench-build-cache.XXXXXX)
made=$ctx.images  # "HOST IMAGE" lines: every image a build printed, removed at exit
cleanup() {
  if [[ -s $made ]]; then
    local h id
    for h in $(awk '{print $1}' "$made" | sort -u); do
      DOCKER_HOST=$h docker rmi "$repo:cold" "$repo:cached" >/dev/null 2>&1
    done
    while read -r h id; do DOCKER_HOST=$h docker rmi "$id" >/dev/null 2>&1; done < <(sort -u "$made")
  fi
  rm -rf "$ctx" "$made" "$ctx.err"
}
trap cleanup EXIT

mkdir -p "$ctx/config" "$ctx/src"
cat >"$ctx/Dockerfile" <<'DF'
FROM busybox
ENV APP_HOME=/app APP_ENV=bench
WORKDIR $APP_HOME
LABEL org.opencontainers.image.title="dockyard build-cache bench"
COPY config/ ./config/
RUN mkdir -p data && cat config/*.conf > data/all.conf
ENV GREETING=hello
COPY src/ ./src/
RUN chmod +x src/*.sh && ls -l src > src.list
WORKDIR /app/data
RUN wc -c all.conf > size.txt
LABEL stage=final version=1
EXPOSE 8080
COPY entrypoint.sh /usr/local/bin/entrypoint.sh
CMD ["sh", "/usr/local/bin/entrypoint.sh"]
DF
for i in 1 2 3; do printf 'key%d = value%d\n' "$i" "$i" >"$ctx/config/$i.conf"; done
for i in 1 2 3 4; do printf '#!/bin/sh\necho step %d\n' "$i" >"$ctx/src/$i.sh"; done
head -c 32768 /dev/zero | tr '\0' 'x' >"$ctx/src/blob.txt"
printf '#!/bin/sh\necho "$GREETING from $APP_ENV"\n' >"$ctx/entrypoint.sh"
printf 'Dockerfile.bak\n*.log\n' >"$ctx/.dockerignore"

reachable() { curl -sf --unix-socket "${1#unix://}" http://d/_ping >/dev/null 2>&1; }

build() {  # build HOST ARGS...: one quiet build; records the image it made
  local h=$1 out; shift
  out=$(DOCKER_HOST=$h docker build -q "$@" "$ctx" 2>"$ctx.err") || { tail -5 "$ctx.err" >&2; return 1; }
  printf '%s %s\n' "$h" "$(printf '%s\n' "$out" | tail -1)" >>"$made"
}

median_build() {  # median wall time in seconds of N builds; fails when a build fails
  local n=$1; shift; local ts=()
  for _ in $(seq 1 "$n"); do
    local s e; s=$(date +%s%N); build "$@" || return 1; e=$(date +%s%N)
    ts+=("$(( (e - s) / 1000 ))")
  done
  printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END{printf "%.4f\n", a[int((NR+1)/2)]/1e6}'
}

ensure_busybox() {  # ensure_busybox HOST LABEL
  DOCKER_HOST=$1 docker image inspect busybox >/dev/null 2>&1 && return 0
  echo "$2: no busybox image; making it with contrib/mkimage.sh busybox"
  if [[ $1 == "$dockerd" ]]; then
    DOCKYARD=docker DOCKER_HOST=$1 "$here/contrib/mkimage.sh" busybox >/dev/null
  else
    DOCKYARD=$dy DOCKYARD_HOST=$1 "$here/contrib/mkimage.sh" busybox >/dev/null
  fi
}

bench_on() {  # bench_on HOST LABEL: prints the figures, sets cold_s and cached_s
  local h=$1 label=$2
  cold_s=""; cached_s=""
  ensure_busybox "$h" "$label" || { echo "$label: could not make busybox"; return 1; }
  # A first build shows whether this daemon can build at all (and fills the cache).
  build "$h" -t "$repo:cached" || { echo "$label: the build fails (output above)"; return 1; }
  local out hits
  out=$(DOCKER_HOST=$h docker build -t "$repo:cached" "$ctx" 2>&1)
  printf '%s %s\n' "$h" "$(printf '%s\n' "$out" | awk '/^Successfully built/ {print $3}')" >>"$made"
  hits=$(printf '%s\n' "$out" | grep -c 'Using cache')
  [[ $hits -eq 14 ]] || echo "$label: only $hits of 14 steps came from the cache on a rebuild"
  cold_s=$(median_build "$runs" "$h" --no-cache -t "$repo:cold") || { echo "$label: a cold build failed"; return 1; }
  cached_s=$(median_build "$runs" "$h" -t "$repo:cached") || { echo "$label: a cached build failed"; return 1; }
  printf '%-9s cold (--no-cache) : %ss\n' "$label" "$cold_s"
  printf '%-9s fully cached      : %ss\n' "$label" "$cached_s"
}

echo "15-step Dockerfile FROM busybox, docker CLI classic builder, median of $runs"
ours_cold=""; ours_cached=""
if reachable "$host"; then
  bench_on "$host" dockyardd && { ours_cold=$cold_s; ours_cached=$cached_s; }
else
  echo "dockyardd not reachable on $host"
fi
if reachable "$dockerd"; then
  if bench_on "$dockerd" dockerd && [[ -n $ours_cached ]]; then
    printf 'ratio dockyardd/dockerd, cold  : %.2f\n' "$(echo "$ours_cold / $cold_s" | bc -l)"
    printf 'ratio dockyardd/dockerd, cached: %.2f (target <= 0.5)\n' "$(echo "$ours_cached / $cached_s" | bc -l)"
  fi
else
  echo "dockerd not reachable on /var/run/docker.sock: no ratio"
fi
