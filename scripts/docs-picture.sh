#!/usr/bin/env bash
# Regenerates docs/stack.svg from docs/stack.dot with graphviz's dot (Debian: apt-get install
# graphviz). Run it after editing docs/stack.dot and commit both files.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v dot >/dev/null 2>&1; then
  echo "error: dot not found; install graphviz: sudo apt-get install -y graphviz" >&2
  exit 1
fi
echo "+ dot -Tsvg docs/stack.dot -o docs/stack.svg" >&2
dot -Tsvg docs/stack.dot -o docs/stack.svg.partial
mv docs/stack.svg.partial docs/stack.svg
