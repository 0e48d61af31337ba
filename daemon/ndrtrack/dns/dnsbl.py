"""DNS blocklists (RFC 5782): is a sending IP listed, and why.

A list publishes ``<reversed address>.<zone>`` — octets reversed for IPv4
(``2.0.0.127.bl.example``), nibbles reversed for IPv6 — with an A record in 127.0.0.0/8 when
the address is listed (the last octet often encodes the reason) and a TXT record with a
human-readable reason.  NXDOMAIN means "not listed".  An A answer outside 127.0.0.0/8 is not a
listing; some lists answer 127.255.255.x to say they refuse the query (e.g. through a public
resolver) — reported as "refused", never as a listing.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass

import dns.reversename

from ndrtrack.dns.resolver import Evidence, Lookup, Resolver

_LISTING = ipaddress.ip_network("127.0.0.0/8")
_REFUSAL = ipaddress.ip_network("127.255.255.0/24")


@dataclass(frozen=True, slots=True)
class DnsblResult:
    """One zone's answer for one IP."""

    zone: str
    ip: str
    status: str  # listed | clear | refused (the list declined the query) | error
    codes: tuple[str, ...]  # the 127.0.0.x answers
    reason: str  # the TXT text
    lookups: tuple[Lookup, ...]


def query_name(ip: str, zone: str) -> str:
    """``192.0.2.66`` in ``bl.example`` → ``66.2.0.192.bl.example``."""
    reverse = dns.reversename.from_address(str(ipaddress.ip_address(ip)))
    labels = reverse.labels[:-3]  # without "in-addr.arpa." / "ip6.arpa." (2 labels + root)
    return ".".join(label.decode() for label in labels) + "." + zone.strip(".")


async def dnsbl_lookup(resolver: Resolver, ip: str, zone: str) -> DnsblResult:
    """Ask one list about ``ip``."""
    evidence = Evidence(resolver)
    name = query_name(ip, zone)
    lookup = await evidence.ask(name, "A")
    if not lookup.ok:
        return DnsblResult(zone, ip, "error", (), lookup.error, evidence.recorded())
    codes = tuple(a for a in lookup.answers if ipaddress.ip_address(a) in _LISTING)
    if not codes:
        return DnsblResult(zone, ip, "clear", (), "", evidence.recorded())
    if all(ipaddress.ip_address(c) in _REFUSAL for c in codes):
        return DnsblResult(zone, ip, "refused", codes, "the list refused to answer this "
                           "resolver (answers are not listings)", evidence.recorded())
    txt = await evidence.ask(name, "TXT")
    reason = " / ".join(txt.answers) if txt.ok else ""
    return DnsblResult(zone, ip, "listed", codes, reason, evidence.recorded())


async def dnsbl_check(resolver: Resolver, ip: str, zones: tuple[str, ...]
                      ) -> tuple[DnsblResult, ...]:
    """Ask every configured list at once."""
    return tuple(await asyncio.gather(*(dnsbl_lookup(resolver, ip, z) for z in zones)))
