"""MX: which hosts receive mail for a domain (RFC 5321 §5.1, RFC 7505), with their addresses.

For tracking, a domain's MX hosts are both where mail to it goes and — for small domains —
a guess at where its outgoing mail leaves from.  The rules a sending MTA applies:

- MX records sorted by preference (lowest first); each host's A/AAAA addresses.
- No MX at all (but the name exists): the *implicit MX* — the domain's own A/AAAA.
- A single ``MX 0 .`` is a *null MX* (RFC 7505): the domain accepts no mail.  A null MX
  beside other MX records is a misconfiguration.
- An MX target must be a host name with addresses: one that is a CNAME (RFC 2181 §10.3,
  RFC 5321 §5.1) or that looks like an IP literal is flagged — many MTAs refuse them.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass

from ndrtrack.dns.resolver import Evidence, Lookup, Resolver


@dataclass(frozen=True, slots=True)
class MxHost:
    """One mail exchanger."""

    preference: int
    host: str
    addresses: tuple[str, ...]
    problems: tuple[str, ...] = ()  # cname, ip-literal, no address, could not ask
    canonical: str = ""  # where a CNAME led


@dataclass(frozen=True, slots=True)
class MxResult:
    """The mail exchangers of a domain."""

    domain: str
    status: str  # mx | implicit | null | nxdomain | none (no MX and no address) | error
    hosts: tuple[MxHost, ...]
    problems: tuple[str, ...]
    lookups: tuple[Lookup, ...]

    @property
    def accepts_mail(self) -> bool:
        return self.status in ("mx", "implicit") and any(h.addresses for h in self.hosts)


async def mx_hosts(resolver: Resolver, domain: str) -> MxResult:
    """The MX hosts of ``domain`` by preference, with their addresses and flagged problems."""
    domain = domain.strip().rstrip(".").lower()
    evidence = Evidence(resolver)
    lookup = await evidence.ask(domain, "MX")
    if not lookup.ok:
        return MxResult(domain, "error", (), (f"could not ask for MX: {lookup.error}",),
                        evidence.recorded())
    if lookup.rcode == "NXDOMAIN":
        return MxResult(domain, "nxdomain", (), (f"{domain} does not exist",),
                        evidence.recorded())
    records = sorted(_parse_mx(answer) for answer in lookup.answers)
    if not records:
        return await _implicit(evidence, domain)
    problems: list[str] = []
    if any(host == "" for _, host in records):
        if len(records) == 1 and records[0][0] == 0:
            return MxResult(domain, "null", (), (), evidence.recorded())
        problems.append("null MX ('MX 0 .') beside other MX records (RFC 7505 §3)")
        records = [r for r in records if r[1]]
    hosts = await asyncio.gather(*(_host(evidence, pref, host) for pref, host in records))
    for host in hosts:
        problems.extend(f"{host.host}: {p}" for p in host.problems)
    return MxResult(domain, "mx", tuple(hosts), tuple(problems), evidence.recorded())


def _parse_mx(answer: str) -> tuple[int, str]:
    preference, _, exchange = answer.partition(" ")
    return int(preference), exchange.strip().rstrip(".").lower()


async def _implicit(evidence: Evidence, domain: str) -> MxResult:
    """RFC 5321 §5.1: no MX → the domain itself is the host (its A/AAAA)."""
    addresses, lookups = await evidence.addresses(domain)
    failed = [lk for lk in lookups if not lk.ok]
    if failed:
        return MxResult(domain, "error", (), (f"could not ask: {failed[0].error}",),
                        evidence.recorded())
    if not addresses:
        return MxResult(domain, "none", (),
                        (f"{domain} has neither MX nor address records: no mail can be "
                         "delivered to it",), evidence.recorded())
    host = MxHost(0, domain, tuple(addresses))
    return MxResult(domain, "implicit", (host,),
                    ("no MX records: mail goes to the domain's own address (implicit MX)",),
                    evidence.recorded())


async def _host(evidence: Evidence, preference: int, host: str) -> MxHost:
    if _is_ip_literal(host):
        return MxHost(preference, host, (), ("MX target is an IP address, not a host name "
                                             "(RFC 5321 §5.1): MTAs look it up as a name",))
    problems: list[str] = []
    addresses, lookups = await evidence.addresses(host)
    canonical = ""
    chains = [lk.cname_chain for lk in lookups if lk.cname_chain]
    if chains:
        canonical = chains[0][-1].rstrip(".")
        problems.append(f"MX target is an alias (CNAME → {canonical}); RFC 2181 §10.3 "
                        "forbids it")
    failed = [lk for lk in lookups if not lk.ok]
    if failed:
        problems.append(f"could not ask: {failed[0].error}")
    elif not addresses:
        problems.append("MX target has no address (A/AAAA)")
    return MxHost(preference, host, tuple(addresses), tuple(problems), canonical)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
