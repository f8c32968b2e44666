# shellcheck shell=bash
# Shared by the container tests (sourced): printing what runs, failing with a reason, and reading
# the gateway's access log.
# shellcheck source=tests/lib/steps.sh
source tests/lib/steps.sh

# expect_body URL SUBSTRING, expect_status URL CODE: one check each, counted in $checks.
checks=0
expect_body() {
  local body
  echo "+ curl -sS $1" >&2
  body=$(curl -sS --max-time 10 "$1") || fail "curl $1 failed"
  [[ $body == *"$2"* ]] || fail "GET $1: expected the body to contain '$2', got: ${body:0:300}"
  checks=$((checks + 1))
}
expect_status() {
  local code
  echo "+ curl -s -o /dev/null -w '%{http_code}' $1" >&2
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$1") || true
  [ "$code" = "$2" ] || fail "GET $1: expected status $2, got $code"
  checks=$((checks + 1))
}

# Distinct upstream instances in the gateway access-log lines on stdin for requests to $1.
upstreams_for() {
  grep -F "\"path\":\"$1\"" | grep -o '"upstream":"[^"]*"' | sort -u | wc -l
}

# The "failures" count of a tests/docker/load.py result file.
load_failures() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["failures"])' "$1"
}
