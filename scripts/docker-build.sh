#!/usr/bin/env bash
# Builds the images docker-compose.yml uses, on this machine: the base images (pulled, or local
# stand-ins from scripts/docker-base-images.sh when no registry answers), then the HBNB image
# from binaries built on the host (Dockerfile target `prebuilt`; the host must be Debian bookworm
# or older glibc, like the image). PROFILE=release for optimised binaries (default: debug, what the
# tests build anyway). Then `HBNB_BUILD_TARGET=prebuilt docker-compose up` (or `docker compose up`)
# starts the stack without building anything else. Prints what it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }

PROFILE=${PROFILE:-debug}
BINS=(gateway hello-service number-service api-service web-dynamic db-backup)
compose=(docker-compose)
command -v docker-compose >/dev/null || compose=(docker compose)

# Base images: present, pulled, or built here.
missing=()
for image in debian:bookworm-slim postgres:15-bookworm; do
  docker image inspect "$image" >/dev/null 2>&1 && continue
  if [ "${NO_PULL:-0}" != 1 ] && run timeout 60 docker pull -q "$image"; then continue; fi
  missing+=("$image")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "no registry for ${missing[*]}: building local stand-ins" >&2
  run scripts/docker-base-images.sh
fi

# The binaries, stripped of debug info (the image needs no symbols; 6 x ~140 MB otherwise).
if [ "$PROFILE" = debug ]; then run cargo build --bins; else run cargo build --profile "$PROFILE" --bins; fi
dir=target/$PROFILE
[ "$PROFILE" = dev ] && dir=target/debug
run rm -rf target/docker-bin
run mkdir -p target/docker-bin
for b in "${BINS[@]}"; do
  run strip --strip-debug -o "target/docker-bin/$b" "$dir/$b"
done

export HBNB_BUILD_TARGET=prebuilt
# One image for all services: building it for one service tags hbnb:latest for all of them.
run "${compose[@]}" build gateway
