# The test machine of tests/systemd/boot-test.sh and deb-test.sh, sourced by both: a Debian
# bookworm container whose PID 1 is systemd (tests/systemd/Dockerfile), and the helpers their steps
# use. The sourcing script sets CONTAINER, DEADLINE and TEST_NAME first, and is in the
# repository's root.
#
#   machine_image                 builds (or reuses) the image; sets $image
#   machine_boot HOSTNAME ARGS... starts the container (ARGS: more `docker run` options, e.g. -v)
#                                 and waits until systemd has booted; removed when the test exits,
#                                 with the units' state and the journal's tail on a failure
#   dx CMD... / dq CMD...         runs CMD in the machine, printed / quiet (for polling)
#   run, fail, wait_for WHAT CMD... from tests/lib/steps.sh (wait_for: polls until DEADLINE)
#   prop SERVICE PROPERTY         a property of hbnb-SERVICE.service
#   figure NAME VALUE             a figure, printed now and in the summary ($figures)
# shellcheck shell=bash

IMAGE_REPO=hbnb-systemd-test
BASE_IMAGE=debian:bookworm-slim
machine_started=$SECONDS

# shellcheck source=tests/lib/steps.sh
source tests/lib/steps.sh
now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs_since() {
  local ms=$(($(now_ms) - $1))
  printf '%d.%01d' $((ms / 1000)) $((ms % 1000 / 100))
}
dx() {
  echo "+ docker exec $CONTAINER $*" >&2
  docker exec "$CONTAINER" "$@"
}
dq() { docker exec "$CONTAINER" "$@"; }
prop() { dq systemctl show -p "$2" --value "hbnb-$1.service"; }
figures=()
figure() {
  figures+=("$(printf '%-44s %s' "$1" "$2")")
  echo "figure: $1: $2" >&2
}

docker info >/dev/null 2>&1 || fail "no Docker engine answers (docker info failed)"

# The image, cached by a hash of its Dockerfile and base image: it changes only when they do.
machine_image() {
  local t0 base_id hash old
  t0=$(now_ms)
  if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    run scripts/docker-base-images.sh debian
  fi
  base_id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")
  hash=$( (
    cat tests/systemd/Dockerfile
    echo "$base_id"
  ) | sha256sum | cut -c1-12)
  image=$IMAGE_REPO:$hash
  if docker image inspect "$image" >/dev/null 2>&1; then
    echo "image $image: present (Dockerfile and base unchanged)" >&2
  else
    run docker build -q --build-arg "BASE=$BASE_IMAGE" -t "$image" tests/systemd >/dev/null
    # Older builds of this image (other hashes) only take space.
    for old in $(docker image ls --format '{{.Repository}}:{{.Tag}}' "$IMAGE_REPO"); do
      [ "$old" = "$image" ] || run docker image rm "$old" >/dev/null || true
    done
  fi
  figure "image ready ($image)" "$(secs_since "$t0") s"
}

machine_cleanup() {
  local status=$?
  if [ $status -ne 0 ] && docker inspect "$CONTAINER" >/dev/null 2>&1; then
    echo "---- state at failure" >&2
    docker exec "$CONTAINER" systemctl --no-pager list-units --all 'hbnb*' >&2 || true
    docker exec "$CONTAINER" systemctl --no-pager --failed >&2 || true
    docker exec "$CONTAINER" sh -c 'journalctl --no-pager -o short | grep -v "\"target\":\"access\"" | tail -n 60' >&2 || true
  fi
  docker rm -f -v "$CONTAINER" >/dev/null 2>&1 || true
  if declare -F machine_after >/dev/null; then machine_after; fi
  echo "$TEST_NAME took $((SECONDS - machine_started)) s (exit $status)" >&2
  exit $status
}

# CAP_SYS_ADMIN (not --privileged, which some engines refuse): without it systemd cannot set up
# the units' mount namespaces and silently runs them without ProtectSystem=, PrivateTmp=, ... (it
# assumes a container). The cgroup tree is systemd's to manage. No port is published.
machine_boot() {
  local hostname=$1 t0
  shift
  trap machine_cleanup EXIT
  t0=$(now_ms)
  run docker run -d --name "$CONTAINER" --hostname "$hostname" \
    --cap-add SYS_ADMIN --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup \
    "$@" -e container=docker "$image" /sbin/init >/dev/null
  wait_for "systemd to finish booting (is-system-running: running or degraded)" machine_booted
  echo "systemd: $(machine_state), $(dq systemctl --version | head -n1)" >&2
  [ "$(machine_state)" = running ] || dx systemctl --no-pager --failed >&2
  figure "boot to systemd running" "$(secs_since "$t0") s"
}
machine_state() { dq systemctl is-system-running 2>/dev/null || true; }
machine_booted() { [[ $(machine_state) =~ ^(running|degraded)$ ]]; }
