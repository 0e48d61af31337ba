"""SPF: who may send for a domain (the whole tree), and what a receiver concludes for one IP.

When the logs show nothing for a sender, its SPF record is the best list of servers that could
have sent the message — often a third-party service far from the sender's own domain.
:func:`spf_tree` fetches the record and expands *everything* (``include``, ``redirect``, ``a``,
``mx``, ``ptr``, ``exists``, ``ip4``, ``ip6``, macros where the values are known) into
:class:`Allowed` entries, each with the path that led to it::

    sender.test → include:_spf.mailer.test → ip4:198.51.100.0/24

A receiver stops at the first match and at RFC 7208's limits (10 DNS-querying terms, 2 void
lookups, loops → permerror).  For tracking we keep expanding past those limits, and *report*
them: a record over the limit is itself a common cause of rejections.

:func:`evaluate_spf` asks pyspf (the reference-quality evaluator) for the result of a given
(IP, MAIL FROM, HELO).  pyspf is synchronous and does its own DNS; it runs in a worker thread
and its lookups are routed back into *our* resolver on the event loop (see ``_bridge``), so
it uses the configured servers, shares the cache, and its lookups become evidence too.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from ndrtrack.dns.resolver import Evidence, Lookup, Resolver
from ndrtrack.dns.spfeval import SpfEvaluation, evaluate_spf
from ndrtrack.dns.spfrecord import MacroContext, SpfRecord, Term, expand, is_spf, parse_record

__all__ = ["Allowed", "SpfEvaluation", "SpfNode", "SpfTerm", "SpfTree", "evaluate_spf",
           "fetch_record", "spf_tree"]

MAX_DNS_TERMS = 10  # RFC 7208 §4.6.4
MAX_VOID_LOOKUPS = 2  # RFC 7208 §4.6.4
MAX_MX_NAMES = 10  # RFC 7208 §4.6.4
MAX_NODES = 300  # our own bound on the work one tree may cause


@dataclass(frozen=True, slots=True)
class Allowed:
    """One way of being allowed to send: a network, a host, or a domain (ptr/exists)."""

    kind: str  # network | host | ptr-domain | exists | template (macro not expandable)
    value: str
    qualifier: str  # + pass, ~ softfail, ? neutral, - fail (a "-ip4:" excludes)
    path: tuple[str, ...]

    @property
    def route(self) -> str:
        return " → ".join(self.path)


@dataclass(frozen=True, slots=True)
class SpfTerm:
    """A term of a record with what expanding it found."""

    text: str
    name: str
    qualifier: str
    target: str = ""  # the domain asked (macros expanded), or the network
    asks_dns: bool = False
    void: bool = False  # the DNS questions found nothing (RFC 7208's void lookup)
    child: SpfNode | None = None  # include/redirect
    note: str = ""


@dataclass(frozen=True, slots=True)
class SpfNode:
    """The record of one domain in the tree."""

    domain: str
    via: str  # "" for the root, else the term that led here ("include:x", "redirect=x")
    status: str  # ok | none | multiple | syntax | error (could not ask) | loop | skipped
    record: str = ""
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    terms: tuple[SpfTerm, ...] = ()


@dataclass(frozen=True, slots=True)
class SpfTree:
    """A domain's expanded SPF policy: the tree, the flat list, the limits and the evidence."""

    domain: str
    root: SpfNode
    allowed: tuple[Allowed, ...]
    dns_terms: int
    void_lookups: int
    verdict: str  # none | ok | permerror | temperror — what a receiver would meet
    problems: tuple[str, ...]
    lookups: tuple[Lookup, ...]

    @property
    def networks(self) -> tuple[str, ...]:
        """Distinct networks allowed to pass (qualifier +), in tree order."""
        seen = dict.fromkeys(a.value for a in self.allowed
                             if a.kind == "network" and a.qualifier == "+")
        return tuple(seen)

    def paths_to(self, ip: str) -> tuple[Allowed, ...]:
        """The entries whose network contains ``ip``: how the tree lets it send."""
        address = ipaddress.ip_address(ip)
        return tuple(a for a in self.allowed if a.kind == "network"
                     and address in ipaddress.ip_network(a.value, strict=False))


