"""An asyncio stub resolver that keeps every answer as evidence.

Why not ``dns.asyncresolver``: a tracking report must show *which* server answered *what*,
with which rcode and TTL and how long it took, and it must tell "the domain has no such record"
(a finding) apart from "we could not ask" (an error).  So this layer sends the queries itself
with ``dns.asyncquery`` and returns a frozen :class:`Lookup` for each question:

- NOERROR with data, NOERROR without data (NODATA) and NXDOMAIN are all *answers*;
- a timeout, SERVFAIL, REFUSED or an unreachable server on every try raises
  :class:`QueryFailed` (a :class:`ndrtrack.errors.DnsError`) carrying a failed ``Lookup``, so
  the higher layers can still put it in a report.

Behaviour worth knowing:

- UDP first (with EDNS and ``edns_payload`` bytes, or without EDNS when 0); a truncated answer
  (TC bit) is asked again over TCP.
- Servers are tried in order, ``retries + 1`` rounds; SERVFAIL/REFUSED moves to the next one,
  and so does a referral (a server that does not recurse, answering for a delegated zone).
- CNAME chains are followed inside the answer, and asked again when the server stopped at a
  name it is not authoritative for (an authoritative server answers only for its zones).
- Answers are cached for their TTL, NXDOMAIN/NODATA for the SOA's negative TTL (RFC 2308);
  failures are not cached.  Identical questions in flight share one query.
- A semaphore bounds the number of queries on the wire.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset

from ndrtrack.dns import metrics
from ndrtrack.errors import DnsError

#: Longest CNAME chain followed (RFC 1034 warns about loops; resolvers use similar bounds).
MAX_CNAME_HOPS = 8
#: Negative TTL used when a negative answer carries no SOA (it should, RFC 2308 §3).
DEFAULT_NEGATIVE_TTL = 60
#: Rcodes that are answers (findings); every other rcode means "could not ask".
ANSWER_RCODES = frozenset({dns.rcode.NOERROR, dns.rcode.NXDOMAIN})


@dataclass(frozen=True, slots=True)
class Nameserver:
    """One server to ask: an IP address and a port."""

    host: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        """``"192.0.2.1"``, ``"192.0.2.1:5353"``, ``"::1"``, ``"[::1]:5353"`` (like dig's @)."""
        text = text.strip()
        host, port = text, 53
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            if rest.startswith(":"):
                port = _port(rest[1:], text)
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
            port = _port(port_text, text)
        if not host:
            raise ValueError(f"no host in nameserver {text!r}")
        return cls(host, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 53 else f"{host}:{self.port}"


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port in nameserver {whole!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class ResolverSettings:
    """How to ask: the ``dns`` section of the configuration, frozen."""

    nameservers: tuple[str, ...] = ()  # "host" or "host:port"; empty: /etc/resolv.conf
    timeout: float = 3.0  # seconds per try
    retries: int = 2  # extra rounds over all servers after the first
    cache_size: int = 10000  # entries; 0 turns the cache off
    max_concurrency: int = 32  # queries on the wire at once
    edns_payload: int = 1232  # advertised UDP size (DNS flag day 2020); 0: no EDNS

    @classmethod
    def from_config(cls, dns_config: object) -> ResolverSettings:
        """Build from ``ndrtrack.config.DnsConfig`` (duck-typed: same field names)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {n: getattr(dns_config, n) for n in names if hasattr(dns_config, n)}
        values["nameservers"] = tuple(values.get("nameservers", ()))
        return cls(**values)

    def servers(self) -> tuple[Nameserver, ...]:
        """The servers to ask; the system's when none are configured."""
        if self.nameservers:
            return tuple(Nameserver.parse(s) for s in self.nameservers)
        try:
            system = dns.resolver.Resolver(configure=True)
        except dns.resolver.NoResolverConfiguration:
            return ()
        return tuple(Nameserver(str(ns), int(system.port)) for ns in system.nameservers)


@dataclass(frozen=True, slots=True)
class Lookup:
    """One question and its answer, as evidence.

    ``answers`` are the record data in presentation form, except TXT, whose character-strings
    are joined into one decoded string (how SPF and DMARC read them).  ``ttl`` is the TTL
    the answer had (the remaining TTL when it came from the cache).  ``rcode`` is ``NOERROR``,
    ``NXDOMAIN``, or for a failed lookup ``TIMEOUT``/``SERVFAIL``/``REFUSED``/``UNREACHABLE``
    with ``error`` saying what happened.
    """

    qname: str
    rdtype: str
    server: str
    rcode: str
    answers: tuple[str, ...] = ()
    ttl: int = 0
    elapsed: float = 0.0  # seconds on the wire (0 for a cache hit)
    transport: str = "udp"  # udp | tcp (after truncation) | cache | shared (asked in flight)
    cname_chain: tuple[str, ...] = ()  # names the question was redirected through
    cached: bool = False  # answered without a query of its own (cache or a shared query)
    error: str = ""

    @property
    def ok(self) -> bool:
        """An answer was received (NXDOMAIN and NODATA included)."""
        return not self.error

    @property
    def empty(self) -> bool:
        """NXDOMAIN or NODATA: RFC 7208's "void lookup"."""
        return self.ok and not self.answers

    def describe(self) -> str:
        """One line for a report: ``example.com. MX @127.0.0.1:53 NOERROR 10 mx.example.com.``"""
        what = ", ".join(self.answers) if self.answers else (self.error or "no records")
        via = " via " + " → ".join(self.cname_chain) if self.cname_chain else ""
        return f"{self.qname} {self.rdtype} @{self.server} {self.rcode}{via}: {what}"


class QueryFailed(DnsError):
    """Every try to ask failed; ``lookup`` is the failed :class:`Lookup` (the evidence)."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        super().__init__(
            f"{lookup.qname} {lookup.rdtype}: {lookup.error}",
            qname=lookup.qname,
            rdtype=lookup.rdtype,
            server=lookup.server,
        )


@dataclass(frozen=True, slots=True)
class _Wire:
    """One response from one server."""

    response: dns.message.Message
    server: str
    transport: str
    elapsed: float


class Resolver:
    """The asyncio resolver; one per process (it owns the cache and the concurrency bound)."""

    def __init__(self, settings: ResolverSettings | None = None) -> None:
        self.settings = settings or ResolverSettings()
        self._servers = self.settings.servers()
        self._cache: collections.OrderedDict[tuple[str, str], tuple[float, Lookup]] = (
            collections.OrderedDict()
        )
        self._inflight: dict[tuple[str, str], asyncio.Future[Lookup]] = {}
        self._semaphore = asyncio.Semaphore(self.settings.max_concurrency)
        self.queries = 0  # sent over the network (each try counts)
        self.cache_hits = 0

    @property
    def servers(self) -> tuple[Nameserver, ...]:
        return self._servers

    async def query(self, qname: str | dns.name.Name, rdtype: str) -> Lookup:
        """Ask one question; an answer (also NXDOMAIN/NODATA) or :class:`QueryFailed`."""
        rdtype = rdtype.upper()
        try:
            name = _absolute(qname)
        except dns.exception.DNSException as exc:  # empty label, label or name too long
            raise QueryFailed(Lookup(str(qname), rdtype, "", "BADNAME",
                                     error=f"not a valid domain name: {exc}")) from None
        key = (name.to_text().lower(), rdtype)
        hit = self._cached(key)
        if hit is not None:
            return hit
        pending = self._inflight.get(key)
        if pending is not None:  # the same question is on the wire: share its answer
            shared = await asyncio.shield(pending)
            return dataclasses.replace(shared, elapsed=0.0, transport="shared", cached=True)
        future: asyncio.Future[Lookup] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            lookup = await self._resolve(name, rdtype)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here; waiters get it from their own await
            raise
        else:
            future.set_result(lookup)
            self._store(key, lookup)
            return lookup
        finally:
            del self._inflight[key]

    def clear_cache(self) -> None:
        self._cache.clear()

    # ------------------------------------------------------------------ cache

    def _cached(self, key: tuple[str, str]) -> Lookup | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        expires, lookup = entry
        remaining = expires - time.monotonic()
        if remaining <= 0:
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        self.cache_hits += 1
        metrics.CACHE_HITS.inc()
        return dataclasses.replace(
            lookup, ttl=int(remaining), elapsed=0.0, transport="cache", cached=True
        )

    def _store(self, key: tuple[str, str], lookup: Lookup) -> None:
        if self.settings.cache_size <= 0 or lookup.ttl <= 0:
            return
        self._cache[key] = (time.monotonic() + lookup.ttl, lookup)
        self._cache.move_to_end(key)
        while len(self._cache) > self.settings.cache_size:
            self._cache.popitem(last=False)

    # ------------------------------------------------------------------ resolution

    async def _resolve(self, name: dns.name.Name, rdtype: str) -> Lookup:
        """Ask for ``name``, following CNAMEs the server left unresolved."""
        chain: list[str] = []
        ttls: list[int] = []
        elapsed = 0.0
        current = name
        for _ in range(MAX_CNAME_HOPS + 1):
            wire = await self._ask(current, rdtype, original=name)
            elapsed += wire.elapsed
            final, hops, hop_ttls, answers, ttl = _read_answer(wire.response, current, rdtype)
            chain.extend(h.to_text() for h in hops)
            ttls.extend(hop_ttls)
            done = answers or wire.response.rcode() != dns.rcode.NOERROR or not hops
            if done or rdtype == "CNAME":
                return Lookup(
                    qname=name.to_text(),
                    rdtype=rdtype,
                    server=wire.server,
                    rcode=dns.rcode.to_text(wire.response.rcode()),
                    answers=answers,
                    ttl=min([ttl, *ttls]),
                    elapsed=round(elapsed, 6),
                    transport=wire.transport,
                    cname_chain=tuple(chain),
                )
            if final in (name, *(_absolute(c) for c in chain[:-1])):
                break  # a CNAME loop
            current = final
        raise QueryFailed(
            Lookup(name.to_text(), rdtype, str(self._servers[0]) if self._servers else "",
                   "CNAME_LOOP", cname_chain=tuple(chain), elapsed=round(elapsed, 6),
                   error=f"CNAME chain longer than {MAX_CNAME_HOPS} or looping")
        )

    async def _ask(self, name: dns.name.Name, rdtype: str, *, original: dns.name.Name) -> _Wire:
        """One question to the servers in order, ``retries + 1`` rounds; raise when none answer."""
        if not self._servers:
            raise QueryFailed(Lookup(original.to_text(), rdtype, "", "NO_NAMESERVER",
                                     error="no nameserver configured or found in resolv.conf"))
        failures: list[tuple[str, str, str]] = []  # (server, rcode, what)
        started = time.monotonic()
        for _round in range(self.settings.retries + 1):
            for server in self._servers:
                try:
                    wire = await self._ask_one(server, name, rdtype)
                except (TimeoutError, dns.exception.Timeout):
                    failures.append((str(server), "TIMEOUT", f"no answer within "
                                     f"{self.settings.timeout:g} s"))
                    continue
                except (OSError, dns.exception.DNSException) as exc:
                    metrics.QUERIES.labels(rdtype=rdtype, result="error").inc()
                    failures.append((str(server), "UNREACHABLE", f"{type(exc).__name__}: {exc}"))
                    continue
                rcode = wire.response.rcode()
                if _is_referral(wire.response):
                    failures.append((str(server), "REFERRAL", "server does not recurse: it "
                                     "referred the question to the zone's own servers"))
                    continue
                if rcode in ANSWER_RCODES:
                    return wire
                failures.append((str(server), dns.rcode.to_text(rcode), "server answered "
                                 + dns.rcode.to_text(rcode)))
        last_server, last_rcode, _what = failures[-1]
        detail = "; ".join(f"{s} {w}" for s, _r, w in failures)
        raise QueryFailed(Lookup(original.to_text(), rdtype, last_server, last_rcode,
                                 elapsed=round(time.monotonic() - started, 6),
                                 error=f"could not ask: {detail}"))

    async def _ask_one(self, server: Nameserver, name: dns.name.Name, rdtype: str) -> _Wire:
        payload = self.settings.edns_payload
        query = dns.message.make_query(
            name, rdtype, use_edns=0 if payload else False, payload=max(payload, 512)
        )
        timeout = self.settings.timeout
        async with self._semaphore:
            started = time.monotonic()
            self.queries += 1
            try:
                response = await dns.asyncquery.udp(query, server.host, timeout, server.port)
                transport = "udp"
                if response.flags & dns.flags.TC:
                    self.queries += 1
                    metrics.QUERIES.labels(rdtype=rdtype, result="truncated").inc()
                    response = await dns.asyncquery.tcp(query, server.host, timeout, server.port)
                    transport = "tcp"
            except dns.exception.Timeout:
                metrics.QUERIES.labels(rdtype=rdtype, result="timeout").inc()
                raise
            elapsed = time.monotonic() - started
        metrics.QUERY_SECONDS.observe(elapsed)
        metrics.QUERIES.labels(rdtype=rdtype, result=_result_label(response, rdtype)).inc()
        return _Wire(response, str(server), transport, elapsed)


def _absolute(qname: str | dns.name.Name) -> dns.name.Name:
    if isinstance(qname, dns.name.Name):
        return qname if qname.is_absolute() else qname.concatenate(dns.name.root)
    return dns.name.from_text(qname.strip() or ".")


def _is_referral(response: dns.message.Message) -> bool:
    """A non-authoritative empty answer pointing at other servers (NS, no SOA).

    An authoritative-only server answers so for a delegated sub-zone; a stub resolver cannot
    follow it, and reading it as NODATA would turn "could not ask" into a false finding.
    """
    if response.rcode() != dns.rcode.NOERROR or response.answer:
        return False
    if response.flags & dns.flags.AA:
        return False
    types = {rrset.rdtype for rrset in response.authority}
    return dns.rdatatype.NS in types and dns.rdatatype.SOA not in types


def _result_label(response: dns.message.Message, rdtype: str) -> str:
    rcode = response.rcode()
    if rcode == dns.rcode.NOERROR:
        wanted = dns.rdatatype.from_text(rdtype)
        has = any(r.rdtype == wanted for r in response.answer)
        return "noerror" if has else "nodata"
    return dns.rcode.to_text(rcode).lower()


def _read_answer(
    response: dns.message.Message, name: dns.name.Name, rdtype: str
) -> tuple[dns.name.Name, list[dns.name.Name], list[int], tuple[str, ...], int]:
    """Walk the answer section from ``name``: (last name, CNAME hops, their TTLs, data, TTL)."""
    wanted = dns.rdatatype.from_text(rdtype)
    current = name
    hops: list[dns.name.Name] = []
    ttls: list[int] = []
    for _ in range(MAX_CNAME_HOPS + 1):
        rrset = _find(response.answer, current, wanted)
        if rrset is not None:
            return current, hops, ttls, tuple(_rdata_text(r) for r in rrset), rrset.ttl
        cname = _find(response.answer, current, dns.rdatatype.CNAME)
        if cname is None or wanted == dns.rdatatype.CNAME:
            break
        ttls.append(cname.ttl)
        current = cname[0].target
        if current in hops or current == name:
            break
        hops.append(current)
    return current, hops, ttls, (), _negative_ttl(response)


def _find(section: Iterable[dns.rrset.RRset], name: dns.name.Name, rdtype: int
          ) -> dns.rrset.RRset | None:
    for rrset in section:
        if rrset.name == name and rrset.rdtype == rdtype and rrset.rdclass == dns.rdataclass.IN:
            return rrset
    return None


def _negative_ttl(response: dns.message.Message) -> int:
    """RFC 2308 §5: the lesser of the SOA's TTL and its MINIMUM field."""
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            return int(min(rrset.ttl, rrset[0].minimum))
    if response.rcode() in ANSWER_RCODES:
        return DEFAULT_NEGATIVE_TTL
    return 0


def _rdata_text(rdata: object) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None and getattr(rdata, "rdtype", None) in (
        dns.rdatatype.TXT, dns.rdatatype.SPF
    ):
        return b"".join(strings).decode("utf-8", "replace")
    return rdata.to_text()  # type: ignore[attr-defined]


class Evidence:
    """Asks through a resolver and keeps every Lookup, failed ones included, in order.

    The higher layers (SPF, MX, reverse DNS, …) ask through one ``Evidence`` per question they
    answer, so their result can carry exactly the lookups it rests on.  ``ask`` never raises
    for a DNS failure: it returns the failed Lookup (``ok`` false) — "could not ask" becomes
    a finding, and the report can still be written.
    """

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.lookups: list[Lookup] = []

    async def ask(self, qname: str | dns.name.Name, rdtype: str) -> Lookup:
        try:
            lookup = await self.resolver.query(qname, rdtype)
        except QueryFailed as exc:
            lookup = exc.lookup
        self.lookups.append(lookup)
        return lookup

    async def addresses(self, host: str) -> tuple[list[str], list[Lookup]]:
        """A and AAAA of ``host`` (asked together): (addresses, the two lookups)."""
        found = await asyncio.gather(self.ask(host, "A"), self.ask(host, "AAAA"))
        return [a for lookup in found for a in lookup.answers], list(found)

    def recorded(self) -> tuple[Lookup, ...]:
        return tuple(self.lookups)
