#!/usr/bin/env bash
# Builds local stand-ins for the base images the Dockerfile and docker-compose.yml use, for a
# machine with a Docker engine but no image registry. Each image is built only when missing
# (FORCE=1 rebuilds). On a machine with a registry this script is not needed: compose pulls the
# official images instead.
#
#   debian:bookworm-slim   a Debian bookworm root made with debootstrap (minbase), `docker import`ed
#   postgres:15-bookworm   Debian's postgresql-15 on that root, with an entrypoint that honours the
#                          official image's contract (POSTGRES_USER/PASSWORD/DB, PGDATA,
#                          POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD, /docker-entrypoint-initdb.d)
#
# The Debian mirror is the one this host's apt uses (read from /etc/apt at run time; DEBIAN_MIRROR
# and DEBIAN_SECURITY_MIRROR override it). The root is made under target/docker-base/ (removed
# after the import unless KEEP_ROOTFS=1). Needs root (debootstrap, chroot). Prints what it runs.
#
#   scripts/docker-base-images.sh [debian] [postgres]   only the named ones (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }
started=$SECONDS

DEBIAN_IMAGE=${DEBIAN_IMAGE:-debian:bookworm-slim}
POSTGRES_IMAGE=${POSTGRES_IMAGE:-postgres:15-bookworm}
WORK=${DOCKER_BASE_WORK:-target/docker-base}
ROOTFS=$WORK/rootfs

have_image() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

# The first URI apt uses for the given suite (deb822 .sources files, then one-line sources.list).
host_mirror() {
  local suite=$1 f
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -e "$f" ] || continue
      awk -v s="$suite" '
        /^[[:space:]]*$/ { if (uri != "" && found) print uri; uri = ""; found = 0; next }
        /^URIs:/ { uri = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) found = 1 }
        END { if (uri != "" && found) print uri }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -e "$f" ] || continue
      awk -v s="$suite" '$1 == "deb" {
        for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i + 1) == s) print $i; break } }' "$f"
    done
  } | head -n1
}

build_debian() {
  if have_image "$DEBIAN_IMAGE"; then echo "$DEBIAN_IMAGE: present" >&2; return; fi
  local mirror security
  mirror=${DEBIAN_MIRROR:-$(host_mirror bookworm)}
  security=${DEBIAN_SECURITY_MIRROR:-$(host_mirror bookworm-security)}
  if [ -z "$mirror" ]; then
    echo "error: no Debian bookworm mirror in this host's apt sources; set DEBIAN_MIRROR" >&2
    exit 1
  fi
  if ! command -v debootstrap >/dev/null; then
    run apt-get update -q
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
  fi
  run rm -rf "$ROOTFS"
  run mkdir -p "$WORK"
  run debootstrap --variant=minbase --components=main bookworm "$ROOTFS" "$mirror"

  # apt inside the image (Dockerfile RUN apt-get) uses the same mirrors as this host.
  {
    echo "deb $mirror bookworm main"
    echo "deb $mirror bookworm-updates main"
    [ -n "$security" ] && echo "deb $security bookworm-security main"
  } >"$ROOTFS/etc/apt/sources.list"
  # The host's apt settings that are not host names (e.g. Check-Valid-Until for snapshot mirrors).
  grep -h -E '^Acquire::Check-(Valid-Until|Date)' /etc/apt/apt.conf.d/* 2>/dev/null \
    >"$ROOTFS/etc/apt/apt.conf.d/99standin" || rm -f "$ROOTFS/etc/apt/apt.conf.d/99standin"
  # What the official slim image does: no docs, man pages or locales from later installs, no apt
  # caches, no recommends.
  cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
CFG
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$ROOTFS/etc/apt/apt.conf.d/docker-no-recommends"
  echo 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
    >"$ROOTFS/etc/apt/apt.conf.d/docker-clean"
  echo "+ remove docs, man pages, locales, apt lists and caches, logs from $ROOTFS" >&2
  find "$ROOTFS/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  rm -rf "$ROOTFS"/usr/share/{man,info,locale}/* "$ROOTFS"/var/cache/apt/*.bin \
    "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log "$ROOTFS"/tmp/*
  : >"$ROOTFS/etc/machine-id"

  echo "+ tar -C $ROOTFS -c . | docker import ... - $DEBIAN_IMAGE" >&2
  tar --numeric-owner -C "$ROOTFS" -c . |
    docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --message "debootstrap bookworm minbase (local stand-in for $DEBIAN_IMAGE)" - "$DEBIAN_IMAGE" >/dev/null
  [ "${KEEP_ROOTFS:-0}" = 1 ] || run rm -rf "$ROOTFS"
}

build_postgres() {
  if have_image "$POSTGRES_IMAGE"; then echo "$POSTGRES_IMAGE: present" >&2; return; fi
  run docker build -q --build-arg "BASE=$DEBIAN_IMAGE" -t "$POSTGRES_IMAGE" scripts/docker-base/postgres
}

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(debian postgres)
for name in "${wanted[@]}"; do
  case $name in
    debian) build_debian ;;
    postgres) build_debian; build_postgres ;;
    *) echo "error: unknown base image '$name' (debian or postgres)" >&2; exit 2 ;;
  esac
done
echo "base images ready in $((SECONDS - started)) s:" >&2
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' |
  grep -E "^(${DEBIAN_IMAGE}|${POSTGRES_IMAGE})"$'\t' | sed 's/^/  /' >&2 || true
