#!/bin/bash
# The guide's full-stack compose example end to end on dockyard (`make demo` calls it):
# make the base images if missing, `dockyard compose up -d --build --wait` (db and
# cache healthy before web starts, the proxy published on 127.0.0.1:$PROXY_PORT),
# show it answering through the proxy, take it down and up again to show the named
# volumes keeping the data, then `down -v`.
#
#   examples/fullstack/demo.sh      (DOCKYARD_HOST or the default socket; the daemon must run)
#   PROXY_PORT=8080                 the host port the proxy is published on
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
DOCKYARD=${DOCKYARD:-}
if [[ -z $DOCKYARD ]]; then
  if [[ -x $repo/.venv/bin/dockyard ]]; then DOCKYARD=$repo/.venv/bin/dockyard; else DOCKYARD=dockyard; fi
fi
export DOCKYARD
export PROXY_PORT=${PROXY_PORT:-8080}
compose() { "$DOCKYARD" compose -f "$here/compose.yaml" -p fullstack-demo "$@"; }

"$DOCKYARD" version >/dev/null 2>&1 || { echo "dockyardd does not answer (make daemon)" >&2; exit 1; }
if curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/" 2>/dev/null; then
  echo "something already answers on 127.0.0.1:$PROXY_PORT; stop it or set PROXY_PORT" >&2; exit 1
fi
"$repo/examples/base-images/build.sh" python

trap 'compose down -v >/dev/null 2>&1 || true' EXIT
echo "dockyard compose up -d --build --wait   (examples/fullstack/compose.yaml)"
compose up -d --build --wait 2> >(grep -v -e '^Step ' -e '^ ---> ' -e '^Successfully' -e '^Sending build' -e '^Removing intermediate' >&2)
compose ps
echo "GET http://127.0.0.1:$PROXY_PORT/health (nginx -> web -> redis + postgres):"
echo "  $(curl -sf "http://127.0.0.1:$PROXY_PORT/health")"
echo "the proxy reaches web but not the database (different networks):"
compose exec -T nginx getent hosts web >/dev/null || { echo "  UNEXPECTED: nginx cannot resolve web" >&2; exit 1; }
if compose exec -T nginx getent hosts db >/dev/null 2>&1; then
  echo "  UNEXPECTED: nginx resolves db" >&2; exit 1
fi
echo "  nginx: 'web' resolves, 'db' does not"
echo "dockyard compose down; dockyard compose up -d --wait   (named volumes stay)"
compose down 2>/dev/null
compose up -d --wait 2>/dev/null
echo "  $(curl -sf "http://127.0.0.1:$PROXY_PORT/health")   <- the counters go on"
echo "dockyard compose down -v"
compose down -v 2>/dev/null
trap - EXIT
echo "down: containers, networks and volumes removed (the images stay)"
