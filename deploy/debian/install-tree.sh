#!/usr/bin/env bash
# `make install`'s second half, as root: installs the tree deploy/debian/stage.sh laid out (the
# Debian package's files) into /, then does what the package's postinst does on a first install.
#
#   deploy/debian/install-tree.sh STAGE
#
#   1. every file to the same place as the package puts it; files under /etc only when missing
#      (they are the package's conffiles: yours are kept); binaries are replaced, never rewritten
#      in place (install(1) unlinks first), so running processes keep theirs until
#      `make restart-prod` hands them over; /usr/share/hbnb/static is swapped in whole
#   2. systemd-sysusers hbnb.conf (the user hbnb)
#   3. systemctl daemon-reload, then systemctl enable --now hbnb.target (starts what is not
#      running; what runs keeps running on its old binary)
# Prints what it runs.
set -euo pipefail
run() { echo "+ $*" >&2; "$@"; }
die() {
  echo "install-tree.sh: error: $*" >&2
  exit 1
}

[ $# -eq 1 ] || die "usage: deploy/debian/install-tree.sh STAGE"
stage=$(cd "$1" && pwd)
[ "$(id -u)" = 0 ] || die "run as root (it writes /usr, /lib/systemd/system and /etc/hbnb)"
command -v systemctl >/dev/null || die "no systemctl: this machine does not run systemd"
[ -x "$stage/usr/bin/gateway" ] || die "$stage is not a staged tree (no usr/bin/gateway)"

# Units from deploy/systemd/install.sh in /etc/systemd/system would override the ones installed
# here (and run /usr/local/bin's binaries).
shadowing=$(ls /etc/systemd/system/hbnb*.service /etc/systemd/system/hbnb*.socket \
  /etc/systemd/system/hbnb.target 2>/dev/null || true)
if [ -n "$shadowing" ]; then
  die "units installed by deploy/systemd/install.sh would override these ones:
$shadowing
Remove them first (docs/package.md, \"From install.sh to the package\")."
fi
if dpkg-query -W -f '${db:Status-Status}' hbnb 2>/dev/null | grep -qx installed; then
  echo "install-tree.sh: warning: the hbnb package is installed: its files are overwritten (dpkg --verify hbnb will say so)" >&2
fi

# 1. The files.
while IFS= read -r -d '' file; do
  rel=${file#"$stage"/}
  case $rel in
    usr/share/hbnb/static/*) continue ;;
    etc/*)
      if [ -e "/$rel" ]; then
        echo "kept /$rel (yours)" >&2
        continue
      fi
      ;;
  esac
  run install -D -m "$(stat -c %a "$file")" "$file" "/$rel"
done < <(find "$stage" -type f -print0 | sort -z)
run install -d -m 755 /usr/share/hbnb
run rm -rf /usr/share/hbnb/static.new
run cp -R "$stage/usr/share/hbnb/static" /usr/share/hbnb/static.new
run rm -rf /usr/share/hbnb/static
run mv /usr/share/hbnb/static.new /usr/share/hbnb/static

# 2. The user.
run systemd-sysusers hbnb.conf

# 3. The units.
run systemctl daemon-reload
run systemctl enable --now hbnb.target
echo "installed; running services keep their old binaries until: sudo make restart-prod" >&2
