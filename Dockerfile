# One image for every HBNB binary (gateway, hello-service, number-service, api-service,
# web-dynamic, db-backup); docker-compose.yml picks the binary per service with `command`.
# Why one image and the stage layout: docs/design/containers.md, "Docker".
#
# Targets (the classic builder builds every stage up to the target, so the order matters):
#   runtime-base  debian:bookworm-slim + the non-root user + PostgreSQL 15's client tools (db-backup)
#   prebuilt      runtime-base + binaries built on the host (target/docker-bin/, staged by
#                 scripts/docker-build.sh); for CI and machines without a registry
#   build         the Rust toolchain: dependencies compiled from a manifests-only skeleton (cached
#                 until Cargo.toml/Cargo.lock change), then the workspace, release profile; the
#                 binaries' debug info (line tables) is stripped, as in target/docker-bin
#   app           runtime-base + the binaries from `build` (the default: the last stage)

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUNTIME_IMAGE} AS runtime-base
# db-backup runs pg_dump and pg_restore of the server's major version (PostgreSQL 15), and with
# BACKUP_PITR pg_basebackup and pg_receivewal; psql is there for operators. Only those five
# binaries are taken from postgresql-client-15, with the
# libraries they link (libpq5, libreadline8, ...): the package itself would also bring Perl and
# its pg_wrapper scripts (+45 MB). Nothing else: the HBNB binaries link only libc and libgcc_s.
ARG PG_MAJOR=15
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libpq5 libreadline8 liblz4-1 libzstd1 zlib1g; \
    cd /tmp; apt-get download "postgresql-client-${PG_MAJOR}"; \
    dpkg-deb -x postgresql-client-*.deb /tmp/pgc; \
    mkdir -p "/usr/lib/postgresql/${PG_MAJOR}/bin"; \
    for t in pg_dump pg_restore psql pg_basebackup pg_receivewal; do \
        cp "/tmp/pgc/usr/lib/postgresql/${PG_MAJOR}/bin/$t" "/usr/lib/postgresql/${PG_MAJOR}/bin/"; \
        ln -s "/usr/lib/postgresql/${PG_MAJOR}/bin/$t" /usr/local/bin/; \
        if ldd "/usr/lib/postgresql/${PG_MAJOR}/bin/$t" | grep 'not found'; then exit 1; fi; \
    done; \
    pg_dump --version; \
    rm -rf /tmp/pgc /tmp/*.deb /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log; \
    groupadd --system --gid 10001 hbnb; \
    useradd --system --uid 10001 --gid hbnb --home-dir /app --no-create-home --shell /usr/sbin/nologin hbnb; \
    mkdir -p /app/data /backups; \
    chown hbnb:hbnb /app/data /backups
WORKDIR /app
COPY web-dynamic/static /app/web-dynamic/static
# JSON logs on stdout whatever the terminal (docker run -t too). web-dynamic finds its assets at
# web-dynamic/static under the working directory; db-backup's dumps go to their own volume.
ENV LOG_FORMAT=json \
    RUST_LOG=info \
    BACKUP_DIR=/backups \
    PG_BIN_DIR=/usr/lib/postgresql/${PG_MAJOR}/bin
USER hbnb:hbnb
CMD ["hello-service"]

FROM runtime-base AS prebuilt
COPY --chown=root:root target/docker-bin/ /usr/local/bin/

FROM ${RUST_IMAGE} AS skeleton
WORKDIR /src
COPY . .
# Manifests, empty target roots and the patched dependencies (vendor/, mtimes kept: built once
# here, not again below) only: the layer built from it changes only with dependencies.
RUN set -eu; mkdir /skeleton; \
    for f in Cargo.toml Cargo.lock */Cargo.toml; do install -D -m 644 "$f" "/skeleton/$f"; done; \
    for f in */src/main.rs; do install -D -m 644 /dev/null "/skeleton/$f"; echo 'fn main() {}' > "/skeleton/$f"; done; \
    for f in */src/lib.rs; do install -D -m 644 /dev/null "/skeleton/$f"; done; \
    find /skeleton -exec touch -h -d @0 {} +; \
    cp -a vendor /skeleton/vendor

FROM ${RUST_IMAGE} AS build
WORKDIR /src
ENV CARGO_TERM_COLOR=never CARGO_INCREMENTAL=0
ARG BINS="gateway hello-service number-service api-service web-dynamic db-backup"
COPY --from=skeleton /skeleton/ ./
RUN cargo build --release --locked $(printf -- ' -p %s' $BINS)
COPY . .
# The commit in `--version` and hbnb_build_info (common/build.rs): the context has no .git.
# docker-compose.yml passes it: GIT_COMMIT=$(git rev-parse --short=12 HEAD) docker compose build.
# Declared after the dependency layer, so a new commit rebuilds only the workspace's crates.
ARG GIT_COMMIT=unknown
RUN set -eux; \
    find . -path ./target -prune -o -path ./vendor -prune -o -name '*.rs' -exec touch {} +; \
    cargo build --release --locked $(printf -- ' -p %s' $BINS); \
    mkdir /out; for b in $BINS; do strip --strip-debug -o "/out/$b" "target/release/$b"; done

FROM runtime-base AS app
COPY --from=build --chown=root:root /out/ /usr/local/bin/