async def fetch_record(evidence: Evidence, domain: str) -> tuple[str, str | SpfRecord, str]:
    """(status, record, problem): status ok/none/multiple/error; record parsed when ok."""
    lookup = await evidence.ask(domain, "TXT")
    if not lookup.ok:
        return "error", "", f"{domain}: could not fetch the SPF record: {lookup.error}"
    records = [text for text in lookup.answers if is_spf(text)]
    if not records:
        why = "domain does not exist" if lookup.rcode == "NXDOMAIN" else "no SPF record"
        return "none", "", f"{domain}: {why}"
    if len(records) > 1:
        return "multiple", " | ".join(records), (
            f"{domain}: {len(records)} SPF records (RFC 7208 §4.5: permerror)")
    return "ok", parse_record(records[0]), ""


async def spf_tree(resolver: Resolver, domain: str, *, ip: str = "", sender: str = "",
                   helo: str = "") -> SpfTree:
    """Expand ``domain``'s SPF policy; ``ip``/``sender``/``helo`` let more macros expand."""
    domain = domain.strip().rstrip(".").lower()
    expander = _Expander(Evidence(resolver), ip=ip, sender=sender, helo=helo)
    root = await expander.node(domain, "", (domain,), frozenset())
    return _summarise(domain, root, expander)


class _Expander:
    """Walks a tree of records; each term kind has one handler (a registry, not an if-chain)."""

    def __init__(self, evidence: Evidence, *, ip: str, sender: str, helo: str) -> None:
        self.evidence = evidence
        self.ip, self.sender, self.helo = ip, sender, helo
        self.nodes = 0
        self.allowed: list[tuple[tuple[int, ...], Allowed]] = []

    def context(self, domain: str) -> MacroContext:
        return MacroContext(domain=domain, sender=self.sender, ip=self.ip, helo=self.helo)

    async def node(self, domain: str, via: str, path: tuple[str, ...],
                   ancestors: frozenset[str], order: tuple[int, ...] = ()) -> SpfNode:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            return SpfNode(domain, via, "skipped",
                           problems=(f"{domain}: not expanded, tree larger than {MAX_NODES}",))
        status, record, problem = await fetch_record(self.evidence, domain)
        if not isinstance(record, SpfRecord):
            return SpfNode(domain, via, status, record, (problem,) if problem else ())
        ancestors = ancestors | {domain}
        terms = await asyncio.gather(*(
            self.term(domain, term, path, ancestors, (*order, i))
            for i, term in enumerate(_effective_terms(record))
        ))
        status = "syntax" if record.problems else "ok"
        problems = tuple(f"{domain}: {p}" for p in record.problems)
        return SpfNode(domain, via, status, record.text, problems, record.notes, tuple(terms))

    async def term(self, domain: str, term: Term, path: tuple[str, ...],
                   ancestors: frozenset[str], order: tuple[int, ...]) -> SpfTerm:
        handler = _HANDLERS.get(term.name)
        if handler is None:  # all, exp=, unknown modifiers: nothing to expand
            return SpfTerm(term.text, term.name, term.qualifier)
        return await handler(self, domain, term, path, ancestors, order)

    def allow(self, order: tuple[int, ...], kind: str, value: str, qualifier: str,
              path: tuple[str, ...]) -> None:
        self.allowed.append((order, Allowed(kind, value, qualifier, path)))

    def target(self, domain: str, term: Term) -> str | None:
        spec = term.value or domain
        expanded = expand(spec, self.context(domain))
        return expanded.lower() if expanded is not None else None


