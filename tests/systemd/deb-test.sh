#!/usr/bin/env bash
# The Debian package (docs/package.md), installed, upgraded under load, removed and purged on a
# fresh Debian 12 whose PID 1 is systemd: the same machine as tests/systemd/boot-test.sh (image
# from tests/systemd/Dockerfile, no registry, no port published), then black-box steps through
# `docker exec`:
#
#   1. make deb twice: VERSION=$V1 and VERSION=$V2 (same binaries; only the package version differs)
#   2. apt-get install ./hbnb_$V1.deb (no network: every dependency is in the image): the user
#      hbnb, hbnb.target enabled and started, :80 serves /airbnb-onepage/ and /api/v1/status
#   2b. HTTPS (a test CA made here with openssl): `hbnb-ctl tls` turns it on (443 from
#      hbnb-gateway-https.socket, h2 by ALPN); under load over HTTPS a second certificate is
#      swapped in by `hbnb-ctl tls` (a reload) with no failed request, new handshakes get it; a
#      certificate with the wrong key is refused and the served one stays; `hbnb-ctl status`
#   3. under load through :80 (tests/systemd/load.sh, loopback in the container): apt-get install
#      ./hbnb_$V2.deb; no request may fail; the package is $V2; every service has a new main pid,
#      running the new /usr/bin file (/proc/<pid>/exe not deleted), and was not restarted by
#      systemd; a line added to the conffile /etc/hbnb/hbnb.env is still there
#   4. apt-get remove hbnb: every unit stopped, nothing on :80; /var/lib/hbnb (a state created in
#      step 3 in the database) and /etc/hbnb kept; nothing on 443
#   5. apt-get install ./hbnb_$V2.deb again: enabled, started, the state still served, HTTPS on
#   6. apt-get purge hbnb: stopped; /etc/hbnb and the HTTPS drop-in gone; /var/lib/hbnb and the
#      user hbnb kept
#
# Builds with `make deb` (PROFILE=release by default: cargo build --release --workspace --bins;
# PROFILE=debug packages the debug build, as the boot test uses). The container is always
# removed. Prints what it runs and the figures. Settings: CLIENTS (4), COMPRESS (gzip), DEADLINE (60 s per wait),
# PROFILE (release), V1 (0.1.0~test1), V2 (0.1.0~test2); DEB1 and DEB2: two packages already
# built (the second newer), instead of `make deb`.
set -euo pipefail
cd "$(dirname "$0")/../.."

CONTAINER=hbnb-deb-test-$$
TEST_NAME="deb test"
CLIENTS=${CLIENTS:-4}
DEADLINE=${DEADLINE:-60}
PROFILE=${PROFILE:-release}
V1=${V1:-0.1.0~test1}
V2=${V2:-0.1.0~test2}
SERVICES=(gateway hello-service number-service api-service web-dynamic db-backup)
SOCKETS=(gateway hello-service number-service api-service web-dynamic db-backup)
LOAD=/src/tests/load.sh
target_dir=${CARGO_TARGET_DIR:-target}
# shellcheck source=tests/systemd/machine.sh
. tests/systemd/machine.sh

# ---------------------------------------------------------------- 1. two packages
if [ -n "${DEB1:-}" ] && [ -n "${DEB2:-}" ]; then
  deb1=$DEB1
  deb2=$DEB2
  V1=$(dpkg-deb -f "$deb1" Version)
  V2=$(dpkg-deb -f "$deb2" Version)
  echo "packages given: $deb1 ($V1), $deb2 ($V2)" >&2
else
  t0=$(now_ms)
  # gzip, not the package's xz: the same contents in a fraction of the time (xz took 3.5 min per
  # debug package on 2 cores).
  run make deb VERSION="$V1" PROFILE="$PROFILE" COMPRESS="${COMPRESS:-gzip}"
  figure "make deb VERSION=$V1" "$(secs_since "$t0") s"
  # The same binaries: BUILD=0 packs them without asking cargo, which would relink them all if a
  # branch ref moved meanwhile (common/build.rs puts the commit in --version).
  t0=$(now_ms)
  run make deb VERSION="$V2" PROFILE="$PROFILE" BUILD=0 COMPRESS="${COMPRESS:-gzip}"
  figure "make deb VERSION=$V2 BUILD=0 (same binaries)" "$(secs_since "$t0") s"
  arch=$(dpkg --print-architecture)
  deb1=$target_dir/debian/hbnb_${V1}_$arch.deb
  deb2=$target_dir/debian/hbnb_${V2}_$arch.deb
