#!/usr/bin/env python3
"""Grow an HBNB data set, seeded by ../shared/bench/seed.py, to TARGET_PLACES places through the
REST API (bench/reads.sh's growth case).

usage: grow.py TARGET_PLACES API_URL [CONNECTIONS]     e.g. grow.py 5000 http://127.0.0.1:5002

Places are POSTed to /api/v1/cities/<id>/places, spread over the existing cities and users, shaped
like seed.py's: "Place %05d", the same numeric fields, and a description padded so that each place
is 512 bytes of compact sorted-key JSON (513 every 63rd), so the places_search body grows by the
same ~512 B per place. CONNECTIONS threads (default 8), each a keep-alive http.client connection.
Stops when GET /api/v1/stats shows at least TARGET_PLACES places; prints the final stats.
Standard library only.
"""
import http.client
import itertools
import json
import sys
import threading
import time
import urllib.parse

PLACE_BYTES, PLACE_BYTES_PLUS1_EVERY = 512, 63


def compact_len(d):
    return len(json.dumps(d, separators=(",", ":"), sort_keys=True))


def place_fields(k, city_id, user_id):
    """Place k, as seed.py builds its places (wider name), padded to PLACE_BYTES as compact JSON."""
    fields = {
        "name": "Place %05d" % k,
        "number_rooms": 1 + k % 4,
        "number_bathrooms": 1 + k % 2,
        "max_guest": 2 + k % 7,
        "price_by_night": 40 + (k * 37) % 160,
        "latitude": float("%.2f" % (25 + (k * 13) % 2400 / 100.0)),
        "longitude": float("%.2f" % (-70 - (k * 29) % 5200 / 100.0)),
    }
    shape = dict(fields, description="", user_id=user_id, city_id=city_id, id="x" * 36,
                 created_at="x" * 26, updated_at="x" * 26, __class__="Place")
    target = PLACE_BYTES + (1 if k % PLACE_BYTES_PLUS1_EVERY == 0 else 0)
    filler = ("Seeded place %05d for side-by-side load tests of the HBNB stack; quiet street, "
              "near transit, self check-in. " % k) * 4
    fields["description"] = filler[:target - compact_len(shape)].rstrip(" ,;.") or "x"
    fields["description"] += "." * (target - compact_len(dict(shape, description=fields["description"])))
    fields["user_id"] = user_id
    return fields


class Client:
    def __init__(self, base):
        self.host, self.port, self.prefix = base.hostname, base.port or 80, base.path.rstrip("/")
        if not self.prefix.endswith("/api/v1"):
            self.prefix += "/api/v1"
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def call(self, method, path, body=None, ok=(200, 201)):
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in range(5):
            try:
                self.conn.request(method, self.prefix + path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                if attempt == 4:
                    sys.exit("grow.py: %s %s failed: %s" % (method, path, e))
                time.sleep(0.2 * (attempt + 1))
                continue
            if resp.status in ok:
                return json.loads(raw) if raw.strip() else None
            if resp.status == 503 and attempt < 4:     # shedding load: try again shortly
                time.sleep(0.2 * (attempt + 1))
                continue
            sys.exit("grow.py: %s %s -> HTTP %d: %r" % (method, path, resp.status, raw[:300]))


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[1].startswith("-"):
        sys.exit(__doc__.split("\n\n")[1])
    target, base = int(sys.argv[1]), urllib.parse.urlsplit(sys.argv[2])
    connections = int(sys.argv[3]) if len(sys.argv) == 4 else 8
    t0 = time.time()
    api = Client(base)
    cities = [c["id"] for s in api.call("GET", "/states")
              for c in api.call("GET", "/states/%s/cities" % s["id"])]
    users = [u["id"] for u in api.call("GET", "/users")]
    if not cities or not users:
        sys.exit("grow.py: no cities or users; seed first (../shared/bench/seed.py)")
    while True:
        have = api.call("GET", "/stats")["places"]
        if have >= target:
            break
        numbers = itertools.count(have)           # place numbers continue from the current count
        end = target
        lock = threading.Lock()

        failures = []

        def worker():
            client = Client(base)
            while not failures:
                with lock:
                    k = next(numbers)
                if k >= end:
                    return
                city, user = cities[k % len(cities)], users[k % len(users)]
                try:
                    client.call("POST", "/cities/%s/places" % city, place_fields(k, city, user))
                except SystemExit as e:           # Client.call gave up: stop every thread
                    failures.append(e.code)

        threads = [threading.Thread(target=worker) for _ in range(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            sys.exit(failures[0])
    stats = api.call("GET", "/stats")
    print("grow.py: %d places (target %d) in %.1f s; stats %s"
          % (stats["places"], target, time.time() - t0, json.dumps(stats, sort_keys=True)))


if __name__ == "__main__":
    main()