def _effective_terms(record: SpfRecord) -> tuple[Term, ...]:
    """Mechanisms, then redirect= (ignored when there is an ``all``, RFC 7208 §6.1)."""
    terms = record.mechanisms
    redirect = record.modifier("redirect")
    if redirect is not None and not any(t.name == "all" for t in terms):
        terms = (*terms, redirect)
    return terms


async def _networks(expander: _Expander, term: Term, path: tuple[str, ...],
                    order: tuple[int, ...]) -> SpfTerm:
    expander.allow(order, "network", term.value, term.qualifier, (*path, term.text))
    return SpfTerm(term.text, term.name, term.qualifier, term.value)


async def _ip(expander: _Expander, domain: str, term: Term, path: tuple[str, ...],
              ancestors: frozenset[str], order: tuple[int, ...]) -> SpfTerm:
    return await _networks(expander, term, path, order)


def _template(expander: _Expander, term: Term, step: tuple[str, ...],
              order: tuple[int, ...], note: str) -> SpfTerm:
    """A term whose macros need the message's values: kept as a template, not expanded."""
    expander.allow(order, "template", term.value, term.qualifier, step)
    return SpfTerm(term.text, term.name, term.qualifier, term.value, True, note=note)


async def _a(expander: _Expander, domain: str, term: Term, path: tuple[str, ...],
             ancestors: frozenset[str], order: tuple[int, ...]) -> SpfTerm:
    host = expander.target(domain, term)
    step = (*path, term.text)
    if host is None:
        return _template(expander, term, step, order, "macro needs the message's values")
    expander.allow(order, "host", host, term.qualifier, step)
    addresses, lookups = await expander.evidence.addresses(host)
    for address in addresses:
        expander.allow(order, "network", _with_prefix(address, term), term.qualifier, step)
    return SpfTerm(term.text, term.name, term.qualifier, host, True, void=not addresses,
                   note=_failure_note(lookups))


async def _mx(expander: _Expander, domain: str, term: Term, path: tuple[str, ...],
              ancestors: frozenset[str], order: tuple[int, ...]) -> SpfTerm:
    target = expander.target(domain, term)
    step = (*path, term.text)
    if target is None:
        return _template(expander, term, step, order, "macro needs the message's values")
    lookup = await expander.evidence.ask(target, "MX")
    hosts = [answer.split()[-1].rstrip(".").lower() for answer in lookup.answers]
    hosts = [h for h in hosts if h]  # a null MX names "." — no host
    note = _failure_note([lookup])
    if len(hosts) > MAX_MX_NAMES:
        note = f"{len(hosts)} MX names: more than {MAX_MX_NAMES} is a permerror"
    results = await asyncio.gather(*(expander.evidence.addresses(h) for h in hosts))
    for host, (addresses, _lookups) in zip(hosts, results, strict=True):
        expander.allow(order, "host", host, term.qualifier, (*step, f"MX {host}"))
        for address in addresses:
            expander.allow(order, "network", _with_prefix(address, term), term.qualifier,
                           (*step, f"MX {host}"))
    return SpfTerm(term.text, term.name, term.qualifier, target, True, void=not hosts,
                   note=note)


async def _ptr(expander: _Expander, domain: str, term: Term, path: tuple[str, ...],
               ancestors: frozenset[str], order: tuple[int, ...]) -> SpfTerm:
    target = expander.target(domain, term)
    expander.allow(order, "ptr-domain" if target else "template", target or term.value,
                   term.qualifier, (*path, term.text))
    return SpfTerm(term.text, term.name, term.qualifier, target or term.value, True,
                   note="any host whose forward-confirmed PTR name is in this domain")


async def _exists(expander: _Expander, domain: str, term: Term, path: tuple[str, ...],
                  ancestors: frozenset[str], order: tuple[int, ...]) -> SpfTerm:
    target = expander.target(domain, term)
    step = (*path, term.text)
    if target is None:
        return _template(expander, term, step, order,
                         "matches when the expanded name has an A record")
    lookup = await expander.evidence.ask(target, "A")
    if lookup.answers:
        expander.allow(order, "exists", target, term.qualifier, step)
    return SpfTerm(term.text, term.name, term.qualifier, target, True,
                   void=lookup.empty, note=_failure_note([lookup]))


