#!/usr/bin/env bash
# The README's test command on a fresh machine: a container from the local Debian base image
# (debian:bookworm-slim, or its stand-in from scripts/docker-base-images.sh) that has only what a
# fresh machine has, then `scripts/test.sh` run in it as root, in a clean clone of this checkout.
#
# The fresh machine:
#   - Debian bookworm, as debootstrap's minbase leaves it;
#   - this host's Rust toolchain (rustup's, mounted read-only, and cargo-nextest) and nothing in
#     the cargo registry: every crate is downloaded;
#   - a Docker engine: this host's, through its socket, with the docker client binary and the
#     docker-compose (v1) package, which the machine description includes;
#   - this network's trust: the local CA certificates of this host (/usr/local/share/ca-certificates,
#     e.g. an egress proxy's) and the variables that point tools at the system's bundle
#     (SSL_CERT_FILE, PIP_CERT, ...), which any machine on this network needs to reach crates.io
#     and PyPI. The bundle itself is built in the container, when ca-certificates is installed.
# Everything else (compilers, PostgreSQL, MariaDB, chromium, python3-venv, ...) is for
# scripts/test.sh to install; the run prints what it installed and how long it took.
#
# The clone lives at the same path inside the container as on the host (FRESH_DIR, default
# /tmp/hbnb-fresh), with ../shared beside it, so that the container tests' bind mounts, which the
# host's engine resolves, find their files; TMPDIR points there for the same reason. The container
# uses the host's network (the compose tests publish ports on the host) and gets CAP_SYS_ADMIN
# and CAP_NET_ADMIN (the two-host test makes network namespaces; --privileged is not allowed on
# every engine), so nothing else may use ports 80, 5432 or 3306 meanwhile. Prints what it runs.
#
#   scripts/fresh-machine-test.sh [-- args for scripts/test.sh]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
run() { echo "+ $*" >&2; "$@"; }
started=$SECONDS

FRESH_DIR=${FRESH_DIR:-/tmp/hbnb-fresh}
IMAGE=${FRESH_IMAGE:-debian:bookworm-slim}
RUSTUP_DIR=${RUSTUP_HOME:-$HOME/.rustup}
CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin
NEXTEST=$(command -v cargo-nextest) || {
  echo "fresh-machine-test: no cargo-nextest on this host" >&2
  exit 1
}
DOCKER=$(command -v docker)

docker image inspect "$IMAGE" >/dev/null 2>&1 || run "$repo/scripts/docker-base-images.sh" debian
run rm -rf "$FRESH_DIR"
run mkdir -p "$FRESH_DIR/tmp"
run git clone -q "$repo" "$FRESH_DIR/main"
if [ -d "$repo/../shared" ]; then run cp -a "$repo/../shared" "$FRESH_DIR/shared"; fi
echo "fresh-machine-test: $(git -C "$FRESH_DIR/main" log --oneline -1) in $FRESH_DIR/main" >&2

# Inside: the machine's Docker client side first (part of "a Docker engine"), then the README's
# test command, timed, with the packages it installed listed from dpkg's log.
inside='
set -euo pipefail
echo "---- the machine: $(. /etc/os-release; echo "$PRETTY_NAME"), $(cargo --version), $(cargo nextest --version | head -n1)"
dpkg-query -W -f "\${Package}\n" | sort >/tmp/packages-before
echo "+ apt-get install docker-compose ca-certificates (the machine: a Docker engine with docker-compose v1, the CAs of this network)"
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose ca-certificates >/dev/null
dpkg-query -W -f "\${Package}\n" | sort >/tmp/packages-machine
t0=$SECONDS
echo "---- the README test command: scripts/test.sh $*"
status=0
scripts/test.sh "$@" || status=$?
dpkg-query -W -f "\${Package}\n" | sort >/tmp/packages-after
echo "---- scripts/test.sh exited $status after $((SECONDS - t0)) s"
echo "packages scripts/test.sh installed: $(comm -13 /tmp/packages-machine /tmp/packages-after | wc -l)"
echo "  explicitly: $(zgrep -h " install " /var/log/dpkg.log* 2>/dev/null | wc -l) dpkg installs; top-level:"
sed -n "s/^Commandline: apt-get install //p" /var/log/apt/history.log | tail -n +2 | sed "s/^/    /"
exit $status
'
trust=()
if [ -d /usr/local/share/ca-certificates ]; then
  trust+=(-v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro)
fi
for variable in SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE REQUESTS_CA_BUNDLE PIP_CERT GIT_SSL_CAINFO; do
  if [ -n "${!variable:-}" ]; then trust+=(-e "$variable=${!variable}"); fi
done
status=0
run docker run --rm --name "hbnb-fresh-$$" --cap-add SYS_ADMIN --cap-add NET_ADMIN --network host \
  -v /var/run/docker.sock:/var/run/docker.sock \
  -v "$DOCKER:/usr/bin/docker:ro" \
  -v "$RUSTUP_DIR:/root/.rustup:ro" \
  -v "$CARGO_BIN:/root/.cargo/bin:ro" \
  -v "$NEXTEST:/usr/local/bin/cargo-nextest:ro" \
  -v "$FRESH_DIR:$FRESH_DIR" \
  "${trust[@]}" \
  -e TMPDIR="$FRESH_DIR/tmp" -e CI=true \
  -e PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  -w "$FRESH_DIR/main" "$IMAGE" bash -c "$inside" fresh "$@" || status=$?
echo "fresh-machine-test: exit $status after $((SECONDS - started)) s" >&2
exit $status
