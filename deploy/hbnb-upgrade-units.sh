#!/usr/bin/env bash
# Upgrades the running HBNB services in place, one after another, onto the binaries now on disk:
# the systemd counterpart of `scripts/hbnb-ctl restart` (which names processes by pid file). Used by
# `sudo make restart-prod` (from a checkout) and by the Debian package's postinst on an upgrade
# (installed as /usr/lib/hbnb/hbnb-upgrade-units).
#
#   hbnb-upgrade-units [SERVICE...]     default: hello-service number-service api-service
#                                       web-dynamic db-backup gateway (in that order)
#
# For each hbnb-<SERVICE>.service that is active (others are skipped, not started):
#   1. SIGUSR2 to its main process (systemctl kill --kill-who=main): the process starts the binary
#      on disk on the same listening socket and hands over once the successor is ready. The same
#      signal for every unit: `systemctl reload` is SIGUSR2 for the services but SIGHUP (re-read
#      the configuration) for the gateway.
#   2. waits until systemd's MainPID is a new live process (the successor reports MAINPID with
#      READY=1, once its /readyz would answer 200) and the unit is active;
#   3. checks /readyz on the unit's listening socket (curl --unix-socket /run/hbnb/<x>.sock, or
#      127.0.0.1:<port> for the gateway) when curl is installed;
#   4. waits until the old process has drained and exited, then goes on to the next unit.
# The old process logging that the upgrade failed (the new binary exited or was not ready within
# its 60 s), or any step past its deadline (HBNB_UPGRADE_TIMEOUT seconds, default 90), stops
# everything with an error and exit 1: the old process keeps serving (a successor that is not
# ready is never handed the socket), and the units not reached yet keep their old binaries.
# Prints what it does.
set -euo pipefail

TIMEOUT=${HBNB_UPGRADE_TIMEOUT:-90}
DEFAULT_SERVICES=(hello-service number-service api-service web-dynamic db-backup gateway)

say() { echo "hbnb-upgrade-units: $*" >&2; }
die() {
  echo "hbnb-upgrade-units: error: $*" >&2
  exit 1
}
run() { echo "+ $*" >&2; "$@"; }

[ "$(id -u)" = 0 ] || die "run as root (it signals the services' main processes through systemd)"
[ -d /run/systemd/system ] || die "systemd is not running on this machine"

# Running and not a zombie (a zombie has exited; only its parent has not collected it yet).
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
gone() { ! alive "$1"; }
prop() { systemctl show -p "$2" --value "$1"; }

# wait_until DESCRIPTION COMMAND...: polls every 0.1 s until COMMAND succeeds, dies at the deadline.
wait_until() {
  local what=$1 deadline=$((SECONDS + TIMEOUT))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${TIMEOUT}s waiting until $what"
    sleep 0.1
  done
}

# The successor is the unit's main process, alive, and the unit is active. Dies at once when the
# old process has logged that the upgrade failed (its successor exited or was not ready in time):
# it still serves.
handed_over() {
  local unit=$1 old=$2 since=$3 pid failed
  failed=$(journalctl --no-pager -o cat "_PID=$old" --since "@$since" 2>/dev/null |
    grep -E '"message":"upgrade (failed|refused)' | tail -n1) || true
  [ -z "$failed" ] || die "$unit: the new binary did not become ready; pid $old still serves. It logged: $failed"
  pid=$(prop "$unit" MainPID)
  [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != "$old" ] && alive "$pid" &&
    [ "$(prop "$unit" ActiveState)" = active ]
}

# ready_at LISTEN: GET /readyz = 200 on a Listen= entry of a socket unit ("/run/hbnb/api.sock" or
# "[::]:80", "0.0.0.0:80", "80").
ready_at() {
  local listen=$1 code
  if [[ $listen == /* ]]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --unix-socket "$listen" http://localhost/readyz) || true
  else
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:${listen##*:}/readyz") || true
  fi
  [ "$code" = 200 ]
}

upgrade_unit() {
  local name=$1 unit="hbnb-$1.service" old new exe listen since t0=$SECONDS
  if ! systemctl --quiet is-active "$unit"; then
    say "$unit is not running: skipped (it starts on the new binary)"
    return 0
  fi
  old=$(prop "$unit" MainPID)
  if [ -z "$old" ] || [ "$old" = 0 ]; then die "$unit is active but has no main pid"; fi
  since=$(date +%s)
  run systemctl kill --kill-who=main --signal=SIGUSR2 "$unit"
  wait_until "$unit has a new ready main process (pid $old did not hand over: it still serves; see journalctl -u $unit)" \
    handed_over "$unit" "$old" "$since"
  new=$(prop "$unit" MainPID)
  # (Unreadable without CAP_SYS_PTRACE, as for root in a container.)
  exe=$(readlink "/proc/$new/exe" 2>/dev/null) && exe=" ($exe)" || exe=
  # The first Listen= of its socket unit (plain HTTP: the Unix socket, or the gateway's port 80).
  listen=$(systemctl show -p Listen --value "hbnb-$name.socket" 2>/dev/null | head -n1) || listen=
  listen=${listen%% (*}
  if [ -n "$listen" ] && command -v curl >/dev/null 2>&1; then
    wait_until "pid $new of $unit answers /readyz on $listen" ready_at "$listen"
  fi
  wait_until "the old process $old of $unit has finished its requests and exited" gone "$old"
  alive "$new" || die "the new process $new of $unit exited (journalctl -u $unit)"
  say "$unit: pid $old -> $new$exe, ready, in $((SECONDS - t0)) s"
}

if [ $# -gt 0 ]; then services=("$@"); else services=("${DEFAULT_SERVICES[@]}"); fi
for name in "${services[@]}"; do
  systemctl cat "hbnb-$name.service" >/dev/null 2>&1 || die "no unit hbnb-$name.service"
done
run systemctl daemon-reload
for name in "${services[@]}"; do upgrade_unit "$name"; done
say "done: ${#services[@]} unit(s) checked, each running the binary on disk"
