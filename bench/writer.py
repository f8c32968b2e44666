#!/usr/bin/env python3
"""A steady writer beside a read benchmark (bench/reads.sh): POST /api/v1/states {"name": "w"},
then DELETE the state it created, at a fixed total rate of RATE requests per second (the POST and
the DELETE both count), for DURATION seconds.

usage: writer.py BASE_URL RATE DURATION [CONNECTIONS]     e.g. writer.py http://127.0.0.1:8080 20 6

Paced by a deadline schedule, not by sleeping after each request: request i is due at
start + i / RATE, whatever the previous ones took. Pair j (its POST is request 2j, its DELETE
request 2j+1) is sent by connection j mod CONNECTIONS (default 4, each keep-alive http.client), so
one slow answer does not hold back the whole schedule; a request that is late goes out at once.
Every state created is deleted, so the data ends as it began. Standard library only.

Prints one line: "WRITER <rate> <made> <failed> <achieved/s> <max lateness ms>", made = requests
sent (POSTs + DELETEs), failed = those not answered 2xx (or not answered at all), achieved = made
over DURATION (or over the time taken, if longer), lateness = how far behind schedule a request
went out at worst.
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__.split("\n\n")[1])
    base = urllib.parse.urlsplit(sys.argv[1])
    rate, duration = float(sys.argv[2]), float(sys.argv[3])
    conns = int(sys.argv[4]) if len(sys.argv) == 5 else 4
    prefix = base.path.rstrip("/")
    if not prefix.endswith("/api/v1"):
        prefix += "/api/v1"
    if rate <= 0:
        print("WRITER 0 0 0 0.0 0.0")
        return
    pairs = max(1, int(rate * duration) // 2)      # POST+DELETE pairs due within DURATION
    lock = threading.Lock()
    totals = {"made": 0, "failed": 0, "late": 0.0}
    start = time.monotonic() + 0.05

    def request(conn, method, path, body=None):
        """One request on the keep-alive connection (reconnecting once); (status, body)."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in (0, 1):
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                if attempt:
                    return 0, b""

    def wait_until(due):
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        return max(0.0, time.monotonic() - due)

    def worker(first):
        conn = http.client.HTTPConnection(base.hostname, base.port or 80, timeout=10)
        made = failed = 0
        late = 0.0
        for j in range(first, pairs, conns):
            late = max(late, wait_until(start + 2 * j / rate))
            status, raw = request(conn, "POST", prefix + "/states", json.dumps({"name": "w"}))
            made += 1
            if status != 201:
                failed += 1
                continue
            state = json.loads(raw)["id"]
            late = max(late, wait_until(start + (2 * j + 1) / rate))
            status, _ = request(conn, "DELETE", prefix + "/states/" + state)
            made += 1
            failed += not 200 <= status < 300
        conn.close()
        with lock:
            totals["made"] += made
            totals["failed"] += failed
            totals["late"] = max(totals["late"], late)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(min(conns, pairs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = max(time.monotonic() - start, duration)
    print("WRITER %g %d %d %.1f %.1f" % (rate, totals["made"], totals["failed"],
                                        totals["made"] / elapsed, totals["late"] * 1000))


if __name__ == "__main__":
    main()
