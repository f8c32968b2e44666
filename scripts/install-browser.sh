#!/usr/bin/env bash
# Installs what the browser test (tests/tests/web_browser.rs) drives: Debian's chromium and
# chromium-driver. Idempotent: installs only what is missing, and says what it runs.
set -euo pipefail

run() {
    echo "+ $*"
    "$@"
}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-browser: chromium and chromedriver are already installed"
else
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    run "${sudo[@]}" apt-get update -q
    run "${sudo[@]}" apt-get install -y -q "${missing[@]}"
fi

run chromium --version
run chromedriver --version
