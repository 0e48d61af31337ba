"""Prometheus metrics of the DNS layer.

Labels take few values — the record type asked and the kind of result — never a domain or
an address (DESIGN.md: metrics labels never carry free text).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

#: One per query sent; ``result`` is noerror, nodata, nxdomain, servfail, refused, …,
#: timeout, error (unreachable), truncated (UDP answer cut, asked again over TCP).
QUERIES = Counter(
    "ndrtrack_dns_queries_total",
    "DNS queries sent, by record type and result",
    ["rdtype", "result"],
)

QUERY_SECONDS = Histogram(
    "ndrtrack_dns_query_seconds",
    "Time from sending a DNS query to its answer (TCP fallback included)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

CACHE_HITS = Counter(
    "ndrtrack_dns_cache_hits_total",
    "DNS questions answered from the resolver's cache",
)
