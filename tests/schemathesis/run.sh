#!/usr/bin/env bash
# Schemathesis against the api-service over its own OpenAPI document, every check on: any 5xx,
# any answer the document does not describe (status, content type, schema, Allow), any request
# the document calls valid that is refused or invalid that is accepted, fails the run.
#
# Builds nothing: it runs target/debug/api-service (cargo build --workspace --bins first), on a
# free port with a fresh SQLite file. Installs Schemathesis into a venv under target/ when missing
# (SCHEMATHESIS_VERSION pins it). Bounded in time: MAX_EXAMPLES per operation and phase (default
# 150) and a hard limit of SCHEMATHESIS_TIMEOUT seconds (default 240). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
binary=$target/debug/api-service
version=${SCHEMATHESIS_VERSION:-4.32.5}
venv=$target/schemathesis-venv
work=$target/schemathesis
max_examples=${MAX_EXAMPLES:-150}
limit=${SCHEMATHESIS_TIMEOUT:-240}

if [ ! -x "$binary" ]; then
  echo "error: $binary is missing: run cargo build --workspace --bins first" >&2
  exit 1
fi
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$version"; then
  echo "installing schemathesis $version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

rm -rf "$work"
mkdir -p "$work"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Cheap password hashes: Schemathesis creates many users (the cost is a setting, not behaviour).
ARGON2_MEMORY_KIB=64 ARGON2_ITERATIONS=1 RUST_LOG=${API_LOG:-info} LOG_FORMAT=json \
  DATABASE_URL="sqlite://$work/api.sqlite" HOST=127.0.0.1 PORT=$port \
  "$binary" >"$work/api-service.log" 2>&1 &
api=$!
trap 'kill "$api" 2>/dev/null || true; wait "$api" 2>/dev/null || true' EXIT

base=http://127.0.0.1:$port
deadline=$((SECONDS + 30))
ready() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null; }
until ready "$base/readyz"; do
  if ! kill -0 "$api" 2>/dev/null; then
    echo "error: api-service exited; its log:" >&2
    cat "$work/api-service.log" >&2
    exit 1
  fi
  if [ $SECONDS -ge $deadline ]; then
    echo "error: api-service not ready on $base within 30 s" >&2
    exit 1
  fi
  sleep 0.2
done

# Objects of every kind whose ids Schemathesis uses (with some probability; random ids the rest
# of the time) for the ids of the URLs and bodies, so fuzzing reaches real objects, not only
# 404s: six of each, every place linked to every amenity. The DELETEs get victims of their own,
# so their cascades (a state takes its cities, places, reviews) leave the others something to
# read, change and unlink.
python3 - "$base" "$work/schemathesis.toml" <<'PY'
import json, sys, urllib.request
base, config = sys.argv[1], sys.argv[2]
def post(path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + "/api/v1" + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)["id"]
def world(tag, under=None):
    """Six objects of each kind; with `under`, each hangs off under's first state, user, city
    and place, so deleting it takes none of under's objects."""
    ids = {kind: [] for kind in ("states", "cities", "users", "places", "reviews", "amenities")}
    for i in range(6):
        state = post("/states", {"name": f"{tag} state {i}"})
        user = post("/users", {"email": f"{tag}{i}@example.test", "password": "secret"})
        owner = under["users"][0] if under else user
        city = post(f"/states/{under['states'][0] if under else state}/cities", {"name": f"{tag} {i}"})
        place = post(f"/cities/{under['cities'][0] if under else city}/places",
                     {"user_id": owner, "name": f"{tag} place {i}"})
        review = post(f"/places/{under['places'][0] if under else place}/reviews",
                      {"user_id": owner, "text": f"{tag} review {i}"})
        amenity = post("/amenities", {"name": f"{tag} amenity {i}"})
        for kind, id in zip(ids, (state, city, user, place, review, amenity)):
            ids[kind].append(id)
    return ids
