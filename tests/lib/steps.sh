# The steps of the shell tests (sourced by tests/docker/lib.sh, tests/systemd/machine.sh and
# tests/hosts/two-hosts.sh, from the repository's root):
#   run CMD...            prints CMD, then runs it
#   fail REASON           prints "FAIL: REASON" and exits 1
#   wait_for WHAT CMD...  polls CMD (quietly, every 0.2 s) until it succeeds; fails after
#                         $DEADLINE seconds (the sourcing script sets it) naming WHAT
# shellcheck shell=bash

run() { echo "+ $*" >&2; "$@"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
wait_for() {
  local what=$1 deadline=$((SECONDS + DEADLINE))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${DEADLINE}s waiting for: $what"
    sleep 0.2
  done
}
