#!/usr/bin/env bash
# The systemd units of deploy/systemd/, booted for real: a container whose PID 1 is systemd (Debian
# bookworm + systemd, tests/systemd/Dockerfile), the units installed the way docs/operations.md ("systemd")
# tells an operator to (deploy/systemd/install.sh), then black-box steps through `docker exec`:
#
#   1. socket activation on demand (a request to a socket starts its service)
#   2. systemctl start hbnb.target; every course port and :80 answer as documented
#   3. the gateway runs with no capability, as user hbnb, and serves :80 from the socket unit
#   4. journalctl -u hbnb-gateway -o json: a request found by its X-Request-Id, with its status
#   5. under load through :80 (tests/systemd/load.sh, loopback in the container): systemctl reload
#      hbnb-gateway x3, systemctl reload hbnb-api-service (SIGUSR2 upgrade), systemctl restart
#      hbnb-web-dynamic: no request may fail; kill -9 of the api-service main pid: systemd restarts
#      it, and only requests in flight on it may fail (at most one per client, API paths only)
#   6. the hardening: systemd-analyze security exposure, the live gateway's root mount read-only,
#      and writes outside the state directory refused under the gateway's own sandbox settings
#   7. db-backup's schedule (a short BACKUP_INTERVAL through a drop-in) and
#      hbnb-db-backup-now.service; db-backup list / verify
#   8. systemctl stop hbnb.target: every service stops cleanly
#
# Uses the binaries `cargo build --workspace --bins` built (${CARGO_TARGET_DIR:-target}/debug),
# stripped of debug info into ${CARGO_TARGET_DIR:-target}/systemd-test/bin. The image is cached by
# a hash of its Dockerfile and base image (hbnb-systemd-test:<hash>); debian:bookworm-slim comes
# from scripts/docker-base-images.sh when missing. The container publishes no port and is always
# removed. Prints what it runs and the figures. Settings: CLIENTS (4), DEADLINE (60 s per wait),
# EXPOSURE_MAX (4.0: the gateway's systemd-analyze exposure must stay at or below it).
set -euo pipefail
cd "$(dirname "$0")/../.."

CONTAINER=hbnb-systemd-test-$$
TEST_NAME="systemd boot test"
CLIENTS=${CLIENTS:-4}
DEADLINE=${DEADLINE:-60}
EXPOSURE_MAX=${EXPOSURE_MAX:-4.0}
BINARIES=(gateway hello-service number-service api-service web-dynamic db-backup)
SERVICES=(gateway hello-service number-service api-service web-dynamic db-backup)
LOAD=/src/hbnb/tests/systemd/load.sh
target_dir=${CARGO_TARGET_DIR:-target}
# shellcheck source=tests/systemd/machine.sh
. tests/systemd/machine.sh

for b in "${BINARIES[@]}"; do
  [ -x "$target_dir/debug/$b" ] || fail "$target_dir/debug/$b is missing: run cargo build --workspace --bins first"
done

# ---------------------------------------------------------------- image and boot
machine_image
bin_dir=$target_dir/systemd-test/bin
run mkdir -p "$bin_dir"
for b in "${BINARIES[@]}"; do
  run strip --strip-debug -o "$bin_dir/$b" "$target_dir/debug/$b"
done
bin_dir=$(realpath "$bin_dir")
machine_boot hbnb-systemd-test -v "$PWD:/src/hbnb:ro" -v "$bin_dir:/src/bin:ro"

# ---------------------------------------------------------------- install, as docs/operations.md says
dx /src/hbnb/deploy/systemd/install.sh --no-start /src/bin
dx id hbnb

