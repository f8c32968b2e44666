# HBNB: build, package, install and update on a Debian 12 server (docs/package.md).
#
#   make deb [VERSION=0.1.1]   target/debian/hbnb_<version>_<arch>.deb (dpkg-deb; VERSION defaults
#                              to the crates' version; it only goes into the package's metadata)
#   make install               build, then install as the package would (sudo when not root):
#                              same files, same places; daemon-reload; enable --now hbnb.target
#   sudo make restart-prod     every running unit handed over in place (SIGUSR2) to the binary on
#                              disk, one after another, each checked ready before the next; stops
#                              with an error, the old process still serving, if one is not
#   make build                 cargo build --release --workspace --bins
#
# PROFILE=debug packages the debug build instead (tests only). COMPRESS: dpkg-deb's -Z (xz).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
PROFILE ?= release
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
ifeq ($(PROFILE),release)
  CARGO_PROFILE_FLAG := --release
else ifeq ($(PROFILE),debug)
  CARGO_PROFILE_FLAG :=
else
  $(error PROFILE must be release or debug, not $(PROFILE))
endif
BIN_DIR := $(TARGET_DIR)/$(PROFILE)
# The packaged binaries lose their debug info, as dh_strip does for a Debian package: the release
# build's line tables (Cargo.toml) take a binary from ~35 MB to ~150 MB. Backtraces still name the
# functions. STRIP_DEBUG=0 keeps them.
STRIP_DEBUG ?= 1
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' gateway/Cargo.toml | head -n1)
ARCH ?= $(shell dpkg --print-architecture)
COMPRESS ?= xz
DEB_DIR := $(TARGET_DIR)/debian
PKG_ROOT := $(DEB_DIR)/hbnb_$(VERSION)_$(ARCH)
DEB := $(PKG_ROOT).deb
INSTALL_ROOT := $(DEB_DIR)/install-root
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: all build deb install restart-prod
all: deb

build:
	$(CARGO) build $(CARGO_PROFILE_FLAG) --workspace --bins

# The files (deploy/debian/stage.sh), then DEBIAN/: control, conffiles, maintainer scripts, md5sums.
# BUILD=0: package the binaries already built, without asking cargo (another version of the same
# build: common/build.rs relinks every binary when a branch ref moves).
BUILD ?= 1
deb: $(if $(filter 1,$(BUILD)),build)
	rm -rf $(PKG_ROOT) $(DEB)
	STRIP_DEBUG=$(STRIP_DEBUG) deploy/debian/stage.sh $(BIN_DIR) $(PKG_ROOT)
	install -d -m 755 $(PKG_ROOT)/DEBIAN
	install -m 755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm $(PKG_ROOT)/DEBIAN/
	install -m 644 deploy/debian/conffiles $(PKG_ROOT)/DEBIAN/
	sed -e 's/@VERSION@/$(VERSION)/' -e 's/@ARCH@/$(ARCH)/' \
	  -e "s/@INSTALLED_SIZE@/$$(du -sk $(PKG_ROOT) | cut -f1)/" deploy/debian/control >$(PKG_ROOT)/DEBIAN/control
	cd $(PKG_ROOT) && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums
	dpkg-deb --root-owner-group -Z$(COMPRESS) --build $(PKG_ROOT) $(DEB)
	rm -rf $(PKG_ROOT)
	@echo "built $(DEB) ($$(du -h $(DEB) | cut -f1))"

install: build
	rm -rf $(INSTALL_ROOT)
	STRIP_DEBUG=$(STRIP_DEBUG) deploy/debian/stage.sh $(BIN_DIR) $(INSTALL_ROOT)
	$(SUDO) deploy/debian/install-tree.sh $(INSTALL_ROOT)
	rm -rf $(INSTALL_ROOT)

restart-prod:
	$(SUDO) deploy/hbnb-upgrade-units.sh
