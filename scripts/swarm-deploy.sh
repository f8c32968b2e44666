#!/usr/bin/env bash
# Deploys the stack on a Docker Swarm from docker-compose.yml (docs/operations.md, "Scaling to several
# machines"): 3 api-service and web-dynamic instances, 2 hello-service and number-service, one
# gateway on every node's port 80, PostgreSQL and db-backup on the node labelled
# hbnb.database=true (labelled here when the swarm has a single node). Each service's own port is
# published on a free host port per task (several tasks may share a node); the site is on :80.
# Environment: STACK (hbnb), RESOLVE_IMAGE, the *_REPLICAS and *_PORT variables of docker-compose.yml, HBNB_IMAGE.
# Prints what it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }

STACK=${STACK:-hbnb}
export API_REPLICAS=${API_REPLICAS:-3} WEB_REPLICAS=${WEB_REPLICAS:-3}
export HELLO_REPLICAS=${HELLO_REPLICAS:-2} NUMBER_REPLICAS=${NUMBER_REPLICAS:-2}
export API_PORT=${API_PORT:-0} WEB_PORT=${WEB_PORT:-0} HELLO_PORT=${HELLO_PORT:-0} NUMBER_PORT=${NUMBER_PORT:-0}

[ "$(docker info -f '{{.Swarm.LocalNodeState}}')" = active ] ||
  { echo "error: this engine is not in a swarm (docker swarm init, or join one)" >&2; exit 1; }
if [ "$(docker node ls -q | wc -l)" -eq 1 ] &&
  [ -z "$(docker node ls -q --filter node.label=hbnb.database=true)" ]; then
  run docker node update --label-add hbnb.database=true "$(docker node ls -q)" >/dev/null
fi
[ -n "$(docker node ls -q --filter node.label=hbnb.database=true)" ] ||
  { echo "error: label the node that keeps the database: docker node update --label-add hbnb.database=true NODE" >&2; exit 1; }
# RESOLVE_IMAGE=never (default) uses the images as this machine has them (built here, in no
# registry: right for one node); with several nodes push HBNB_IMAGE to a registry they reach and
# set RESOLVE_IMAGE=always.
run docker stack deploy --resolve-image "${RESOLVE_IMAGE:-never}" --prune -c docker-compose.yml "$STACK"
