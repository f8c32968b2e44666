#!/usr/bin/env python3
"""Bounded load through the gateway for tests/hosts/two-hosts.sh, and the check of what it saw.

  load.py run --base URL --clients N --max-seconds S --stop-file F --tag T --out records.jsonl
      N clients, each in a loop: POST /api/v1/states {"name": "<tag>-<client>-<n>"}, then
      GET /api/v1/states/<id> and the page GET /states/<id> of the state it made. Runs until F
      exists or S seconds have passed (never longer). One JSON line per request: start, duration,
      kind, status, whether the answer was right, and the id of each acknowledged POST.

  load.py settled --records records.jsonl --since T --count N
      Exit 0 when the last N requests started after T and were all right (what the test polls).

  load.py check --records records.jsonl --faults faults.jsonl [--max-latency 10]
                [--recovery 20] --acked-out ids.txt
      Fails (exit 1) unless: every answer is right (2xx with the expected body) or a 503 with
      the API's JSON body and a Retry-After (the page: 503 HTML) while a fault lasts or until
      service resumes; nothing else (no 500, 502, 504, no client timeout); no request took
      longer than --max-latency s; each fault saw 503s; service resumed by itself within
      --recovery s of each fault's end and stayed up. Writes the acknowledged ids to --acked-out.

Standard library only; nothing leaves the web namespace's loopback.
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

CLIENT_TIMEOUT = 30.0


def request(conn_box, base, method, path, body=None):
    """One request on the client's kept connection (a new one after an error); returns
    (status or None, headers dict, body bytes, error text)."""
    url = urllib.parse.urlsplit(base)
    for attempt in (0, 1):
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=CLIENT_TIMEOUT)
        conn = conn_box[0]
        try:
            headers = {"Connection": "keep-alive"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, payload, None
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
            # The gateway closed a kept-alive connection between requests: not an answer; once.
            conn.close()
            conn_box[0] = None
            if attempt == 1 or method == "POST":
                return None, {}, b"", f"{type(error).__name__}: {error}"
        except Exception as error:  # timeout, refused: recorded as no answer
            conn.close()
            conn_box[0] = None
            return None, {}, b"", f"{type(error).__name__}: {error}"
    return None, {}, b"", "unreachable"


def judge_unavailable(kind, status, headers, payload):
    """A 503 as the contract says: the API's JSON error and Retry-After; the page's HTML."""
    if status != 503:
        return False, f"status {status}"
    if "retry-after" not in headers:
        return False, "503 without Retry-After"
    if kind in ("post", "get"):
        try:
            body = json.loads(payload)
        except ValueError:
            return False, f"503 body is not JSON: {payload[:120]!r}"
        if body != {"error": "Service unavailable"}:
            return False, f"503 body {body!r}"
    return True, "503"


def client(index, args, stop, out, lock):
    conn = [None]
    n = 0
    while not stop.is_set():
        n += 1
        name = f"{args.tag}-{index}-{n}"
        records = []
        started = time.time()
        status, headers, payload, error = request(conn, args.base, "POST", "/api/v1/states", {"name": name})
        record = {"t": started, "dt": time.time() - started, "kind": "post", "status": status, "error": error}
        state_id = None
        if status == 201:
            try:
                body = json.loads(payload)
                record["ok"] = body.get("name") == name and len(body.get("id", "")) == 36
                state_id = body.get("id")
                record["id"] = state_id
                if not record["ok"]:
                    record["detail"] = f"201 body {payload[:200]!r}"
            except ValueError:
                record["ok"], record["detail"] = False, f"201 not JSON {payload[:200]!r}"
        elif status is not None:
            record["ok"] = False
            record["unavailable"], record["detail"] = judge_unavailable("post", status, headers, payload)
            if status != 503:
                record["detail"] = f"status {status}: {payload[:200]!r}"
        else:
            record["ok"] = False
        records.append(record)
        if state_id:
            for kind, path, check in (
                ("get", f"/api/v1/states/{state_id}", lambda p: json.loads(p).get("name") == name),
                ("page", f"/states/{state_id}", lambda p: f"State: {name}".encode() in p),
            ):
                started = time.time()
                status, headers, payload, error = request(conn, args.base, "GET", path)
                record = {"t": started, "dt": time.time() - started, "kind": kind, "status": status, "error": error}
                if status == 200:
                    try:
                        record["ok"] = bool(check(payload))
                    except ValueError:
                        record["ok"] = False
                    if not record["ok"]:
                        record["detail"] = f"200 with a wrong body {payload[:200]!r}"
                elif status is not None:
                    record["ok"] = False
                    record["unavailable"], record["detail"] = judge_unavailable(kind, status, headers, payload)
                    if status != 503:
                        record["detail"] = f"status {status}: {payload[:200]!r}"
                else:
                    record["ok"] = False
                records.append(record)
        with lock:
            for record in records:
                out.write(json.dumps(record) + "\n")
            out.flush()
        if any(not r["ok"] for r in records):
            # A client that just failed waits a little, as a client told Retry-After would
            # (bounded: a tenth of a second, so the outage is still sampled densely).
            stop.wait(0.1)


def run(args):
    stop = threading.Event()
    lock = threading.Lock()
    deadline = time.time() + args.max_seconds
    with open(args.out, "a") as out:
        threads = [threading.Thread(target=client, args=(i, args, stop, out, lock), daemon=True)
                   for i in range(args.clients)]
        for thread in threads:
            thread.start()
        while time.time() < deadline and not os.path.exists(args.stop_file):
            time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join(CLIENT_TIMEOUT + 5)
    return 0


def check(args):
    records = [json.loads(line) for line in open(args.records) if line.strip()]
    faults = [json.loads(line) for line in open(args.faults) if line.strip()]
    problems = []
    if not records:
        print("FAIL: no requests were recorded")
        return 1
    records.sort(key=lambda r: r["t"])
    first_fault = min(f["start"] for f in faults) if faults else float("inf")
    before = [r for r in records if r["t"] + r["dt"] < first_fault]
    if not before:
        problems.append("no request completed before the first fault")
    # Every answer: right, or a proper 503; never anything else.
    for r in records:
        if r["ok"]:
            continue
        if r["status"] is None:
            problems.append(f"{r['kind']} at +{r['t'] - records[0]['t']:.1f}s: no answer after {r['dt']:.1f}s ({r.get('error')})")
        elif not r.get("unavailable"):
            problems.append(f"{r['kind']} at +{r['t'] - records[0]['t']:.1f}s: {r.get('detail')}")
    slow = [r for r in records if r["dt"] > args.max_latency]
    for r in slow[:5]:
        problems.append(f"{r['kind']} took {r['dt']:.1f}s (> {args.max_latency}s), status {r['status']}")
    # Each fault: 503s while it lasted, and service back by itself.
    windows = []
    for i, fault in enumerate(faults):
        next_start = faults[i + 1]["start"] if i + 1 < len(faults) else float("inf")
        during = [r for r in records if fault["start"] <= r["t"] <= fault["end"]]
        unavailable = [r for r in records if r.get("unavailable") and fault["start"] - 1 <= r["t"] < next_start]
        # Answered before the next fault began (one in flight then is that fault's).
        after = [r for r in records if fault["end"] <= r["t"] and r["t"] + r["dt"] < next_start]
        # Recovered at: the start of the first right answer after which every answer was right.
        recovered = None
        for r in reversed(after):
            if not r["ok"]:
                break
            recovered = r
        latencies = [r["dt"] for r in unavailable]
        line = {
            "fault": fault["name"],
            "lasted_s": round(fault["end"] - fault["start"], 1),
            "requests_during": len(during),
            "answered_503": len(unavailable),
            "503_latency_median_s": round(statistics.median(latencies), 2) if latencies else None,
            "503_latency_max_s": round(max(latencies), 2) if latencies else None,
            "resumed_after_end_s": round(recovered["t"] - fault["end"], 1) if recovered else None,
            "right_answers_after": sum(1 for r in after if r["ok"]),
        }
        windows.append(line)
        if not unavailable:
            problems.append(f"{fault['name']}: no request answered 503 during the fault")
        if recovered is None or not any(r["ok"] for r in after):
            problems.append(f"{fault['name']}: service did not resume (no run of right answers after it)")
        elif recovered["t"] - fault["end"] > args.recovery:
            problems.append(f"{fault['name']}: service resumed {recovered['t'] - fault['end']:.1f}s after the fault ended (> {args.recovery}s)")
        # Outside the fault and its recovery, every answer is right.
        late_failures = [r for r in after if not r["ok"] and recovered and r["t"] > recovered["t"]]
        if late_failures:
            problems.append(f"{fault['name']}: {len(late_failures)} failures after service resumed")
    acked = [r["id"] for r in records if r["kind"] == "post" and r["ok"]]
    with open(args.acked_out, "w") as out:
        out.write("".join(f"{i}\n" for i in acked))
    kinds = {}
    for r in records:
        k = kinds.setdefault(r["kind"], {"right": 0, "503": 0, "other": 0})
        k["right" if r["ok"] else "503" if r.get("unavailable") else "other"] += 1
    print(f"requests: {len(records)} over {records[-1]['t'] - records[0]['t']:.1f}s; by kind: {json.dumps(kinds)}")
    print(f"slowest answer: {max(r['dt'] for r in records):.2f}s; acknowledged POSTs: {len(acked)}")
    for line in windows:
        print("fault: " + json.dumps(line))
    if problems:
        for problem in problems[:30]:
            print(f"FAIL: {problem}")
        if len(problems) > 30:
            print(f"FAIL: ... and {len(problems) - 30} more")
        return 1
    return 0


def settled(args):
    """Exit 0 once the last --count requests all started after --since and were right."""
    try:
        records = [json.loads(line) for line in open(args.records) if line.strip()]
    except (OSError, ValueError):
        return 1
    records.sort(key=lambda r: r["t"])
    last = records[-args.count:]
    ok = len(last) == args.count and all(r["t"] >= args.since and r["ok"] for r in last)
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("settled")
    s.add_argument("--records", required=True)
    s.add_argument("--since", type=float, default=0)
    s.add_argument("--count", type=int, default=10)
    r = sub.add_parser("run")
    r.add_argument("--base", required=True)
    r.add_argument("--clients", type=int, default=4)
    r.add_argument("--max-seconds", type=float, default=120)
    r.add_argument("--stop-file", required=True)
    r.add_argument("--tag", required=True)
    r.add_argument("--out", required=True)
    c = sub.add_parser("check")
    c.add_argument("--records", required=True)
    c.add_argument("--faults", required=True)
    c.add_argument("--max-latency", type=float, default=10)
    c.add_argument("--recovery", type=float, default=20)
    c.add_argument("--acked-out", required=True)
    args = parser.parse_args()
    sys.exit({"run": run, "check": check, "settled": settled}[args.command](args))


if __name__ == "__main__":
    main()
