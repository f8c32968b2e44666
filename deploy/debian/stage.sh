#!/usr/bin/env bash
# Lays out every file of the HBNB Debian package under DESTDIR, as they will be on the machine:
# the tree `make deb` packs (with DEBIAN/ added) and `make install` copies to /.
#
#   deploy/debian/stage.sh BIN_DIR DESTDIR      BIN_DIR: the built binaries (target/release)
#
#   /usr/bin/{gateway,hello-service,number-service,api-service,web-dynamic,db-backup}
#   /usr/bin/hbnb-ctl                            scripts/hbnb-ctl
#   /usr/lib/hbnb/hbnb-upgrade-units             deploy/hbnb-upgrade-units.sh (postinst, restart-prod)
#   /lib/systemd/system/hbnb*.{service,socket,target}
#                                                deploy/systemd/, with /usr/local/ made /usr/
#   /usr/lib/sysusers.d/hbnb.conf                deploy/systemd/hbnb.sysusers.conf
#   /etc/hbnb/hbnb.env                           deploy/systemd/hbnb.env (a conffile, mode 600)
#   /usr/share/hbnb/static/                      web-dynamic/static (STATIC_DIR in the units)
#   /usr/share/man/man1/*.1.gz                   <binary> --generate-man
#   /usr/share/bash-completion/completions/<binary>, /usr/share/zsh/vendor-completions/_<binary>
#                                                <binary> --generate-completions
#   /usr/share/doc/hbnb/copyright
#
# deploy/systemd/ is the one set of units: deploy/systemd/install.sh installs them as they are
# (binaries in /usr/local/bin, assets in /usr/local/share/hbnb), the package with its paths.
# Prints what it runs.
set -euo pipefail
run() { echo "+ $*" >&2; "$@"; }
die() {
  echo "stage.sh: error: $*" >&2
  exit 1
}

[ $# -eq 2 ] || die "usage: deploy/debian/stage.sh BIN_DIR DESTDIR"
bin_dir=$1
dest=$2
repo=$(cd "$(dirname "$0")/../.." && pwd)
BINARIES=(gateway hello-service number-service api-service web-dynamic db-backup)

for b in "${BINARIES[@]}"; do
  [ -x "$bin_dir/$b" ] || die "$bin_dir/$b is missing: build first (cargo build --release --workspace --bins)"
done
[ ! -e "$dest" ] || die "$dest exists: remove it first"

# Binaries (STRIP_DEBUG=1, the Makefile's default: without their debug info, as dh_strip does),
# and the operator scripts.
for b in "${BINARIES[@]}"; do
  run install -D -m 755 "$bin_dir/$b" "$dest/usr/bin/$b"
  if [ "${STRIP_DEBUG:-0}" = 1 ]; then run strip --strip-debug "$dest/usr/bin/$b"; fi
done
run install -D -m 755 "$repo/scripts/hbnb-ctl" "$dest/usr/bin/hbnb-ctl"
run install -D -m 755 "$repo/deploy/hbnb-upgrade-units.sh" "$dest/usr/lib/hbnb/hbnb-upgrade-units"

# Units, with the package's paths.
run install -d -m 755 "$dest/lib/systemd/system"
for unit in "$repo"/deploy/systemd/*.service "$repo"/deploy/systemd/*.socket "$repo"/deploy/systemd/*.target; do
  echo "+ sed 's|/usr/local/|/usr/|g' $unit > $dest/lib/systemd/system/$(basename "$unit")" >&2
  sed -e 's|/usr/local/|/usr/|g' \
    -e 's|^# Install: deploy/systemd/install.sh (docs/operations.md, "systemd")|# Installed by the hbnb Debian package (docs/package.md)|' \
    "$unit" >"$dest/lib/systemd/system/$(basename "$unit")"
  chmod 644 "$dest/lib/systemd/system/$(basename "$unit")"
done
if grep -n '/usr/local' "$dest"/lib/systemd/system/*; then die "a packaged unit still names /usr/local"; fi
run install -D -m 644 "$repo/deploy/systemd/hbnb.sysusers.conf" "$dest/usr/lib/sysusers.d/hbnb.conf"
run install -D -m 600 "$repo/deploy/systemd/hbnb.env" "$dest/etc/hbnb/hbnb.env"

# web-dynamic's assets, served by web-dynamic and by the gateway's /static/.
run install -d -m 755 "$dest/usr/share/hbnb"
run cp -R "$repo/web-dynamic/static" "$dest/usr/share/hbnb/static"
run chmod -R u=rwX,go=rX "$dest/usr/share/hbnb/static"

# Man pages and shell completions, from each binary's own clap definitions.
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
mkdir -p "$gen/man" "$gen/completions"
for b in "${BINARIES[@]}"; do
  run "$bin_dir/$b" --generate-man "$gen/man" || die "$b --generate-man failed"
  run "$bin_dir/$b" --generate-completions "$gen/completions" || die "$b --generate-completions failed"
  [ -s "$gen/man/$b.1" ] || die "$b --generate-man wrote no $b.1"
done
run install -d -m 755 "$dest/usr/share/man/man1"
for page in "$gen"/man/*.1; do
  # -n: no name or time stamp in the .gz, so two builds of the same page are the same file.
  gz=$dest/usr/share/man/man1/$(basename "$page").gz
  gzip -9n <"$page" >"$gz"
  chmod 644 "$gz"
done
echo "+ man pages: $(cd "$dest/usr/share/man/man1" && echo *)" >&2
# zsh completions are the _<command> files; the others are bash's (named <command> or
# <command>.bash; bash-completion looks them up by the command's name).
run install -d -m 755 "$dest/usr/share/bash-completion/completions" "$dest/usr/share/zsh/vendor-completions"
for f in "$gen"/completions/*; do
  name=$(basename "$f")
  case $name in
    _*) install -m 644 "$f" "$dest/usr/share/zsh/vendor-completions/$name" ;;
    *.zsh) install -m 644 "$f" "$dest/usr/share/zsh/vendor-completions/_${name%.zsh}" ;;
    *) install -m 644 "$f" "$dest/usr/share/bash-completion/completions/${name%.bash}" ;;
  esac
done
for b in "${BINARIES[@]}"; do
  [ -s "$dest/usr/share/bash-completion/completions/$b" ] || die "$b --generate-completions wrote no bash completion"
  [ -s "$dest/usr/share/zsh/vendor-completions/_$b" ] || die "$b --generate-completions wrote no zsh completion"
done
echo "+ completions: bash $(cd "$dest/usr/share/bash-completion/completions" && echo *); zsh $(cd "$dest/usr/share/zsh/vendor-completions" && echo *)" >&2

run install -D -m 644 "$repo/deploy/debian/copyright" "$dest/usr/share/doc/hbnb/copyright"
