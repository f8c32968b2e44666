#!/usr/bin/env python3
"""A bounded HTTP load for the container tests (stdlib only): CLIENTS keep-alive clients send
GET requests for PATHS, in turn, to http://HOST:PORT until STOP_FILE exists or SECONDS pass
(READY_FILE is created once the first response has arrived), then one JSON line is printed: requests, failures (status >= 500 or a broken connection, with
the first few reasons), and latency percentiles in ms.

    load.py --port 80 --clients 8 --seconds 60 --stop-file /tmp/stop /api/v1/status /
"""
import argparse
import http.client
import json
import os
import threading
import time


def client(args, results, lock, deadline):
    conn = None
    latencies, failures, reasons, i = [], 0, [], 0
    while time.monotonic() < deadline and not os.path.exists(args.stop_file or "/nonexistent"):
        path = args.paths[i % len(args.paths)]
        i += 1
        started = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(args.host, args.port, timeout=30)
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if args.ready_file and not os.path.exists(args.ready_file):
                open(args.ready_file, "w").close()
            if response.status >= 500:
                failures += 1
                reasons.append(f"{path}: {response.status}")
            if response.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as error:
            failures += 1
            reasons.append(f"{path}: {type(error).__name__}: {error}")
            if conn is not None:
                conn.close()
            conn = None
        latencies.append((time.monotonic() - started) * 1000)
    with lock:
        results["latencies"].extend(latencies)
        results["failures"] += failures
        results["reasons"].extend(reasons[:5])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--stop-file")
    parser.add_argument("--ready-file", help="created once the first response has arrived")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    results = {"latencies": [], "failures": 0, "reasons": []}
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds
    threads = [
        threading.Thread(target=client, args=(args, results, lock, deadline))
        for _ in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = sorted(results["latencies"])

    def percentile(p):
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))], 1) if latencies else None

    print(json.dumps({
        "requests": len(latencies),
        "failures": results["failures"],
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "reasons": results["reasons"][:10],
    }))


if __name__ == "__main__":
    main()
