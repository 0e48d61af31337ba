"""A zone-backed fake for the resolver's unit tests: answers from zone text, no network.

Only the wire is faked (``Resolver._ask_one``); everything above it — CNAME chasing, negative
TTLs, the cache, the evidence records — runs as in production.  The integration tests use a
real NSD instead.
"""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone

from ndrtrack.dns.resolver import Nameserver, Resolver, ResolverSettings, _Wire


class ZoneResolver(Resolver):
    """A Resolver whose "server" answers authoritatively from in-memory zones."""

    def __init__(self, zones: dict[str, str], settings: ResolverSettings | None = None,
                 *, failing: frozenset[str] = frozenset()) -> None:
        super().__init__(settings or ResolverSettings(nameservers=("192.0.2.53",)))
        self.zones = [dns.zone.from_text(text, origin=origin, relativize=False)
                      for origin, text in zones.items()]
        self.failing = failing  # names answered with SERVFAIL
        self.asked: list[tuple[str, str]] = []

    async def _ask_one(self, server: Nameserver, name: dns.name.Name, rdtype: str) -> _Wire:
        self.queries += 1
        self.asked.append((name.to_text(), rdtype))
        return _Wire(self.respond(name, rdtype), str(server), "udp", 0.0)

    def respond(self, name: dns.name.Name, rdtype: str) -> dns.message.Message:
        response = dns.message.make_response(dns.message.make_query(name, rdtype))
        if name.to_text() in self.failing:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        zone = next((z for z in self.zones if name.is_subdomain(z.origin)), None)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        wanted = dns.rdatatype.from_text(rdtype)
        for _ in range(10):
            node = zone.get_node(name)
            if node is None:
                if not response.answer:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                return self._with_soa(response, zone)
            data = node.get_rdataset(dns.rdataclass.IN, wanted)
            if data is not None:
                response.answer.append(_rrset(name, data))
                return response
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None:
                return self._with_soa(response, zone)
            response.answer.append(_rrset(name, cname))
            name = cname[0].target
            if not name.is_subdomain(zone.origin):
                return response  # an authoritative server stops at its zone's edge
        return response

    @staticmethod
    def _with_soa(response: dns.message.Message, zone: dns.zone.Zone) -> dns.message.Message:
        soa = zone.get_rdataset(zone.origin, dns.rdatatype.SOA)
        response.authority.append(_rrset(zone.origin, soa))
        return response


def _rrset(name: dns.name.Name, rdataset: object) -> dns.rrset.RRset:
    import dns.rrset

    rrset = dns.rrset.RRset(name, dns.rdataclass.IN, rdataset.rdtype)  # type: ignore[attr-defined]
    rrset.update(rdataset)  # type: ignore[arg-type]
    return rrset
