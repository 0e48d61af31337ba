"""DNS evidence for the tracking process: SPF, MX, reverse DNS, DMARC/DKIM, blocklists.

The high-level API (all ``async``, all taking one shared :class:`Resolver`; each result is a
frozen record that carries the :class:`Lookup` records it rests on and renders to JSON with
``ndrtrack.model.to_jsonable``):

- ``spf_tree(resolver, domain)`` → :class:`SpfTree` — who may send, with paths and limits
- ``evaluate_spf(resolver, ip, sender, helo)`` → :class:`SpfEvaluation` — pyspf's result
- ``mx_hosts(resolver, domain)`` → :class:`MxResult`
- ``reverse_dns(resolver, ip, sender_domain)`` → :class:`ReverseDns`
- ``dmarc_policy(resolver, domain)``, ``dkim_selector(resolver, domain, selector)``
- ``dnsbl_check(resolver, ip, zones)``
- ``check_sender(resolver, ip, sender, helo, dnsbl_zones=...)`` → :class:`SenderCheck`,
  and ``sender_findings(check)`` → ``Finding`` records for the report
  (``spf_tree_finding``, ``mx_finding``, ``dmarc_finding`` do the same for the others).

A DNS failure never raises out of these: it is a failed ``Lookup`` inside the result.
"""

from ndrtrack.dns.check import (
    SenderCheck,
    check_sender,
    dmarc_finding,
    mx_finding,
    sender_findings,
    spf_tree_finding,
)
from ndrtrack.dns.dmarc import DkimKey, DmarcPolicy, dkim_selector, dmarc_policy
from ndrtrack.dns.dnsbl import DnsblResult, dnsbl_check
from ndrtrack.dns.mx import MxResult, mx_hosts
from ndrtrack.dns.rdns import ReverseDns, org_domain, reverse_dns
from ndrtrack.dns.resolver import Lookup, QueryFailed, Resolver, ResolverSettings
from ndrtrack.dns.spf import SpfTree, spf_tree
from ndrtrack.dns.spfeval import SpfEvaluation, evaluate_spf

__all__ = [
    "DkimKey", "DmarcPolicy", "DnsblResult", "Lookup", "MxResult", "QueryFailed", "Resolver",
    "ResolverSettings", "ReverseDns", "SenderCheck", "SpfEvaluation", "SpfTree",
    "check_sender", "dkim_selector", "dmarc_policy", "dnsbl_check", "evaluate_spf",
    "dmarc_finding", "mx_finding", "mx_hosts", "org_domain", "reverse_dns", "sender_findings",
    "spf_tree", "spf_tree_finding",
]