# ---------------------------------------------------------------- 1. socket activation on demand
dx systemctl start hbnb-hello-service.socket
[ "$(prop hello-service ActiveState)" = inactive ] || fail "hbnb-hello-service started before any connection"
body=$(dx curl -sS --max-time 10 --unix-socket /run/hbnb/hello.sock http://localhost/airbnb-onepage/) ||
  fail "curl --unix-socket /run/hbnb/hello.sock failed"
[ "$body" = "Hello HBNB!" ] || fail "first request on hello.sock: expected 'Hello HBNB!', got: $body"
[ "$(prop hello-service ActiveState)" = active ] || fail "hbnb-hello-service not active after a request on its socket"
echo "ok: a connection to hbnb-hello-service.socket started hbnb-hello-service (Hello HBNB!)" >&2

# ---------------------------------------------------------------- 2. the whole stack
t0=$(now_ms)
dx systemctl start hbnb.target
# Each started at its first try: Restart=on-failure must not be what makes the boot work.
for s in "${SERVICES[@]}"; do
  st=$(prop "$s" ActiveState)
  [ "$st" = active ] || fail "hbnb-$s is $st after systemctl start hbnb.target"
  n=$(prop "$s" NRestarts)
  [ "$n" = 0 ] || fail "hbnb-$s failed and was restarted $n time(s) during systemctl start hbnb.target"
done
SOCKETS=(hello number api web db-backup)
ready() {
  local socket
  [ "$(dq curl -s -o /dev/null -w '%{http_code}' --max-time 5 127.0.0.1/readyz)" = 200 ] || return 1
  for socket in "${SOCKETS[@]}"; do
    [ "$(dq curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "/run/hbnb/$socket.sock" \
      http://localhost/readyz)" = 200 ] || return 1
  done
}
wait_for "/readyz = 200 on :80 and on /run/hbnb/{hello,number,api,web,db-backup}.sock" ready
figure "systemctl start hbnb.target until all ready" "$(secs_since "$t0") s"
for s in "${SERVICES[@]}"; do
  dq journalctl -u "hbnb-$s" -o cat --no-pager | grep -q '"using inherited listening socket"' ||
    fail "hbnb-$s did not take its socket from systemd (no 'using inherited listening socket' line)"
done
echo "ok: all six services active, each on the socket systemd passed it" >&2
# The operator's summary, as install.sh installed it: every unit running and ready.
status_out=$(dx hbnb-ctl status) || fail "hbnb-ctl status failed: $status_out"
echo "$status_out" >&2
for s in "${SERVICES[@]}"; do
  grep -q "^$s *active/running .* yes .*/usr/local/bin/$s$" <<<"$status_out" ||
    fail "hbnb-ctl status does not show $s running and ready from /usr/local/bin/$s"
done

checks=0
# expect_body [--unix-socket PATH] URL TEXT
expect_body() {
  local body socket=()
  if [ "$1" = --unix-socket ]; then socket=(--unix-socket "$2"); shift 2; fi
  body=$(dx curl -sS --max-time 10 "${socket[@]}" "$1") || fail "curl $1 failed"
  [[ $body == *"$2"* ]] || fail "GET $1: expected the body to contain '$2', got: ${body:0:300}"
  checks=$((checks + 1))
}
expect_status() {
  local code
  code=$(dx curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$1") || true
  [ "$code" = "$2" ] || fail "GET $1: expected status $2, got $code"
  checks=$((checks + 1))
}
expect_body --unix-socket /run/hbnb/hello.sock http://localhost/airbnb-onepage/ "Hello HBNB!"
expect_body --unix-socket /run/hbnb/number.sock http://localhost/number_odd_or_even/4 "<H1>Number: 4 is even</H1>"
expect_body --unix-socket /run/hbnb/number.sock http://localhost/number_odd_or_even/89 "<H1>Number: 89 is odd</H1>"
expect_body --unix-socket /run/hbnb/number.sock http://localhost/c/is_fun "C is fun"
expect_body --unix-socket /run/hbnb/number.sock http://localhost/hbnb "HBNB"
expect_body --unix-socket /run/hbnb/api.sock http://localhost/api/v1/status '{"status":"OK"}'
expect_body --unix-socket /run/hbnb/web.sock http://localhost/2-hbnb/ "Holberton School"
expect_body --unix-socket /run/hbnb/web.sock http://localhost/hbnb/ "<title>HBnB</title>"
head=$(dx curl -sSI --max-time 10 127.0.0.1/airbnb-onepage/) || fail "curl -I :80 failed"
[[ $head == "HTTP/1.1 200"* ]] || fail "HEAD :80/airbnb-onepage/: expected 200, got: ${head%%$'\r'*}"
grep -qi '^x-served-by: hbnb-systemd-test' <<<"$head" || fail "HEAD :80/airbnb-onepage/: no X-Served-By: hbnb-systemd-test in: $head"
checks=$((checks + 1))
expect_body 127.0.0.1/airbnb-onepage/ "Hello HBNB!"
expect_body 127.0.0.1/airbnb-dynamic/number_odd_or_even/4 "<H1>Number: 4 is even</H1>"
expect_status 127.0.0.1/airbnb-dynamic/number_odd_or_even/abc 404
expect_body 127.0.0.1/api/v1/status '{"status":"OK"}'
expect_body 127.0.0.1/ "<title>HBnB</title>"
expect_body 127.0.0.1/hbnb/ "<title>HBnB</title>"
expect_status 127.0.0.1/static/styles/4-common.css 200
echo "ok: $checks curl checks on :80 and the services' Unix sockets" >&2
# The services listen on Unix sockets only: no TCP port of theirs answers, and only hbnb (the
# services' user and the gateway's group) may connect.
for port in 5000 5001 5002 5003 5004; do
  ! dq curl -s -o /dev/null --max-time 2 "127.0.0.1:$port/healthz" || fail "something answers on TCP port $port"
done
perms=$(dx stat -c '%a %U:%G %n' /run/hbnb/hello.sock /run/hbnb/number.sock /run/hbnb/api.sock \
  /run/hbnb/web.sock /run/hbnb/db-backup.sock)
echo "$perms" >&2
[ "$(grep -c '^660 hbnb:hbnb ' <<<"$perms")" = 5 ] || fail "the services' sockets are not 660 hbnb:hbnb: $perms"
code=$(dq setpriv --reuid=nobody --regid=nogroup --clear-groups curl -s -o /dev/null -w '%{http_code}' \
  --max-time 2 --unix-socket /run/hbnb/api.sock http://localhost/api/v1/status || true)
[ "$code" = 000 ] || fail "user nobody reached api.sock (HTTP $code): the socket is not restricted"
echo "ok: the services answer on 660 hbnb:hbnb sockets only; nobody else connects" >&2

# ---------------------------------------------------------------- 3. the gateway, unprivileged
pid=$(prop gateway MainPID)
status=$(dx grep -E '^(Uid|CapPrm|CapEff|CapAmb|NoNewPrivs):' "/proc/$pid/status")
echo "$status" >&2
grep -Eq '^CapEff:[[:space:]]+0+$' <<<"$status" || fail "the gateway (pid $pid) has effective capabilities"
grep -Eq '^CapPrm:[[:space:]]+0+$' <<<"$status" || fail "the gateway (pid $pid) has permitted capabilities"
grep -Eq '^NoNewPrivs:[[:space:]]+1$' <<<"$status" || fail "the gateway (pid $pid) can gain privileges"
[ "$(awk '/^Uid:/ {print $2}' <<<"$status")" = "$(dq id -u hbnb)" ] || fail "the gateway does not run as hbnb"
listen=$(dx systemctl show -p Listen --value hbnb-gateway.socket)
[[ $listen == *":80 (Stream)"* ]] || fail "hbnb-gateway.socket does not listen on :80: $listen"
echo "ok: gateway pid $pid runs as hbnb with CapEff=0 and serves :80 from hbnb-gateway.socket ($listen)" >&2

# ---------------------------------------------------------------- 4. the journal
rid=systemd-test-$$-$RANDOM
dx curl -sS -o /dev/null --max-time 10 -H "X-Request-Id: $rid" 127.0.0.1/api/v1/status
find_request() {
  dq sh -c "journalctl -u hbnb-gateway -o json --no-pager | jq -c -e --arg id '$rid' '
    (.MESSAGE | fromjson?) as \$m | select(\$m.request_id == \$id)
    | {_SYSTEMD_UNIT, _PID, _UID, PRIORITY, SYSLOG_IDENTIFIER, MESSAGE: \$m}' | head -n1 | grep ."
}
echo "+ docker exec $CONTAINER sh -c 'journalctl -u hbnb-gateway -o json | jq (MESSAGE | fromjson) | select(.request_id == \"$rid\")'" >&2
wait_for "the request $rid in journalctl -u hbnb-gateway -o json" find_request
entry=$(find_request)
echo "$entry" >&2
[ "$(jq -r '.MESSAGE.status' <<<"$entry")" = 200 ] || fail "journal entry of $rid: status is not 200"
[ "$(jq -r '.MESSAGE.path' <<<"$entry")" = /api/v1/status ] || fail "journal entry of $rid: wrong path"
[ "$(jq -r '._SYSTEMD_UNIT' <<<"$entry")" = hbnb-gateway.service ] || fail "journal entry of $rid: wrong unit"
echo "ok: journalctl -u hbnb-gateway -o json has request $rid with its status, path, upstream and times" >&2

# ---------------------------------------------------------------- 5. operations under load
count() { dq sh -c "cat $1/*.log 2>/dev/null | wc -l"; }
at_least() { [ "$(count "$1")" -ge "$2" ]; }
# more_requests DIR N: wait until N more requests have been made in DIR.
more_requests() { local n; n=$(count "$1"); wait_for "$2 more requests under load" at_least "$1" $((n + $2)); }
rows=()
clients_done() { [ "$(dq sh -c "ls $1/*.done 2>/dev/null | wc -l")" -eq "$CLIENTS" ]; }
# phase NAME ACTION: load, then ACTION once 200 requests are done, then 300 more, then stop.
phase() {
  local name=$1 action=$2 dir=/run/hbnb-load/$1 t0 stats
  echo "---- phase: $name, under load ($CLIENTS clients through :80)" >&2
  echo "+ docker exec -d $CONTAINER $LOAD $dir $CLIENTS" >&2
  docker exec -d "$CONTAINER" "$LOAD" "$dir" "$CLIENTS"
  t0=$(now_ms)
  wait_for "200 requests before $name" at_least "$dir" 200
  "$action" "$dir"
  more_requests "$dir" 300
  dq touch "$dir/stop"
  wait_for "the load clients of $name to stop" clients_done "$dir"
  # requests failures seconds p50_ms p99_ms max_ms (times sorted first: no gawk needed)
  stats=$(dq sh -c "cat $dir/*.log" | sort -k3,3g | awk -v secs="$(secs_since "$t0")" '
    { n++; t[n] = $3 * 1000; if (!($2 == 0 && $1 ~ /^2/)) f++ }
    END { printf "%d %d %s %.1f %.1f %.1f", n, f, secs, t[int(n * 0.5) + 1], t[int(n * 0.99) + 1], t[n] }')
  rows+=("$name $stats")
  read -r PHASE_REQUESTS PHASE_FAILURES _ <<<"$stats"
  PHASE_FAILED_LINES=$(dq sh -c "cat $dir/*.log" | awk '!($2 == 0 && $1 ~ /^2/)')
  [ -z "$PHASE_FAILED_LINES" ] || printf 'failed requests:\n%s\n' "$PHASE_FAILED_LINES" >&2
  echo "$name: $PHASE_REQUESTS requests, $PHASE_FAILURES failed" >&2
}

# journal_count UNIT MESSAGE: how many lines of UNIT's journal have "message":"MESSAGE".
journal_count() { dq sh -c "journalctl -u $1 -o cat | grep -c '\"message\":\"$2\"' || true"; }
journal_above() { [ "$(journal_count "$1" "$2")" -gt "$3" ]; }
reload_gateway() {
  local dir=$1 pid i before
  pid=$(prop gateway MainPID)
  for i in 1 2 3; do
    before=$(journal_count hbnb-gateway "configuration reloaded")
    dx systemctl reload hbnb-gateway
    wait_for "the gateway to log 'configuration reloaded' (reload $i)" \
      journal_above hbnb-gateway "configuration reloaded" "$before"
    more_requests "$dir" 100
  done
  [ "$(prop gateway MainPID)" = "$pid" ] || fail "the gateway's main pid changed on reload"
}
upgraded() {
  [ "$(prop api-service MainPID)" != "$1" ] && [ "$(prop api-service ActiveState)" = active ] &&
    ! dq test -e "/proc/$1"
}
restarted() { [ "$(prop api-service NRestarts)" -gt "$1" ] && [ "$(prop api-service ActiveState)" = active ]; }
upgrade_api() {
  local old t0
  old=$(prop api-service MainPID)
  t0=$(now_ms)
  dx systemctl reload hbnb-api-service
  wait_for "a successor to become hbnb-api-service's main pid and pid $old to exit" upgraded "$old"
  echo "api-service upgraded in place: pid $old -> $(prop api-service MainPID), $(secs_since "$t0") s" >&2
  figure "api-service SIGUSR2 upgrade until old pid gone" "$(secs_since "$t0") s"
}
restart_web() {
  local old t0
  old=$(prop web-dynamic MainPID)
  t0=$(now_ms)
  dx systemctl restart hbnb-web-dynamic
  [ "$(prop web-dynamic ActiveState)" = active ] || fail "hbnb-web-dynamic not active after restart"
  [ "$(prop web-dynamic MainPID)" != "$old" ] || fail "hbnb-web-dynamic kept pid $old across restart"
  figure "systemctl restart hbnb-web-dynamic" "$(secs_since "$t0") s"
}
kill_api() {
  local old restarts t0
  old=$(prop api-service MainPID)
  restarts=$(prop api-service NRestarts)
  t0=$(now_ms)
  dx sh -c "kill -9 $old"
  wait_for "systemd to restart hbnb-api-service after kill -9 of pid $old" restarted "$restarts"
  echo "api-service restarted by systemd: pid $old -> $(prop api-service MainPID), $(secs_since "$t0") s" >&2
  figure "kill -9 api-service until restarted and ready" "$(secs_since "$t0") s"
}

phase "gateway-reload-x3" reload_gateway
[ "$PHASE_FAILURES" = 0 ] || fail "systemctl reload hbnb-gateway x3: $PHASE_FAILURES failed requests"
phase "api-service-reload" upgrade_api
[ "$PHASE_FAILURES" = 0 ] || fail "systemctl reload hbnb-api-service: $PHASE_FAILURES failed requests"
phase "web-dynamic-restart" restart_web
[ "$PHASE_FAILURES" = 0 ] || fail "systemctl restart hbnb-web-dynamic: $PHASE_FAILURES failed requests"
phase "api-service-kill-9" kill_api
if [ "$PHASE_FAILURES" -gt 0 ]; then
  # One request per client at a time: at most CLIENTS can have been in flight, all of them on the API.
  [ "$PHASE_FAILURES" -le "$CLIENTS" ] || fail "kill -9: $PHASE_FAILURES failed requests, more than the $CLIENTS that can be in flight"
  ! grep -v ' http://127.0.0.1/api/' <<<"$PHASE_FAILED_LINES" | grep -q . ||
    fail "kill -9 of the api-service failed requests that were not API requests"
fi
kill_failures=$PHASE_FAILURES
total_requests=0
for row in "${rows[@]}"; do total_requests=$((total_requests + $(awk '{print $2}' <<<"$row"))); done

# ---------------------------------------------------------------- 6. the hardening
echo "---- hardening" >&2
for s in "${SERVICES[@]}"; do
  score=$(dq systemd-analyze security --no-pager "hbnb-$s.service" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \(.*\)$/\1 \2/p')
  [ -n "$score" ] || fail "systemd-analyze security hbnb-$s printed no exposure level"
  echo "systemd-analyze security hbnb-$s: $score" >&2
  [ "$s" = gateway ] && gateway_score=$score
done
figure "systemd-analyze security hbnb-gateway" "$gateway_score"
awk -v s="${gateway_score%% *}" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(s <= m) }' ||
  fail "hbnb-gateway's exposure $gateway_score is above EXPOSURE_MAX=$EXPOSURE_MAX"

# The running gateway's own mount namespace: / read-only, the state directory writable.
pid=$(prop gateway MainPID)
root_opts=$(dq awk '$5 == "/" { o = $6 } END { print o }' "/proc/$pid/mountinfo")
state_opts=$(dq awk '$5 == "/var/lib/hbnb" { o = $6 } END { print o }' "/proc/$pid/mountinfo")
echo "gateway pid $pid mounts: / $root_opts; /var/lib/hbnb $state_opts" >&2
[[ $root_opts == ro,* ]] || fail "the gateway's root file system is not read-only ($root_opts): ProtectSystem=strict not applied"
[[ $state_opts == rw,* ]] || fail "the gateway's state directory is not writable ($state_opts)"

# Writes, tried in a transient unit with the gateway's own file-system sandbox (as loaded by
# systemd from the installed unit), as root: only the sandbox can refuse them, not permissions.
# StateDirectory= becomes the ReadWritePaths= it implies: a StateDirectory= of a root unit would
# chown the live services' directory to root.
sandbox=()
while IFS= read -r line; do
  case $line in
    *=) ;;
    StateDirectory=*) for d in ${line#*=}; do sandbox+=(-p "ReadWritePaths=/var/lib/$d"); done ;;
    *) sandbox+=(-p "$line") ;;
  esac
done < <(dq systemctl show hbnb-gateway -p ProtectSystem -p ProtectHome -p PrivateTmp -p PrivateDevices \
  -p ReadWritePaths -p ReadOnlyPaths -p InaccessiblePaths -p StateDirectory -p ProtectKernelTunables \
  -p ProtectControlGroups -p ProtectKernelLogs -p ProtectKernelModules)
probe='for d in /etc /usr/local/bin /var/lib /var/log /run /run/lock /home /root /var/lib/hbnb /tmp; do
  if err=$(touch "$d/.hbnb-probe" 2>&1); then echo "$d writable"; rm -f "$d/.hbnb-probe";
  else echo "$d refused (${err##*: })"; fi; done'
probe_out=$(dx systemd-run --quiet --wait --pipe "${sandbox[@]}" /bin/sh -c "$probe")
echo "$probe_out" >&2
for d in /etc /usr/local/bin /var/lib /var/log /run /run/lock /home /root; do
  grep -qx "$d refused.*" <<<"$probe_out" || fail "under the gateway's sandbox, root could write to $d"
done
grep -qx "/var/lib/hbnb writable" <<<"$probe_out" || fail "under the gateway's sandbox, the state directory is not writable"
dq test ! -e /tmp/.hbnb-probe || fail "the sandbox's /tmp is the machine's /tmp (PrivateTmp not applied)"
as_user=$(dx systemd-run --quiet --wait --pipe "${sandbox[@]}" -p User=hbnb /bin/sh -c \
  'touch /var/lib/hbnb/.hbnb-probe && rm /var/lib/hbnb/.hbnb-probe && echo "hbnb: /var/lib/hbnb writable"')
echo "$as_user" >&2
echo "ok: outside its state directory (and a private /tmp), nothing is writable in the gateway's sandbox, even as root" >&2

# ---------------------------------------------------------------- 7. db-backup
echo "---- db-backup" >&2
# Data for the backups: a state and a city, through :80.
state_id=$(dx curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' -d '{"name":"Systemd"}' \
  127.0.0.1/api/v1/states | jq -r .id)
[ -n "$state_id" ] && [ "$state_id" != null ] || fail "POST /api/v1/states through :80 failed"
dx curl -sS --max-time 10 -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"name":"Unitville"}' \
  "127.0.0.1/api/v1/states/$state_id/cities"
dq journalctl -u hbnb-db-backup -o cat | grep -q '"next backup scheduled"' ||
  fail "hbnb-db-backup logged no 'next backup scheduled'"
# The schedule: an interval of 3 s through a drop-in (what `systemctl edit hbnb-db-backup` writes).
dx sh -c 'mkdir -p /etc/systemd/system/hbnb-db-backup.service.d &&
  printf "[Service]\nEnvironment=BACKUP_INTERVAL=3s\n" >/etc/systemd/system/hbnb-db-backup.service.d/interval.conf &&
  systemctl daemon-reload'
dx systemctl restart hbnb-db-backup
t0=$(now_ms)
n0=$(journal_count hbnb-db-backup "backup verified and complete")
wait_for "two scheduled backups 3 s apart" journal_above hbnb-db-backup "backup verified and complete" $((n0 + 1))
figure "two scheduled backups (BACKUP_INTERVAL=3s) in" "$(secs_since "$t0") s"
dx sh -c 'rm /etc/systemd/system/hbnb-db-backup.service.d/interval.conf && systemctl daemon-reload'
dx systemctl restart hbnb-db-backup
dq journalctl -u hbnb-db-backup -o cat | grep '"next backup scheduled"' | tail -n1 >&2
# The one-shot: it waits until its backup is verified.
before=$(dq sh -c 'ls /var/lib/hbnb/data/backups/*.json | wc -l')
dx systemctl start hbnb-db-backup-now.service
[ "$(dq systemctl show -p Result --value hbnb-db-backup-now.service)" = success ] ||
  fail "hbnb-db-backup-now.service did not succeed"
dq journalctl -u hbnb-db-backup-now -o cat | grep '"backup verified and complete"' | tail -n1 >&2
dbb=(systemd-run --quiet --wait --pipe -p User=hbnb -p Group=hbnb -p WorkingDirectory=/var/lib/hbnb
  -p EnvironmentFile=-/etc/hbnb/hbnb.env /usr/local/bin/db-backup)
dx "${dbb[@]}" list >&2
latest=$(dx "${dbb[@]}" list --json | jq -c '.[-1] | {id, size, tables, verified: .verification.ok}')
echo "latest: $latest" >&2
jq -e '.verified and .tables.states >= 1 and .tables.cities >= 1' <<<"$latest" >/dev/null ||
  fail "the latest backup is not verified or lacks the state and city created above: $latest"
[ "$(dq sh -c 'ls /var/lib/hbnb/data/backups/*.json | wc -l')" -gt "$before" ] || fail "db-backup-now added no backup"
verify=$(dx "${dbb[@]}" verify latest) || fail "db-backup verify latest failed: $verify"
echo "$verify" >&2
backups=$(dx "${dbb[@]}" list --json | jq -r '"\(length) (\(map(select(.verification.ok)) | length) verified)"')
figure "backups listed by db-backup list" "$backups"

# ---------------------------------------------------------------- 8. config test, refused reload, priorities
# The gateway on a configuration file: the one `gateway --print-config` prints with the unit's
# upstreams (a drop-in names it), checked by `systemctl reload`, which fails on a broken file while
# the old configuration serves on. A SIGHUP that bypasses the check makes the gateway log an ERROR,
# which `journalctl -p err` finds (the lines carry their priority), and an INFO line it does not.
dx sh -c 'env HELLO_UPSTREAM=unix:/run/hbnb/hello.sock NUMBER_UPSTREAM=unix:/run/hbnb/number.sock \
  API_UPSTREAM=unix:/run/hbnb/api.sock WEB_UPSTREAM=unix:/run/hbnb/web.sock STATIC_DIR=/usr/local/share/hbnb/static \
  /usr/local/bin/gateway --print-config > /etc/hbnb/gateway.toml'
dx mkdir -p /etc/systemd/system/hbnb-gateway.service.d
dx sh -c 'printf "[Service]\nEnvironment=GATEWAY_CONFIG=/etc/hbnb/gateway.toml\n" > /etc/systemd/system/hbnb-gateway.service.d/config.conf'
dx systemctl daemon-reload
# A new environment takes a new process (the socket stays with systemd: nothing is refused).
dx systemctl restart hbnb-gateway
dx systemctl reload hbnb-gateway || fail "systemctl reload hbnb-gateway refused the printed configuration"
reloaded_from_file() {
  local lines
  lines=$(dq journalctl -u hbnb-gateway --no-pager -o cat)
  grep 'configuration reloaded' <<<"$lines" | grep -q /etc/hbnb/gateway.toml
}
wait_for "the gateway reloaded from /etc/hbnb/gateway.toml" reloaded_from_file
expect_body 127.0.0.1/airbnb-onepage/ "Hello HBNB!"
dx sh -c 'printf "[[route]]\nmatch = \"prefix\"\npath = \"/\"\nupstream = \"nowhere\"\n" >> /etc/hbnb/gateway.toml'
if out=$(dx systemctl reload hbnb-gateway 2>&1); then
  fail "systemctl reload hbnb-gateway succeeded with a broken configuration"
fi
echo "$out" >&2
# (Output captured before grep: with pipefail, grep -q leaving early fails the pipeline.)
recent=$(dq journalctl -u hbnb-gateway --no-pager -n 20 -o cat)
grep -q 'unknown upstream "nowhere"' <<<"$recent" || fail "the refused reload's reason is not in the gateway's journal"
expect_body 127.0.0.1/airbnb-onepage/ "Hello HBNB!"
echo "ok: systemctl reload hbnb-gateway failed on a broken configuration; the old one serves on" >&2
dx systemctl kill -s HUP --kill-who=main hbnb-gateway
refused_in_err() {
  local errors
  errors=$(dq journalctl -u hbnb-gateway -p err --no-pager -o cat)
  grep -q 'configuration reload refused' <<<"$errors"
}
wait_for "the gateway's ERROR line in journalctl -p err" refused_in_err
errors=$(dq journalctl -u hbnb-gateway -p err --no-pager -o cat)
! grep -q '"listening"' <<<"$errors" || fail "journalctl -p err shows INFO lines: the priorities are not set"
infos=$(dq journalctl -u hbnb-gateway -p info --no-pager -o cat)
grep -q '"listening"' <<<"$infos" || fail "journalctl -p info does not show the gateway's INFO lines"
priority=$(dq sh -c "journalctl -u hbnb-gateway -p err -o json --no-pager | jq -r 'select(.MESSAGE | test(\"reload refused\")) | .PRIORITY' | head -n1")
[ "$priority" = 3 ] || fail "the refused reload's line has priority '$priority', not 3 (err)"
echo "ok: journalctl -p err -u hbnb-gateway shows the ERROR (priority 3) and no INFO line" >&2

# ---------------------------------------------------------------- 9. stop
# The target is ordered after the services (so that starting it waits for them): stopping it returns
# at once, and the services stop (drain, then exit) in the stop jobs it queued.
all_stopped() {
  local s
  for s in "${SERVICES[@]}"; do [ "$(prop "$s" ActiveState)" = inactive ] || return 1; done
}
t0=$(now_ms)
dx systemctl stop hbnb.target
wait_for "every HBNB service to stop after systemctl stop hbnb.target" all_stopped
for s in "${SERVICES[@]}"; do
  r=$(prop "$s" Result)
  [ "$r" = success ] || fail "hbnb-$s stopped with result $r"
  n=$(prop "$s" NRestarts)
  expected=0
  [ "$s" = api-service ] && expected=1 # the kill -9
  [ "$n" = "$expected" ] || fail "hbnb-$s was restarted $n time(s) by systemd (expected $expected)"
done
[ "$(dq systemctl show -p ActiveState --value hbnb-gateway.socket)" = inactive ] || fail "hbnb-gateway.socket still listens after systemctl stop hbnb.target"
figure "systemctl stop hbnb.target (all exit 0)" "$(secs_since "$t0") s"

# ---------------------------------------------------------------- figures
echo >&2
echo "systemd boot test: all checks passed ($checks curl checks)" >&2
printf '%-22s %9s %9s %8s %8s %8s %8s\n' phase requests failures seconds "p50 ms" "p99 ms" "max ms" >&2
for row in "${rows[@]}"; do
  # shellcheck disable=SC2086
  printf '%-22s %9s %9s %8s %8s %8s %8s\n' $row >&2
done
echo "under load: $total_requests requests; kill -9 of the api-service: $kill_failures failed (in flight on it)" >&2
printf '%s\n' "${figures[@]}" >&2
