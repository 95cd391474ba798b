#!/bin/bash
# Networking figures through the docker CLI, against dockyardd and, when one answers
# on /var/run/docker.sock, against dockerd, with the ratios.  Prints figures; asserts
# nothing (a transfer that does not deliver every byte is reported, not counted).
#
#   (a) start on a user-defined network: median wall time of
#       `docker run --rm --network NET busybox true`              target: <= dockerd's
#   (b) container -> container TCP on one user-defined network: a client container
#       pipes `dd if=/dev/zero bs=1M count=MB` into `nc SERVER 5001`, timed inside the
#       container (adjtimex, microseconds) from before dd to nc's exit, which is after
#       the server has read the last byte and closed                target: >= 0.9x
#       busybox nc moves 1 KiB per read/write, so (b) is mostly nc's own cost; (b2)
#       is the same path with bigger writes: busybox httpd (sendfile) serving a
#       MB MiB file to `wget -qO- | wc -c` in a client container, timed the same way
#   (c) host -> published port: the server published on 127.0.0.1:PORT, a python3
#       client on the host sends MB MiB and waits for the server's close  target: >= 0.9x
#
#   bench/network.sh [RUNS]      (default 10; uses DOCKYARD_HOST or the default socket)
#   BENCH_MB=200                 MiB per transfer
#   BENCH_PORT=18471             host port for (c); dockerd gets BENCH_PORT+1
#
# The server is busybox `nc -l -p 5001` in a loop, its stdin a FIFO opened read-write
# (so it never reads EOF there: with stdin at /dev/null nc half-closes at once and a
# busybox nc client quits as soon as it sees that, after a few KiB), and `wc -c` of
# each connection goes to its log, which is how every transfer is checked.  A daemon
# without busybox gets it from contrib/mkimage.sh (dockerd through `docker import`).
# Every container and network the script makes is removed at exit, even on failure.
set -u
runs=${1:-10}
mb=${BENCH_MB:-200}
port=${BENCH_PORT:-18471}
here=$(cd "$(dirname "$0")/.." && pwd)
host=${DOCKYARD_HOST:-unix:///run/dockyard/dockyard.sock}
dockerd=unix:///var/run/docker.sock
dy=$here/.venv/bin/dockyard; [[ -x $dy ]] || dy=dockyard
py=$(command -v python3 || true)
tag=bench-net-$$
net=$tag-net
srv=$tag-srv
bytes=$((mb * 1048576))

touched=()  # daemons this run has made things on
cleanup() {
  local h
  for h in "${touched[@]}"; do
    DOCKER_HOST=$h docker rm -f "$srv" "$tag-web" "$tag-pub" >/dev/null 2>&1
    DOCKER_HOST=$h docker network rm "$net" >/dev/null 2>&1
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

reachable() { curl -sf --unix-socket "${1#unix://}" http://d/_ping >/dev/null 2>&1; }
d() { DOCKER_HOST=$h docker "$@"; }  # the docker CLI against the daemon in $h

ensure_busybox() {  # ensure_busybox HOST LABEL
  DOCKER_HOST=$1 docker image inspect busybox >/dev/null 2>&1 && return 0
  echo "$2: no busybox image; making it with contrib/mkimage.sh busybox"
  if [[ $1 == "$dockerd" ]]; then
    DOCKYARD=docker DOCKER_HOST=$1 "$here/contrib/mkimage.sh" busybox >/dev/null
  else
    DOCKYARD=$dy DOCKYARD_HOST=$1 "$here/contrib/mkimage.sh" busybox >/dev/null
  fi
}

median() {  # median of the numbers on stdin
  sort -n | awk '{a[NR]=$1} END{if (NR) print a[int((NR+1)/2)]}'
}

median_wall() {  # median wall time in seconds of N runs of a command
  local n=$1; shift; local ts=()
  "$@" >/dev/null 2>&1  # warm up
  for _ in $(seq 1 "$n"); do
    local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
    ts+=("$(( (e - s) / 1000 ))")
  done
  printf '%s\n' "${ts[@]}" | median | awk '{printf "%.4f\n", $1/1e6}'
}

server_cmd='mkfifo /tmp/in && exec 3<>/tmp/in && while :; do nc -l -p 5001 <&3 | wc -c; done'

wait_listening() {  # wait_listening CONTAINER [PORT]: until it listens (again) on PORT (5001)
  local c=$1 p=${2:-5001}
  for _ in $(seq 1 100); do
    d exec "$c" sh -c "netstat -ltn | grep -q ':$p '" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

delivered() {  # delivered CONTAINER COUNT: the server's log shows COUNT transfers of every byte
  local c=$1 want=$2 got
  for _ in $(seq 1 40); do
    got=$(d logs "$c" 2>/dev/null | awk -v b="$bytes" '$1 == b' | wc -l)
    [[ $got -ge $want ]] && return 0
    sleep 0.05
  done
  echo "  only $got of $want transfers delivered all $bytes bytes; server log:" >&2
  d logs "$c" 2>&1 | tail -5 | sed 's/^/    /' >&2
  return 1
}

# (b)'s client: prints the microseconds from before dd to nc's exit, or fails
client_cmd='set -o pipefail
now() { adjtimex | awk "/tv_sec/ {s=\$2} /tv_usec/ {u=\$2} END {printf \"%d%06d\n\", s, u}"; }
s=$(now); dd if=/dev/zero bs=1M count=$1 2>/dev/null | nc $2 5001 || exit 1; e=$(now); echo $((e - s))'

# (b2)'s client: fetches /big from httpd with wget, checks its size, prints microseconds
wget_cmd='set -o pipefail
now() { adjtimex | awk "/tv_sec/ {s=\$2} /tv_usec/ {u=\$2} END {printf \"%d%06d\n\", s, u}"; }
s=$(now); n=$(wget -qO- http://$2/big | wc -c) || exit 1; e=$(now); [ "$n" -eq "$1" ] || exit 1; echo $((e - s))'

# (c)'s client: sends MiB to 127.0.0.1:PORT and waits for the close; prints microseconds
host_client='
import socket, sys, time
port, mib = int(sys.argv[1]), int(sys.argv[2])
chunk = bytes(1 << 20)
t = time.perf_counter()
s = socket.create_connection(("127.0.0.1", port), timeout=60)
for _ in range(mib):
    s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
print(int((time.perf_counter() - t) * 1e6))
'

mbps() { awk -v us="$1" -v b="$bytes" 'BEGIN {printf "%.0f\n", b / 1e6 / (us / 1e6)}'; }

bench_on() {  # bench_on HOST LABEL PORT: prints the figures, sets start_s c2c_mbps web_mbps pub_mbps
  local h=$1 label=$2 p=$3 us ts
  start_s=""; c2c_mbps=""; web_mbps=""; pub_mbps=""
  touched+=("$h")
  ensure_busybox "$h" "$label" || { echo "$label: could not make busybox"; return 1; }
  d network create "$net" >/dev/null || { echo "$label: network create failed"; return 1; }

  start_s=$(median_wall "$runs" env DOCKER_HOST="$h" docker run --rm --network "$net" busybox true)
  d run --rm --network "$net" busybox true >/dev/null 2>&1 || { echo "$label: run --network $net fails"; start_s=""; }
  printf '%-9s (a) run --rm --network NET busybox true : %ss (median of %s)\n' "$label" "${start_s:-n/a}" "$runs"

  # (b) container -> container
  if d run -d --name "$srv" --network "$net" busybox sh -c "$server_cmd" >/dev/null; then
    ts=()
    for i in $(seq 0 "$runs"); do  # run 0 warms up
      wait_listening "$srv" || { echo "$label: the server does not listen"; break; }
      us=$(d run --rm --network "$net" busybox sh -c "$client_cmd" client "$mb" "$srv") || { echo "$label: client run $i failed"; break; }
      [[ $i -gt 0 ]] && ts+=("$us")
    done
    if [[ ${#ts[@]} -eq $runs ]] && delivered "$srv" $((runs + 1)); then
      c2c_mbps=$(mbps "$(printf '%s\n' "${ts[@]}" | median)")
    fi
    d rm -f "$srv" >/dev/null
  else
    echo "$label: could not start the server container"
  fi
  printf '%-9s (b) container -> container, %s MiB      : %s MB/s\n' "$label" "$mb" "${c2c_mbps:-n/a}"

  # (b2) container -> container with bigger writes: httpd's sendfile to wget
  if d run -d --name "$tag-web" --network "$net" busybox sh -c \
      "dd if=/dev/zero of=/tmp/big bs=1M count=$mb 2>/dev/null && exec httpd -f -p 80 -h /tmp" >/dev/null &&
     wait_listening "$tag-web" 80; then
    ts=()
    for i in $(seq 0 "$runs"); do
      us=$(d run --rm --network "$net" busybox sh -c "$wget_cmd" client "$bytes" "$tag-web") || { echo "$label: wget run $i failed"; break; }
      [[ $i -gt 0 ]] && ts+=("$us")
    done
    [[ ${#ts[@]} -eq $runs ]] && web_mbps=$(mbps "$(printf '%s\n' "${ts[@]}" | median)")
  else
    echo "$label: the httpd container does not serve"
  fi
  d rm -f "$tag-web" >/dev/null 2>&1
  printf '%-9s (b2) same, httpd -> wget, %s MiB        : %s MB/s\n' "$label" "$mb" "${web_mbps:-n/a}"

  # (c) host -> published port
  if [[ -z $py ]]; then
    echo "$label (c): no python3 on the host"
  elif d run -d --name "$tag-pub" --network "$net" -p "127.0.0.1:$p:5001" busybox sh -c "$server_cmd" >/dev/null; then
    ts=()
    for i in $(seq 0 "$runs"); do
      wait_listening "$tag-pub" || { echo "$label: the published server does not listen"; break; }
      us=$("$py" -c "$host_client" "$p" "$mb") || { echo "$label: host client run $i failed"; break; }
      [[ $i -gt 0 ]] && ts+=("$us")
    done
    if [[ ${#ts[@]} -eq $runs ]] && delivered "$tag-pub" $((runs + 1)); then
      pub_mbps=$(mbps "$(printf '%s\n' "${ts[@]}" | median)")
    fi
    d rm -f "$tag-pub" >/dev/null
  else
    echo "$label: could not start the published server container (port $p)"
  fi
  printf '%-9s (c) host -> 127.0.0.1:%s, %s MiB    : %s MB/s\n' "$label" "$p" "$mb" "${pub_mbps:-n/a}"
  d network rm "$net" >/dev/null
}

ratio() {  # ratio LABEL OURS THEIRS TARGET
  if [[ -n $2 && -n $3 ]]; then
    printf 'ratio dockyardd/dockerd, %-22s: %.2f (%s)\n' "$1" "$(echo "$2 / $3" | bc -l)" "$4"
  else
    printf 'ratio dockyardd/dockerd, %-22s: n/a\n' "$1"
  fi
}

echo "networking through the docker CLI; $runs runs each, $mb MiB per transfer"
ours_start=""; ours_c2c=""; ours_web=""; ours_pub=""
if reachable "$host"; then
  bench_on "$host" dockyardd "$port" && { ours_start=$start_s; ours_c2c=$c2c_mbps; ours_web=$web_mbps; ours_pub=$pub_mbps; }
else
  echo "dockyardd not reachable on $host"
fi
if reachable "$dockerd"; then
  if bench_on "$dockerd" dockerd $((port + 1)); then
    ratio "start on a network" "$ours_start" "$start_s" "target <= 1.0"
    ratio "container -> container" "$ours_c2c" "$c2c_mbps" "target >= 0.9"
    ratio "same, httpd -> wget" "$ours_web" "$web_mbps" "target >= 0.9"
    ratio "host -> published port" "$ours_pub" "$pub_mbps" "target >= 0.9"
  fi
else
  echo "dockerd not reachable on ${dockerd#unix://}: no ratio"
fi
