#!/usr/bin/env bash
# Checks the Prometheus configuration and alert rules (deploy/prometheus/) with promtool: syntax,
# every rule_files entry, and the rules' unit tests (tests/prometheus/alerts_test.yml: each alert
# fires on the series that should raise it and stays quiet on healthy ones).
# promtool comes with Debian's `prometheus` package (apt-get install --no-install-recommends
# prometheus; the service it installs need not run). PROMTOOL names another binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
promtool=${PROMTOOL:-promtool}
if ! command -v "$promtool" >/dev/null 2>&1; then
  echo "error: $promtool not found (Debian: apt-get install --no-install-recommends prometheus)" >&2
  exit 1
fi
"$promtool" check config deploy/prometheus/prometheus.yml
"$promtool" check rules deploy/prometheus/alerts.yml
"$promtool" test rules tests/prometheus/alerts_test.yml
