#!/usr/bin/env python3
"""Benchmark: searches of the index beside ``grep`` over the raw file, in the same run.

Builds (or reuses) an index of a generated Postfix log (default 10M lines; ``--lines`` for a
quick run), then times ``Store.search`` — the library call the tracking process uses,
including re-parsing each returned trace's timeline — for searches by sender address, sender
domain, Message-ID, queue id and client IP with values drawn from the index, and ``grep -F`` for the
same values over the raw file (``grep -c``, which must read the whole file as a search of
rotated logs does).  Targets (issue 4): p50 < 50 ms and ≥ 100× faster than grep.

    .venv/bin/python bench/log_search.py --lines 10000000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from log_ingest import ensure_log  # noqa: E402

from ndrtrack.logs.importer import Importer  # noqa: E402
from ndrtrack.store.base import LogQuery, Store, open_store  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def samples(store: Store, n: int, seed: int) -> dict[str, list[str]]:
    conn = store.conn  # type: ignore[attr-defined]
    total = conn.execute("SELECT max(id) FROM log_traces").fetchone()[0]
    rng = random.Random(seed)
    picked: dict[str, list[str]] = {"sender": [], "domain": [], "message_id": [],
                                    "queue_id": [], "client_ip": []}
    while min(len(v) for v in picked.values()) < n:
        row = conn.execute("SELECT sender, sender_domain, message_id, queue_id, client_ip"
                           " FROM log_traces WHERE id = ?", (rng.randint(1, total),)).fetchone()
        if row is None:
            continue
        sender, domain, message_id, queue_id, ip = row
        for key, value in (("sender", sender), ("domain", domain and "@" + domain),
                           ("message_id", message_id), ("queue_id", queue_id),
                           ("client_ip", ip)):
            if value and len(picked[key]) < n and not value.startswith("@corp"):
                picked[key].append(value)
    return picked


QUERIES: dict[str, Callable[[str], LogQuery]] = {
    "sender": lambda v: LogQuery(sender=v),
    "domain": lambda v: LogQuery(sender=v),
    "message_id": lambda v: LogQuery(message_id=v),
    "queue_id": lambda v: LogQuery(queue_id=v),
    "client_ip": lambda v: LogQuery(client_ip=v),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries", type=int, default=100, help="searches per kind")
    ap.add_argument("--greps", type=int, default=3, help="grep runs per kind")
    ap.add_argument("--workdir", default="/var/tmp/ndrtrack-bench")
    args = ap.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    log = work / f"postfix-{args.lines}-{args.seed}.log"
    ensure_log(log, args.lines, args.seed)
    index = work / f"index-{args.lines}-{args.seed}.sqlite3"
    store = open_store("sqlite", str(index))
    store.setup()
    started = time.perf_counter()
    (result,) = Importer(store=store).import_path(str(log))
    if result.lines:
        print(f"indexed {result.lines:,} lines in {time.perf_counter() - started:.0f} s")
    traces = store.conn.execute("SELECT count(*) FROM log_traces").fetchone()[0]  # type: ignore[attr-defined]
    print(f"file: {log.name} ({args.lines:,} lines, {log.stat().st_size / 2**20:,.0f} MiB), "
          f"index: {traces:,} message traces; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")

    values = samples(store, args.queries, args.seed)
    print(f"{'search':12} {'p50 ms':>8} {'p95 ms':>8} {'found':>7} {'grep p50 ms':>12} "
          f"{'× faster':>9}")
    for kind, make in QUERIES.items():
        times, found = [], 0
        for value in values[kind]:
            t = time.perf_counter()
            hits = store.search(make(value))
            times.append((time.perf_counter() - t) * 1000)
            found += len(hits)
        greps = []
        for value in values[kind][:args.greps]:
            t = time.perf_counter()
            # output to a pipe: GNU grep stops at the first match when it writes to /dev/null
            subprocess.run(["grep", "-c", "-F", "--", value, str(log)],
                           stdout=subprocess.PIPE, check=False)
            greps.append((time.perf_counter() - t) * 1000)
        p50 = statistics.median(times)
        grep50 = statistics.median(greps)
        print(f"{kind:12} {p50:8.2f} {percentile(times, 95):8.2f} {found / len(times):7.1f} "
              f"{grep50:12.0f} {grep50 / p50:9.0f}")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