async def _include(expander: _Expander, domain: str, term: Term, path: tuple[str, ...],
                   ancestors: frozenset[str], order: tuple[int, ...]) -> SpfTerm:
    target = expander.target(domain, term)
    step = (*path, term.text)
    if target is None:
        return _template(expander, term, step, order, "macro needs the message's values")
    if target in ancestors:
        child = SpfNode(target, term.text, "loop",
                        problems=(f"{' → '.join(step)}: loop back to {target} (permerror)",))
        return SpfTerm(term.text, term.name, term.qualifier, target, True, child=child)
    child = await expander.node(target, term.text, step, ancestors, order)
    void = child.status == "none"
    return SpfTerm(term.text, term.name, term.qualifier, target, True, void=void, child=child)


def _with_prefix(address: str, term: Term) -> str:
    ip = ipaddress.ip_address(address)
    prefix = term.cidr4 if ip.version == 4 else term.cidr6
    if prefix is None:
        prefix = ip.max_prefixlen
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _failure_note(lookups: list[Lookup]) -> str:
    failed = [lk for lk in lookups if not lk.ok]
    return f"could not ask: {failed[0].error}" if failed else ""


_HANDLERS = {
    "ip4": _ip,
    "ip6": _ip,
    "a": _a,
    "mx": _mx,
    "ptr": _ptr,
    "exists": _exists,
    "include": _include,
    "redirect": _include,
}


# --------------------------------------------------------------------------- summary


def _walk(node: SpfNode, path: tuple[str, ...]
          ) -> Iterator[tuple[tuple[str, ...], SpfNode, SpfTerm]]:
    """Depth-first, in evaluation order: (node path, term) for every term of the tree."""
    for term in node.terms:
        yield path, node, term
        if term.child is not None:
            yield from _walk(term.child, (*path, term.text))


def _summarise(domain: str, root: SpfNode, expander: _Expander) -> SpfTree:
    problems: list[str] = list(root.problems)
    dns_terms = voids = 0
    temperror = root.status == "error"
    permerror = root.status in ("multiple", "syntax")
    for path, _node, term in _walk(root, (domain,)):
        child = term.child
        if term.asks_dns:
            dns_terms += 1
            if dns_terms == MAX_DNS_TERMS + 1:
                problems.append(f"{' → '.join((*path, term.text))}: DNS-querying term number "
                                f"{dns_terms}, over RFC 7208's limit of {MAX_DNS_TERMS} "
                                "(permerror)")
        voids += term.void
        if term.note.startswith("could not ask"):
            temperror = True
            problems.append(f"{' → '.join((*path, term.text))}: {term.note}")
        elif "permerror" in term.note:
            permerror = True
            problems.append(f"{' → '.join((*path, term.text))}: {term.note}")
        if child is not None:
            problems.extend(child.problems)
            temperror |= child.status == "error"
            permerror |= child.status in ("multiple", "syntax", "loop", "none")
            if child.status == "none":
                problems.append(f"{' → '.join((*path, term.text))}: the included domain has "
                                "no SPF record (permerror)")
    if voids > MAX_VOID_LOOKUPS:
        problems.append(f"{voids} void lookups, over RFC 7208's limit of {MAX_VOID_LOOKUPS} "
                        "(permerror)")
    permerror |= dns_terms > MAX_DNS_TERMS or voids > MAX_VOID_LOOKUPS
    verdict = ("none" if root.status == "none" else "permerror" if permerror
               else "temperror" if temperror else "ok")
    allowed = tuple(a for _order, a in sorted(expander.allowed, key=lambda item: item[0]))
    return SpfTree(domain, root, allowed, dns_terms, voids, verdict,
                   tuple(dict.fromkeys(problems)), expander.evidence.recorded())
