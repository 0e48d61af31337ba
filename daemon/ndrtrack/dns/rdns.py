"""Reverse DNS of a sending IP: PTR, forward confirmation (FCrDNS), organisational domain.

Receivers often reject mail from an IP without a PTR, or whose PTR name does not resolve back
to the IP (Forward-Confirmed reverse DNS, RFC 8601 §2.7.3 "iprev"; RFC 1912 §2.1).  For
tracking it also matters whether the PTR name lies in the *sender's* organisational domain: a
host in someone else's domain is a third party (an ESP, a forwarder) sending on its behalf.

The organisational domain is the registrable domain per the Public Suffix List
(``publicsuffixlist`` ships the list; nothing is downloaded at run time): for
``smtp.shop.example.co.uk`` it is ``example.co.uk``.  The same rule gives the DMARC
organisational domain (RFC 7489 §3.2).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from dataclasses import dataclass

import dns.reversename
from publicsuffixlist import PublicSuffixList

from ndrtrack.dns.resolver import Evidence, Lookup, Resolver

#: At most this many PTR names are forward-checked (RFC 8601 §2.7.3 suggests a small bound).
MAX_PTR_NAMES = 10


@functools.lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def org_domain(name: str) -> str:
    """The organisational (registrable) domain of ``name``; the name itself for a suffix."""
    name = name.strip().rstrip(".").lower()
    if not name:
        return ""
    return _psl().privatesuffix(name) or name


def in_domain(host: str, domain: str) -> bool:
    """True when ``host`` is ``domain`` or below it."""
    host, domain = host.rstrip(".").lower(), domain.rstrip(".").lower()
    return bool(domain) and (host == domain or host.endswith("." + domain))


@dataclass(frozen=True, slots=True)
class PtrName:
    """One PTR name of the IP and whether it resolves back to it."""

    name: str
    addresses: tuple[str, ...]
    confirmed: bool
    org_domain: str


@dataclass(frozen=True, slots=True)
class ReverseDns:
    """Reverse-DNS evidence for one IP."""

    ip: str
    status: str  # ptr | no-ptr (NXDOMAIN/NODATA) | error (could not ask)
    names: tuple[PtrName, ...]
    fcrdns: bool  # some PTR name resolves back to the IP
    confirmed_name: str  # the first such name
    sender_domain: str
    sender_org_domain: str
    in_sender_domain: bool  # a *confirmed* name lies in the sender's organisational domain
    summary: str
    lookups: tuple[Lookup, ...]


async def reverse_dns(resolver: Resolver, ip: str, sender_domain: str = "") -> ReverseDns:
    """PTR of ``ip``, forward-confirmed, and compared with ``sender_domain``'s org domain."""
    address = ipaddress.ip_address(ip.strip())
    evidence = Evidence(resolver)
    sender_org = org_domain(sender_domain) if sender_domain else ""
    lookup = await evidence.ask(dns.reversename.from_address(str(address)), "PTR")
    if not lookup.ok:
        return _result(address, "error", (), sender_domain, sender_org, evidence,
                       f"could not ask for the PTR of {address}: {lookup.error}")
    if not lookup.answers:
        return _result(address, "no-ptr", (), sender_domain, sender_org, evidence,
                       f"{address} has no PTR record")
    names = [a.rstrip(".").lower() for a in lookup.answers][:MAX_PTR_NAMES]
    checked = await asyncio.gather(*(_confirm(evidence, name, address) for name in names))
    return _result(address, "ptr", tuple(checked), sender_domain, sender_org, evidence, "")


async def _confirm(evidence: Evidence, name: str,
                   address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> PtrName:
    rdtype = "A" if address.version == 4 else "AAAA"
    lookup = await evidence.ask(name, rdtype)
    confirmed = any(ipaddress.ip_address(a) == address for a in lookup.answers)
    return PtrName(name, lookup.answers, confirmed, org_domain(name))


def _result(address: ipaddress.IPv4Address | ipaddress.IPv6Address, status: str,
            names: tuple[PtrName, ...], sender_domain: str, sender_org: str,
            evidence: Evidence, summary: str) -> ReverseDns:
    confirmed = [n for n in names if n.confirmed]
    inside = any(sender_org and n.org_domain == sender_org for n in confirmed)
    if status == "ptr":
        summary = _summary(address, names, confirmed, sender_org, inside)
    return ReverseDns(
        ip=str(address), status=status, names=names, fcrdns=bool(confirmed),
        confirmed_name=confirmed[0].name if confirmed else "",
        sender_domain=sender_domain, sender_org_domain=sender_org, in_sender_domain=inside,
        summary=summary, lookups=evidence.recorded())


def _summary(address: object, names: tuple[PtrName, ...], confirmed: list[PtrName],
             sender_org: str, inside: bool) -> str:
    listed = ", ".join(n.name for n in names)
    if not confirmed:
        return (f"{address} has PTR {listed}, but no name resolves back to it "
                "(not forward-confirmed)")
    text = f"{address} is {confirmed[0].name} (forward-confirmed)"
    if sender_org:
        where = "inside" if inside else "outside"
        text += f", {where} the sender's organisational domain {sender_org}"
    return text
