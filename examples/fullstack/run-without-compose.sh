#!/bin/bash
# compose.yaml by hand, with the dockyard CLI, until `dockyard compose` exists:
#
#   examples/fullstack/run-without-compose.sh build   # the four images (base images if missing)
#   examples/fullstack/run-without-compose.sh up      # networks, volumes, containers; waits for the proxy
#   examples/fullstack/run-without-compose.sh check   # /health through the proxy; the proxy cannot reach db
#   examples/fullstack/run-without-compose.sh down    # containers and networks (volumes stay)
#   examples/fullstack/run-without-compose.sh down -v # ... and the volumes
#
# Names follow docker compose's (project "fullstack"): containers fullstack-<svc>-1,
# networks fullstack_frontend/_backend, volumes fullstack_db-data/_cache-data; each
# container answers to its service name on its networks (--network-alias).
# DOCKYARD_HOST or the default socket; PROXY_PORT (8080) is the published port.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
DOCKYARD=${DOCKYARD:-}
if [[ -z $DOCKYARD ]]; then
  if [[ -x $repo/.venv/bin/dockyard ]]; then DOCKYARD=$repo/.venv/bin/dockyard; else DOCKYARD=dockyard; fi
fi
dy() { "$DOCKYARD" "$@"; }
P=fullstack
PROXY_PORT=${PROXY_PORT:-8080}
BUILD_NETWORK=${BUILD_NETWORK-}

build() {
  BUILD_NETWORK=$BUILD_NETWORK DOCKYARD=$DOCKYARD "$repo/examples/base-images/build.sh" python
  local net=(); [[ -n $BUILD_NETWORK ]] && net=(--network "$BUILD_NETWORK")
  local svc dir s
  for svc in db:db cache:cache proxy:proxy web:app; do
    dir=${svc#*:}; svc=${svc%%:*}
    s=$(date +%s)
    if [[ $svc == web ]]; then
      dy build "${net[@]}" -q --build-arg VERSION=1.0 -t $P-web "$here/$dir" >/dev/null
    else
      dy build "${net[@]}" -q -t $P-$svc "$here/$dir" >/dev/null
    fi
    echo "$P-$svc: built in $(( $(date +%s) - s )) s"
  done
}

wait_healthy() {  # CONTAINER SECONDS
  local c=$1 n=$(( $2 * 2 )) st
  for _ in $(seq 1 "$n"); do
    st=$(dy inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null || true)
    [[ $st == healthy ]] && { echo "$c: healthy"; return 0; }
    if [[ $(dy inspect -f '{{.State.Running}}' "$c" 2>/dev/null) != true ]]; then
      echo "$c exited:" >&2; dy logs "$c" >&2 || true; return 1
    fi
    sleep 0.5
  done
  echo "$c: not healthy after $2 s ($st)" >&2; dy logs "$c" >&2 || true; return 1
}

up() {
  local n
  for n in frontend backend; do
    dy network inspect $P\_$n >/dev/null 2>&1 || dy network create --driver bridge $P\_$n >/dev/null
  done
  for n in db-data cache-data; do
    dy volume inspect $P\_$n >/dev/null 2>&1 || dy volume create $P\_$n >/dev/null
  done

  # db and cache: backend only
  dy run -d --name $P-db-1 --hostname db --network $P\_backend --network-alias db \
    -e POSTGRES_USER=admin -e POSTGRES_PASSWORD=secret -e POSTGRES_DB=myapp \
    -v $P\_db-data:/var/lib/postgresql/data \
    -v "$here/db/init.sql:/docker-entrypoint-initdb.d/init.sql:ro" \
    --health-cmd 'pg_isready -U admin -d myapp' --health-interval 10s --health-timeout 5s \
    --health-retries 5 --health-start-period 30s --health-start-interval 1s \
    $P-db >/dev/null
  dy run -d --name $P-cache-1 --hostname cache --network $P\_backend --network-alias cache \
    -v $P\_cache-data:/data \
    --health-cmd 'redis-cli ping | grep -q PONG' --health-interval 10s --health-timeout 3s \
    --health-retries 5 --health-start-period 10s --health-start-interval 1s \
    $P-cache redis-server --appendonly yes --protected-mode no >/dev/null

  # depends_on: db: condition: service_healthy
  wait_healthy $P-db-1 60

  # web: backend, then frontend
  dy run -d --name $P-web-1 --hostname web --network $P\_backend --network-alias web \
    -e DB_HOST=db -e DB_NAME=myapp -e DB_USER=admin -e DB_PASSWORD=secret -e REDIS_HOST=cache \
    --restart unless-stopped \
    $P-web >/dev/null
  dy network connect --alias web $P\_frontend $P-web-1

  # nginx: frontend only, published port
  dy run -d --name $P-nginx-1 --hostname nginx --network $P\_frontend --network-alias nginx \
    -p "$PROXY_PORT:8080" \
    -v "$here/proxy/nginx.conf:/etc/nginx/nginx.conf:ro" \
    $P-proxy >/dev/null

  local out=""
  for _ in $(seq 1 100); do
    out=$(curl -fsS "http://127.0.0.1:$PROXY_PORT/health" 2>/dev/null) && break
    out=""; sleep 0.2
  done
  [[ -n $out ]] || { echo "no answer on 127.0.0.1:$PROXY_PORT/health" >&2; dy logs $P-nginx-1 >&2; dy logs $P-web-1 >&2; return 1; }
  echo "up: http://127.0.0.1:$PROXY_PORT/health -> $out"
}

check() {
  local out; out=$(curl -fsS "http://127.0.0.1:$PROXY_PORT/health")
  echo "GET http://127.0.0.1:$PROXY_PORT/health -> $out"
  [[ $out == *'"status":"ok"'* ]] || { echo "FAIL: /health is not ok" >&2; return 1; }
  # the proxy (frontend only) must not reach db (backend only): neither by name ...
  if dy exec $P-nginx-1 getent hosts db >/dev/null 2>&1; then
    echo "FAIL: the proxy resolves 'db'" >&2; return 1
  fi
  echo "nginx: 'db' does not resolve"
  # ... nor by address
  local ip; ip=$(dy inspect -f '{{(index .NetworkSettings.Networks "'$P'_backend").IPAddress}}' $P-db-1)
  if dy exec $P-nginx-1 timeout 3 bash -c "exec 3<>/dev/tcp/$ip/5432" 2>/dev/null; then
    echo "FAIL: the proxy connects to db at $ip:5432" >&2; return 1
  fi
  echo "nginx: no connection to db at $ip:5432"
  # web (both networks) does reach it
  dy exec $P-web-1 timeout 3 bash -c "exec 3<>/dev/tcp/$ip/5432"
  echo "web: db at $ip:5432 reachable"
}

down() {
  local c n
  # stop first (each image's STOPSIGNAL, then SIGKILL after 10 s), as compose down
  # does: postgres and redis shut down cleanly instead of recovering at next start
  for c in nginx web cache db; do dy stop -t 10 $P-$c-1 >/dev/null 2>&1 || true; done
  for c in nginx web cache db; do dy rm -f $P-$c-1 >/dev/null 2>&1 || true; done
  for n in frontend backend; do dy network rm $P\_$n >/dev/null 2>&1 || true; done
  if [[ ${1:-} == -v ]]; then
    for n in db-data cache-data; do dy volume rm $P\_$n >/dev/null 2>&1 || true; done
  fi
  echo "down${1:+ $1}"
}

cmd=${1:-}; shift || true
case $cmd in
  build|up|check|down) $cmd "$@";;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2;;
esac
