#!/bin/bash
# The guide's multi-stage Flask example end to end on dockyard (`make demo` calls it):
# make the base images if missing (debian:bookworm via contrib/mkimage.sh,
# dockyard/python:3.11-slim via `dockyard build`), build examples/flask-app, run it,
# wait for /health, print what / answers, remove the container.
#
#   examples/flask-app/demo.sh      (DOCKYARD_HOST or the default socket; the daemon must run)
#
# Networking: the container runs on the default bridge with its port published on
# 127.0.0.1:5000; the builds' RUN steps reach the Debian mirror and PyPI through the
# bridge's NAT (BUILD_NETWORK=host would use the host's network instead).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
DOCKYARD=${DOCKYARD:-}
if [[ -z $DOCKYARD ]]; then
  if [[ -x $repo/.venv/bin/dockyard ]]; then DOCKYARD=$repo/.venv/bin/dockyard; else DOCKYARD=dockyard; fi
fi
export DOCKYARD
BUILD_NETWORK=${BUILD_NETWORK-}
image=flask-app name=flask-demo port=5000

"$DOCKYARD" version >/dev/null 2>&1 || { echo "dockyardd does not answer (make daemon)" >&2; exit 1; }
if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
  echo "something already answers on 127.0.0.1:$port; stop it first" >&2; exit 1
fi

BUILD_NETWORK=$BUILD_NETWORK "$repo/examples/base-images/build.sh" python

net=(); [[ -n $BUILD_NETWORK ]] && net=(--network "$BUILD_NETWORK")
echo "building $image from examples/flask-app"
"$DOCKYARD" build "${net[@]}" -t "$image" "$here"

"$DOCKYARD" rm -f "$name" >/dev/null 2>&1 || true
trap '"$DOCKYARD" rm -f "$name" >/dev/null 2>&1 || true' EXIT
"$DOCKYARD" run -d -p 127.0.0.1:$port:$port --name "$name" "$image" >/dev/null
echo "started $name; waiting for http://127.0.0.1:$port/health"
for _ in $(seq 1 100); do
  if health=$(curl -sf "http://127.0.0.1:$port/health" 2>/dev/null); then break; fi
  if [[ $("$DOCKYARD" inspect -f '{{.State.Running}}' "$name" 2>/dev/null) != true ]]; then
    echo "$name exited:" >&2; "$DOCKYARD" logs "$name" >&2 || true; exit 1
  fi
  health=""; sleep 0.1
done
[[ -n $health ]] || { echo "no answer from /health in 10 s" >&2; "$DOCKYARD" logs "$name" >&2 || true; exit 1; }
echo "GET /health -> $health"
echo "GET /       -> $(curl -sf "http://127.0.0.1:$port/")"
"$DOCKYARD" rm -f "$name" >/dev/null
trap - EXIT
echo "removed $name (the image $image stays: dockyard run -d -p 5000:5000 $image)"
