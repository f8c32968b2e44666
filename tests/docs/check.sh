#!/usr/bin/env bash
# The docs check: the manual (README.md, docs/) against the code. Run by scripts/test.sh right after
# `cargo build --workspace --bins` (it uses target/debug/*), about a minute:
#   (a) every long flag and [env: X] printed by each binary's --help (db-backup's subcommands too)
#       is in docs/configuration.md;
#   (b) no ../shared link and no issue number in README.md and docs/;
#   (c) every relative link in README.md and docs/ points to an existing file (and heading);
#   (d) the runbook's checked sessions (docs/operations.md, `<!-- check -->` before a ```console
#       block) run against a stack started by scripts/run-stack.sh --demo on free ports with a
#       temporary SQLite database: each command must exit as documented (0, or `# exit N`) and
#       print the documented lines, in order (`...` matches anything).
# DOCS_CHECK_SESSIONS=0 skips (d). Exits non-zero with every problem listed.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/docs/check.py "$@"