keep = world("kept")
victims = world("victim", under=keep)
for place in keep["places"]:
    for amenity in keep["amenities"]:
        urllib.request.urlopen(urllib.request.Request(
            f"{base}/api/v1/places/{place}/amenities/{amenity}", method="POST"))
def bind(dictionary):
    return f'{{ dictionary = "{dictionary}", probability = 0.8 }}'
lines = [f"[dictionaries.{kind}]\nvalues = {json.dumps(values)}\n" for kind, values in keep.items()]
lines += [f"[dictionaries.victim_{kind}]\nvalues = {json.dumps(values)}\n"
          for kind, values in victims.items()]
lines.append("[parameters]")
for key, kind in [("path.state_id", "states"), ("path.city_id", "cities"),
                  ("path.place_id", "places"), ("path.amenity_id", "amenities"),
                  ("body.user_id", "users"), ("body.states[*]", "states"),
                  ("body.cities[*]", "cities"), ("body.amenities[*]", "amenities")]:
    lines.append(f'"{key}" = {bind(kind)}')
singular = {"states": "state", "cities": "city", "users": "user", "places": "place",
            "reviews": "review", "amenities": "amenity"}
for kind, one in singular.items():
    for operation in (f"get_{one}", f"update_{one}"):
        lines.append(f'\n[[operations]]\ninclude-operation-id = "{operation}"')
        lines.append(f'parameters = {{ "path.id" = {bind(kind)} }}')
    lines.append(f'\n[[operations]]\ninclude-operation-id = "delete_{one}"')
    lines.append(f'parameters = {{ "path.id" = {bind("victim_" + kind)} }}')
open(config, "w").write("\n".join(lines) + "\n")
PY

echo "schemathesis $version against $base (max $max_examples examples per operation)" >&2
status=0
(
  cd "$work"
  timeout --kill-after=10 "$limit" "$venv/bin/schemathesis" --config-file schemathesis.toml run \
    "$base/api/v1/openapi.json" \
    --checks all \
    --max-examples "$max_examples" \
    --seed "${SCHEMATHESIS_SEED:-20261201}" \
    --generation-database none \
    --request-timeout 30 \
    --no-color \
    --report junit --report-dir "$PWD/report"
) || status=$?
if [ $status -eq 124 ] || [ $status -eq 137 ]; then
  echo "error: schemathesis did not finish within $limit s" >&2
fi
# What the API answered, per operation: proof that the run reached real objects, not only 404s.
python3 - "$work/api-service.log" <<'PY' >&2 || true
import collections, json, re, sys
names = {"states", "cities", "amenities", "users", "places", "reviews"}
tally = collections.defaultdict(collections.Counter)
for line in open(sys.argv[1], errors="replace"):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if entry.get("target") != "access" or not entry.get("path", "").startswith("/api/v1/"):
        continue
    parts = entry["path"].rstrip("/").split("/")
    template = "/".join("{id}" if i > 3 and parts[i - 1] in names and p not in names else p
                        for i, p in enumerate(parts))
    if re.search(r"/(openapi.json)$", template):
        continue
    tally[(entry["method"], template)][entry["status"] // 100 * 100] += 1
print("answers per operation (2xx / 4xx / 5xx; the single 405 probes left out):")
for (method, template), counts in sorted(tally.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    if method in ("GET", "POST", "PUT", "DELETE") and sum(counts.values()) > 1:
        print(f"  {method:6} {template:50} {counts[200]:5} {counts[400]:5} {counts[500]:5}")
PY
# A panic, an error the API logged (an internal error answered 500), or a 5xx the request
# middleware saw. Not actix's own ERROR lines for requests it refuses before routing (a malformed
# header: 400).
errors='panicked|"level":"ERROR"[^}]*"target":"(api_service|tracing_actix_web)'
if grep -qE "$errors" "$work/api-service.log"; then
  echo "error: the api-service logged errors:" >&2
  grep -E "$errors" "$work/api-service.log" | head -20 >&2
  status=1
fi
exit $status