fi
for deb in "$deb1" "$deb2"; do [ -f "$deb" ] || fail "no package $deb"; done
dpkg --compare-versions "$V2" gt "$V1" || fail "$V2 is not a newer version than $V1"
# What the package holds, from the .deb itself: the test machine's dpkg (debian:bookworm-slim)
# does not install /usr/share/man or /usr/share/doc (path-exclude).
contents=$(dpkg-deb -c "$deb2" | awk '{print $6}')
for f in ./usr/bin/gateway ./usr/bin/db-backup ./usr/bin/hbnb-ctl ./usr/lib/hbnb/hbnb-upgrade-units \
  ./lib/systemd/system/hbnb-gateway.service ./lib/systemd/system/hbnb.target ./usr/lib/sysusers.d/hbnb.conf \
  ./etc/hbnb/hbnb.env ./usr/share/hbnb/static/styles/4-common.css ./usr/share/man/man1/gateway.1.gz \
  ./usr/share/man/man1/db-backup-now.1.gz ./usr/share/bash-completion/completions/gateway \
  ./usr/share/zsh/vendor-completions/_gateway ./usr/share/doc/hbnb/copyright; do
  grep -qx "$f" <<<"$contents" || fail "$deb2 has no $f"
done
[ "$(dpkg-deb -f "$deb2" Version)" = "$V2" ] || fail "$deb2 is not version $V2"
dpkg-deb --ctrl-tarfile "$deb2" | tar -xO ./conffiles | grep -qx /etc/hbnb/hbnb.env || fail "/etc/hbnb/hbnb.env is not a conffile"
echo "ok: $(wc -l <<<"$contents") entries in $(basename "$deb2"), among them the man pages and completions; /etc/hbnb/hbnb.env a conffile" >&2
figure "package size" "$(du -h "$deb2" | cut -f1)"
debs=$(mktemp -d)
cp "$deb1" "$deb2" "$debs/"
chmod 755 "$debs"
chmod 644 "$debs"/*.deb
# A test CA and two server certificates for localhost (CN hbnb-a, hbnb-b: curl -v names the one a
# handshake got), readable in the machine at /debs/tls.
make_certificates() {
  local dir=$debs/tls name serial=10
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=hbnb-test-ca \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  for name in a b; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=hbnb-$name" \
      -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
    serial=$((serial + 1))
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -set_serial "$serial" \
      -days 2 -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n') \
      -out "$dir/$name.crt" 2>/dev/null
  done
  chmod 755 "$dir"
  chmod 644 "$dir"/*
}
run make_certificates
deb1=/debs/$(basename "$deb1")
deb2=/debs/$(basename "$deb2")

# ---------------------------------------------------------------- the machine
machine_image
machine_after() { rm -rf "$debs"; }
machine_boot hbnb-deb-test -v "$PWD/tests/systemd:/src/tests:ro" -v "$debs:/debs:ro"

# shellcheck disable=SC2016 # dpkg-query's own ${field} syntax
pkg_version() { dq dpkg-query -W -f '${Version}' hbnb 2>/dev/null || true; }
# shellcheck disable=SC2016
pkg_status() { dq dpkg-query -W -f '${db:Status-Status}' hbnb 2>/dev/null || true; }
apt_install() { dx env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$1" 2>&1 | grep -v '^N: Download is performed unsandboxed' >&2; }
ready() {
  local s socket
  [ "$(dq curl -s -o /dev/null -w '%{http_code}' --max-time 5 127.0.0.1/readyz)" = 200 ] || return 1
  for socket in hello number api web db-backup; do
    s=$(dq curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "/run/hbnb/$socket.sock" http://localhost/readyz)
    [ "$s" = 200 ] || return 1
  done
}
checks=0
expect_body() {
  local body
  body=$(dx curl -sS --max-time 10 "$1") || fail "curl $1 failed"
  [[ $body == *"$2"* ]] || fail "GET $1: expected the body to contain '$2', got: ${body:0:300}"
  checks=$((checks + 1))
}
all_active() {
  local s
  for s in "${SERVICES[@]}"; do [ "$(prop "$s" ActiveState)" = active ] || return 1; done
}
all_inactive() {
  local s
  for s in "${SERVICES[@]}"; do [ "$(prop "$s" ActiveState)" = inactive ] || return 1; done
  for s in "${SOCKETS[@]}"; do
    [ "$(dq systemctl show -p ActiveState --value "hbnb-$s.socket")" = inactive ] || return 1
  done
}
# stopped_cleanly SINCE WHAT: each service stopped since SINCE (epoch seconds in the machine) by
# draining and exiting ("Deactivated successfully"), not killed ("Failed with result"). From the
# journal: once their unit files are gone, systemctl no longer knows the units' results.
stopped_cleanly() {
  local since=$1 what=$2 log s
  log=$(dq journalctl --no-pager -o cat --since "@$since" -u 'hbnb-*.service' | grep -v '^{' || true)
  for s in "${SERVICES[@]}"; do
    if grep -q "^hbnb-$s.service: Failed with result" <<<"$log" || ! grep -q "^hbnb-$s.service: Deactivated successfully" <<<"$log"; then
      grep "^hbnb-$s.service" <<<"$log" >&2 || true
      fail "hbnb-$s did not stop cleanly ($what)"
    fi
  done
  echo "ok: every service stopped cleanly ($what): 'Deactivated successfully' in its journal" >&2
}

# ---------------------------------------------------------------- 2. install
echo "---- install $V1" >&2
t0=$(now_ms)
apt_install "$deb1"
figure "apt-get install ./hbnb_$V1.deb" "$(secs_since "$t0") s"
[ "$(pkg_status)" = installed ] || fail "hbnb is '$(pkg_status)' after apt-get install, not installed"
[ "$(pkg_version)" = "$V1" ] || fail "installed version is $(pkg_version), expected $V1"
dx id hbnb
[ "$(dx systemctl is-enabled hbnb.target)" = enabled ] || fail "hbnb.target is not enabled"
wait_for "/readyz = 200 on :80 and on every service's socket" ready
all_active || fail "not every service is active after apt-get install"
expect_body 127.0.0.1/airbnb-onepage/ "Hello HBNB!"
expect_body 127.0.0.1/api/v1/status '{"status":"OK"}'
expect_body 127.0.0.1/hbnb/ "<title>HBnB</title>"
code=$(dx curl -s -o /dev/null -w '%{http_code}' --max-time 10 127.0.0.1/static/styles/4-common.css) || true
[ "$code" = 200 ] || fail "GET /static/styles/4-common.css (from /usr/share/hbnb/static): $code"
checks=$((checks + 1))
dx stat -c '%a %U:%G %n' /etc/hbnb/hbnb.env /usr/bin/gateway /usr/bin/hbnb-ctl /usr/lib/hbnb/hbnb-upgrade-units >&2
[ "$(dq stat -c %a /etc/hbnb/hbnb.env)" = 600 ] || fail "/etc/hbnb/hbnb.env is not mode 600"
dq test -s /usr/share/bash-completion/completions/gateway || fail "no bash completion for gateway"
dq test -s /usr/share/zsh/vendor-completions/_gateway || fail "no zsh completion for gateway"
dx /usr/bin/gateway --version >&2 || fail "gateway --version failed"
echo "ok: $V1 installed, enabled and serving :80 ($checks curl checks)" >&2
# A local change to the conffile, which the upgrade must keep.
dx sh -c 'echo "# kept across upgrades (deb-test)" >> /etc/hbnb/hbnb.env'
state_id=$(dx curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' -d '{"name":"Debtest"}' \
  127.0.0.1/api/v1/states | jq -r .id)
if [ -z "$state_id" ] || [ "$state_id" = null ]; then fail "POST /api/v1/states failed"; fi

# ---------------------------------------------------------------- load around a change
count() { dq sh -c "cat $1/*.log 2>/dev/null | wc -l"; }
at_least() { [ "$(count "$1")" -ge "$2" ]; }
clients_done() { [ "$(dq sh -c "ls $1/*.done 2>/dev/null | wc -l")" -eq "$CLIENTS" ]; }
# start_load DIR [BASE_URL]: CLIENTS clients in the machine (over HTTPS, trusting the test CA),
# returning once they have made 200 requests.
start_load() {
  echo "+ docker exec -d -e MAX_SECONDS=240 -e CURL_CA_BUNDLE=/debs/tls/ca.crt $CONTAINER $LOAD $*" >&2
  docker exec -d -e MAX_SECONDS=240 -e CURL_CA_BUNDLE=/debs/tls/ca.crt "$CONTAINER" "$LOAD" "$1" "$CLIENTS" "${@:2}"
  t_load=$(now_ms)
  wait_for "200 requests under load before the change" at_least "$1" 200
}
# finish_load DIR WHAT: 300 more requests, the clients stopped, and not one request failed.
finish_load() {
  local dir=$1 what=$2 n stats failed_lines
  n=$(count "$dir")
  wait_for "300 more requests after the change" at_least "$dir" $((n + 300))
  dq touch "$dir/stop"
  wait_for "the load clients to stop" clients_done "$dir"
  stats=$(dq sh -c "cat $dir/*.log" | sort -k3,3g | awk -v secs="$(secs_since "$t_load")" '
    { n++; t[n] = $3 * 1000; if (!($2 == 0 && $1 ~ /^2/)) f++ }
    END { printf "%d %d %s %.1f %.1f %.1f", n, f, secs, t[int(n * 0.5) + 1], t[int(n * 0.99) + 1], t[n] }')
  read -r requests failures load_secs p50 p99 max <<<"$stats"
  failed_lines=$(dq sh -c "cat $dir/*.log" | awk '!($2 == 0 && $1 ~ /^2/)')
  [ -z "$failed_lines" ] || printf 'failed requests:\n%s\n' "$failed_lines" >&2
  echo "$what under load: $requests requests in $load_secs s, $failures failed (p50 $p50 ms, p99 $p99 ms, max $max ms)" >&2
  figure "requests during the $what (failed)" "$requests ($failures)"
  [ "$failures" = 0 ] || fail "the $what failed $failures request(s)"
}

# ---------------------------------------------------------------- 2b. HTTPS
echo "---- HTTPS: hbnb-ctl tls, then a certificate swap under load" >&2
https=(curl -sS --max-time 10 --cacert /debs/tls/ca.crt)
# The CN of the certificate a new handshake on 443 gets.
served_cn() { dq "${https[@]}" -v -o /dev/null https://localhost/readyz 2>&1 | sed -n 's/^\*  subject: CN=\(.*\)$/\1/p'; }
serves() { [ "$(served_cn)" = "$1" ]; }
! dq "${https[@]}" -o /dev/null --max-time 2 https://localhost/ 2>/dev/null || fail "something answers on 443 before hbnb-ctl tls"
dx hbnb-ctl tls /debs/tls/a.crt /debs/tls/a.key
[ "$(dx systemctl is-enabled hbnb-gateway-https.socket)" = enabled ] || fail "hbnb-ctl tls did not enable hbnb-gateway-https.socket"
dx stat -c '%a %U:%G %n' /etc/hbnb/tls /etc/hbnb/tls/cert.pem /etc/hbnb/tls/key.pem >&2
[ "$(dq stat -c '%a %U:%G' /etc/hbnb/tls/key.pem)" = "640 root:hbnb" ] || fail "/etc/hbnb/tls/key.pem is not 640 root:hbnb"
wait_for "HTTPS on 443 with the first certificate" serves hbnb-a
body=$(dx "${https[@]}" https://localhost/airbnb-onepage/) || fail "GET https://localhost/airbnb-onepage/ failed"
[ "$body" = "Hello HBNB!" ] || fail "GET https://localhost/airbnb-onepage/: '$body'"
version=$(dx "${https[@]}" --http2 -o /dev/null -w '%{http_version}' https://localhost/api/v1/status)
[ "$version" = 2 ] || fail "HTTPS on 443 answered HTTP/$version to curl --http2, not h2"
checks=$((checks + 2))
# Docker gives a container IPv6 only when its daemon is configured for it.
if dq grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null; then
  dx "${https[@]}" -o /dev/null 'https://[::1]/api/v1/status' || fail "HTTPS on [::1]:443 failed"
  checks=$((checks + 1))
  families="IPv4 and IPv6"
else
  families="IPv4; this container has no ::1, IPv6 not tried"
fi
echo "ok: HTTPS on 443 ($families), h2 by ALPN, certificate hbnb-a, key 640 root:hbnb" >&2
start_load /run/hbnb-load/tls https://localhost
t0=$(now_ms)
dx hbnb-ctl tls /debs/tls/b.crt /debs/tls/b.key
wait_for "new handshakes to get the second certificate" serves hbnb-b
figure "certificate swap (hbnb-ctl tls) to served" "$(secs_since "$t0") s"
finish_load /run/hbnb-load/tls "certificate swap"
[ "$(prop gateway NRestarts)" = 0 ] || fail "the gateway was restarted by systemd during the certificate swap"
# A certificate with another certificate's key: refused before anything is replaced.
if dx hbnb-ctl tls /debs/tls/a.crt /debs/tls/b.key; then fail "hbnb-ctl tls accepted a certificate with the wrong key"; fi
serves hbnb-b || fail "after a refused hbnb-ctl tls the gateway does not serve hbnb-b any more"
echo "ok: the certificate swapped under load with no failed request; a mismatched pair refused, hbnb-b still served" >&2
status_out=$(dx hbnb-ctl status) || fail "hbnb-ctl status failed: $status_out"
echo "$status_out" >&2
grep -q '^https: *on' <<<"$status_out" || fail "hbnb-ctl status does not say that HTTPS is on"
grep -q "^api-service *active/running .* yes " <<<"$status_out" || fail "hbnb-ctl status does not show api-service active and ready"
grep -Eq "^gateway config: *hash [0-9a-f]+$" <<<"$status_out" || fail "hbnb-ctl status does not show the gateway's config hash"
grep -q "^gateway .* /usr/bin/gateway$" <<<"$status_out" || fail "hbnb-ctl status does not show the gateway's binary"
# db-backup's first run may have failed (started before api-service created the database): it
# is tried again within seconds, and status then shows its age.
backed_up() { dq hbnb-ctl status 2>/dev/null | grep -Eq "^last backup: *[0-9]+[smhd] ago"; }
wait_for "hbnb-ctl status to show the last backup's age" backed_up

# ---------------------------------------------------------------- 3. upgrade under load
declare -A old_pid
for s in "${SERVICES[@]}"; do old_pid[$s]=$(prop "$s" MainPID); done
echo "---- upgrade $V1 -> $V2 under load ($CLIENTS clients through :80)" >&2
start_load /run/hbnb-load/upgrade
t0=$(now_ms)
apt_install "$deb2"
figure "apt-get install ./hbnb_$V2.deb (upgrade)" "$(secs_since "$t0") s"
finish_load /run/hbnb-load/upgrade upgrade
[ "$(pkg_status)" = installed ] || fail "hbnb is '$(pkg_status)' after the upgrade"
[ "$(pkg_version)" = "$V2" ] || fail "installed version is $(pkg_version) after the upgrade, expected $V2"
for s in "${SERVICES[@]}"; do
  pid=$(prop "$s" MainPID)
  # As the services' user: root in the container lacks CAP_SYS_PTRACE, which reading another
  # user's /proc/<pid>/exe takes.
  exe=$(dq setpriv --reuid=hbnb --regid=hbnb --clear-groups readlink "/proc/$pid/exe") || fail "cannot read /proc/$pid/exe"
  printf '%-14s pid %s -> %s  %s  NRestarts=%s\n' "$s" "${old_pid[$s]}" "$pid" "$exe" "$(prop "$s" NRestarts)" >&2
  [ "$pid" != "${old_pid[$s]}" ] || fail "hbnb-$s kept pid $pid across the upgrade: not handed over"
  [ "$exe" = "/usr/bin/$s" ] || fail "hbnb-$s (pid $pid) runs '$exe', not the new /usr/bin/$s"
  [ "$(prop "$s" NRestarts)" = 0 ] || fail "hbnb-$s was restarted by systemd during the upgrade"
  [ "$(prop "$s" ActiveState)" = active ] || fail "hbnb-$s is not active after the upgrade"
done
dq grep -qx '# kept across upgrades (deb-test)' /etc/hbnb/hbnb.env || fail "the upgrade lost the local change to /etc/hbnb/hbnb.env"
dx /usr/bin/gateway --version >&2
serves hbnb-b || fail "HTTPS does not serve hbnb-b after the upgrade (the successor took over 443)"
echo "ok: upgraded to $V2 under load, 0 failed; every service handed over to the new binaries; conffile kept; HTTPS still on" >&2

# ---------------------------------------------------------------- 4. remove
echo "---- remove" >&2
since=$(dq date +%s)
t0=$(now_ms)
dx env DEBIAN_FRONTEND=noninteractive apt-get remove -y hbnb >&2
figure "apt-get remove hbnb" "$(secs_since "$t0") s"
[ "$(pkg_status)" = config-files ] || fail "hbnb is '$(pkg_status)' after apt-get remove, expected config-files"
wait_for "every HBNB service and socket to be stopped" all_inactive
stopped_cleanly "$since" "apt-get remove, after the upgrade's hand-overs"
! dq curl -s -o /dev/null --max-time 2 127.0.0.1/ || fail "something still answers on :80 after apt-get remove"
! dq "${https[@]}" -o /dev/null --max-time 2 https://localhost/ 2>/dev/null || fail "something still answers on 443 after apt-get remove"
dq test ! -e /usr/bin/gateway || fail "/usr/bin/gateway is still there"
dq test -e /etc/hbnb/hbnb.env || fail "apt-get remove deleted /etc/hbnb/hbnb.env (a conffile: only purge may)"
dx sh -c 'ls -la /var/lib/hbnb/data' >&2
dq sh -c 'ls /var/lib/hbnb/data/backups/*.json >/dev/null 2>&1' || echo "(no backup yet in /var/lib/hbnb/data/backups)" >&2
dq test -d /var/lib/hbnb/data || fail "apt-get remove deleted /var/lib/hbnb/data"
echo "ok: removed: stopped, nothing on :80; /var/lib/hbnb and /etc/hbnb kept" >&2

# ---------------------------------------------------------------- 5. reinstall
echo "---- reinstall $V2" >&2
t0=$(now_ms)
apt_install "$deb2"
figure "apt-get install ./hbnb_$V2.deb after remove" "$(secs_since "$t0") s"
[ "$(dx systemctl is-enabled hbnb.target)" = enabled ] || fail "hbnb.target is not enabled after the reinstallation"
wait_for "/readyz = 200 after the reinstallation" ready
expect_body "127.0.0.1/api/v1/states/$state_id" '"name":"Debtest"'
dq grep -qx '# kept across upgrades (deb-test)' /etc/hbnb/hbnb.env || fail "the reinstallation replaced the local /etc/hbnb/hbnb.env"
wait_for "HTTPS on 443 again after the reinstallation" serves hbnb-b
echo "ok: reinstalled: enabled, serving (HTTPS too), the data created before the removal still there" >&2

# ---------------------------------------------------------------- 6. purge
echo "---- purge" >&2
since=$(dq date +%s)
t0=$(now_ms)
dx env DEBIAN_FRONTEND=noninteractive apt-get purge -y hbnb >&2
figure "apt-get purge hbnb" "$(secs_since "$t0") s"
[ -z "$(pkg_status)" ] || [ "$(pkg_status)" = not-installed ] || fail "hbnb is '$(pkg_status)' after apt-get purge"
wait_for "every HBNB service and socket to be stopped" all_inactive
stopped_cleanly "$since" "apt-get purge"
dq test ! -e /etc/hbnb || fail "/etc/hbnb is still there after apt-get purge"
dq test ! -e /etc/systemd/system/hbnb-gateway.service.d/tls.conf || fail "the HTTPS drop-in is still there after apt-get purge"
dq test -d /var/lib/hbnb/data || fail "apt-get purge deleted /var/lib/hbnb/data (the data must be kept)"
dx id hbnb >&2
dx sh -c 'ls -la /var/lib/hbnb/data' >&2
echo "ok: purged: /etc/hbnb gone; /var/lib/hbnb and the user hbnb kept" >&2

# ---------------------------------------------------------------- figures
echo >&2
echo "deb test: all checks passed ($checks curl checks; the last load: $requests requests, $failures failed)" >&2
printf '%s\n' "${figures[@]}" >&2
