# Shared by the container tests (sourced): printing what runs, failing with a reason, and reading
# the gateway's access log.
run() { echo "+ $*" >&2; "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# Distinct upstream instances in the gateway access-log lines on stdin for requests to $1.
upstreams_for() {
  grep -F "\"path\":\"$1\"" | grep -o '"upstream":"[^"]*"' | sort -u | wc -l
}

# The "failures" count of a tests/docker/load.py result file.
load_failures() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["failures"])' "$1"
}
