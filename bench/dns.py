"""Benchmark: expand a deep SPF tree (dozens of includes) cold and warm from a local NSD.

    .venv/bin/python bench/dns.py [--width 4] [--depth 3] [--repeat 5]

It writes one zone whose root record includes ``width`` domains, each including ``width``
more, ``depth`` levels deep (width=4, depth=3: 84 includes, 64 leaves with ``ip4``, ``a`` and
``mx`` terms), starts NSD on loopback (as the tests do), and times:

- cold: a fresh resolver (empty cache) expanding the whole tree, concurrency 32 and 1;
- warm: the same resolver again (every answer from the cache);
- baseline: the same questions asked one after another with plain synchronous dnspython
  (``dns.query.udp``, no cache, no concurrency) — the floor a naive expander would pay.

Printed: lookups, median time of ``repeat`` runs, cache hit rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This file is named dns.py, and Python puts its folder first on sys.path: it would shadow
# dnspython's ``dns`` package.  Take the folder off before importing dnspython.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

import dns.message  # noqa: E402
import dns.query  # noqa: E402

from dnslab import NsdServer  # noqa: E402
from ndrtrack.dns.resolver import Resolver, ResolverSettings  # noqa: E402
from ndrtrack.dns.spf import SpfTree, spf_tree  # noqa: E402

ORIGIN = "bench.test"


def make_zone(width: int, depth: int) -> tuple[str, int]:
    """Zone text and the number of include terms in it."""
    lines = ["$TTL 3600", "@ SOA ns hostmaster 1 3600 600 86400 300", "@ NS ns",
             "ns A 127.0.0.1", "@ MX 10 mx1", "@ MX 20 mx2", "mx1 A 192.0.2.1",
             "mx1 AAAA 2001:db8::1", "mx2 A 192.0.2.2"]
    level = ["@"]
    includes = 0
    for _ in range(depth):
        nxt = []
        for parent in level:
            suffix = "" if parent == "@" else f".{parent}"
            kids = [f"i{k}{suffix}" for k in range(width)]
            terms = " ".join(f"include:{kid}.{ORIGIN}" for kid in kids)
            lines.append(f'{parent} TXT "v=spf1 {terms} -all"')
            includes += len(kids)
            nxt += kids
        level = nxt
    for n, leaf in enumerate(level):
        lines.append(f'{leaf} TXT "v=spf1 ip4:198.18.{n % 256}.0/24 a:out.{leaf}.{ORIGIN} '
                     f'mx:{ORIGIN} ~all"')
        lines.append(f"out.{leaf} A 198.19.{n % 256}.1")
    return "\n".join(lines) + "\n", includes


async def expand(resolver: Resolver) -> tuple[float, SpfTree]:
    started = time.perf_counter()
    tree = await spf_tree(resolver, ORIGIN)
    return time.perf_counter() - started, tree


def baseline(server: NsdServer, questions: list[tuple[str, str]]) -> float:
    started = time.perf_counter()
    for name, rdtype in questions:
        dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", timeout=2,
                      port=server.port)
    return time.perf_counter() - started


def run(server: NsdServer, repeat: int) -> None:
    settings = ResolverSettings(nameservers=(server.address,), timeout=2, retries=1)
    cold, cold1, warm, base = [], [], [], []
    sent: list[int] = []
    tree = None
    questions: list[tuple[str, str]] = []
    hits = lookups = 0
    for _ in range(repeat):
        async def once() -> None:
            nonlocal tree, questions, hits, lookups
            resolver = Resolver(settings)
            took, tree = await expand(resolver)
            cold.append(took)
            questions = list(dict.fromkeys((lk.qname, lk.rdtype) for lk in tree.lookups))
            sent.append(resolver.queries)
            before = resolver.cache_hits
            took, warm_tree = await expand(resolver)
            warm.append(took)
            hits, lookups = resolver.cache_hits - before, len(warm_tree.lookups)
            serial = Resolver(ResolverSettings(nameservers=(server.address,),
                                               max_concurrency=1))
            cold1.append((await expand(serial))[0])

        asyncio.run(once())
        base.append(baseline(server, questions))
    assert tree is not None
    print(f"tree: {tree.dns_terms} DNS-querying terms, {len(tree.networks)} networks, "
          f"verdict {tree.verdict}; {len(tree.lookups)} lookups recorded, "
          f"{len(questions)} distinct questions, {max(sent)} queries sent cold")
    for label, times in (("cold, 32 in flight", cold), ("cold, 1 in flight", cold1),
                         ("warm (cache)", warm), ("baseline: sync dnspython, serial", base)):
        median = statistics.median(times)
        print(f"  {label:<34} {median * 1000:8.1f} ms median of {len(times)}  "
              f"({len(questions) / median:8.0f} distinct questions/s)")
    print(f"  warm cache hit rate: {hits}/{lookups} = {hits / max(lookups, 1):.0%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    text, includes = make_zone(args.width, args.depth)
    print(f"zone: {includes} includes, width {args.width}, depth {args.depth}")
    with tempfile.TemporaryDirectory(prefix="ndrtrack-bench-dns-") as tmp:
        zone = Path(tmp) / f"{ORIGIN}.zone"
        zone.write_text(text)
        with NsdServer(Path(tmp) / "nsd", {ORIGIN: zone}, ipv6=False) as server:
            run(server, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
