"""The DNS side of "was this server allowed to send for this sender?" — in one call.

The tracking process has an IP (from a ``Received:`` header or a log line), the envelope
sender and perhaps the HELO name.  :func:`check_sender` asks all the questions at once —
SPF for MAIL FROM (and for HELO when given), reverse DNS with forward confirmation and the
organisational-domain comparison, and the configured blocklists — and returns one frozen
record.  :func:`sender_findings` turns it into :class:`ndrtrack.model.Finding` records for the
report; every conclusion carries the lookups it rests on as evidence lines.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ndrtrack.dns.dmarc import DmarcPolicy
from ndrtrack.dns.dnsbl import DnsblResult, dnsbl_check
from ndrtrack.dns.mx import MxResult
from ndrtrack.dns.rdns import ReverseDns, reverse_dns
from ndrtrack.dns.resolver import Lookup, Resolver
from ndrtrack.dns.spf import SpfTree
from ndrtrack.dns.spfeval import SpfEvaluation, evaluate_spf
from ndrtrack.model import Finding

STEP = "dns"


@dataclass(frozen=True, slots=True)
class SenderCheck:
    """Everything DNS says about one (IP, sender, HELO)."""

    ip: str
    sender: str
    helo: str
    sender_domain: str
    spf: SpfEvaluation
    helo_spf: SpfEvaluation | None
    rdns: ReverseDns
    dnsbl: tuple[DnsblResult, ...]

    @property
    def lookups(self) -> tuple[Lookup, ...]:
        parts = [self.spf.lookups, self.rdns.lookups, *(d.lookups for d in self.dnsbl)]
        if self.helo_spf is not None:
            parts.append(self.helo_spf.lookups)
        return tuple(lk for part in parts for lk in part)


async def check_sender(resolver: Resolver, ip: str, sender: str, helo: str = "",
                       *, dnsbl_zones: tuple[str, ...] = ()) -> SenderCheck:
    """SPF (MAIL FROM and HELO), FCrDNS, in-domain verdict and DNSBL listings for ``ip``."""
    sender_domain = sender.rpartition("@")[2].lower() if sender else helo.lower()
    helo_check = evaluate_spf(resolver, ip, "", helo) if helo and sender else _none()
    spf, helo_spf, rdns, listed = await asyncio.gather(
        evaluate_spf(resolver, ip, sender, helo),
        helo_check,
        reverse_dns(resolver, ip, sender_domain),
        dnsbl_check(resolver, ip, dnsbl_zones),
    )
    return SenderCheck(ip, sender, helo, sender_domain, spf, helo_spf, rdns, listed)


async def _none() -> None:
    return None


def sender_findings(check: SenderCheck) -> tuple[Finding, ...]:
    """The check as report findings (outcome names are stable: tests and templates use them)."""
    findings = [_spf_finding(check.spf, "mail from")]
    if check.helo_spf is not None:
        findings.append(_spf_finding(check.helo_spf, "helo"))
    rdns = check.rdns
    outcome = ("error" if rdns.status == "error" else "no-ptr" if rdns.status == "no-ptr"
               else "fcrdns" if rdns.fcrdns else "not-confirmed")
    findings.append(Finding(STEP, f"rdns:{outcome}", rdns.summary,
                            tuple(lk.describe() for lk in rdns.lookups)))
    for listing in check.dnsbl:
        summary = {"listed": f"{check.ip} is listed in {listing.zone}: {listing.reason}",
                   "clear": f"{check.ip} is not listed in {listing.zone}",
                   "refused": f"{listing.zone} refused to answer: {listing.reason}",
                   "error": f"could not ask {listing.zone}: {listing.reason}"}[listing.status]
        findings.append(Finding(STEP, f"dnsbl:{listing.status}", summary,
                                tuple(lk.describe() for lk in listing.lookups)))
    return tuple(findings)


def _spf_finding(evaluation: SpfEvaluation, identity: str) -> Finding:
    who = evaluation.sender or f"HELO {evaluation.helo}"
    summary = f"SPF {evaluation.result} for {evaluation.ip} sending as {who} ({identity})"
    if evaluation.mechanism:
        summary += f", matched {evaluation.mechanism}"
    if evaluation.explanation:
        summary += f": {evaluation.explanation}"
    return Finding(STEP, f"spf:{evaluation.result}", summary,
                   tuple(lk.describe() for lk in evaluation.lookups))


def _evidence(lookups: tuple[Lookup, ...]) -> tuple[str, ...]:
    return tuple(lk.describe() for lk in lookups)


def spf_tree_finding(tree: SpfTree) -> Finding:
    """``spf-tree:<verdict>``: who may send for the domain, and the RFC limits it breaks."""
    hosts = [a.value for a in tree.allowed if a.kind == "host" and a.qualifier == "+"]
    summary = (f"SPF of {tree.domain}: {tree.verdict}; {len(tree.networks)} networks"
               f"{', hosts ' + ', '.join(dict.fromkeys(hosts)) if hosts else ''}; "
               f"{tree.dns_terms} DNS-querying terms, {tree.void_lookups} void lookups")
    if tree.problems:
        summary += "; " + "; ".join(tree.problems)
    return Finding(STEP, f"spf-tree:{tree.verdict}", summary, _evidence(tree.lookups))


def mx_finding(result: MxResult) -> Finding:
    """``mx:<status>``: where mail for the domain goes (and whether it can go there)."""
    hosts = ", ".join(f"{h.preference} {h.host}" for h in result.hosts) or "no hosts"
    summary = f"MX of {result.domain}: {result.status} ({hosts})"
    if result.problems:
        summary += "; " + "; ".join(result.problems)
    return Finding(STEP, f"mx:{result.status}", summary, _evidence(result.lookups))


def dmarc_finding(policy: DmarcPolicy) -> Finding:
    """``dmarc:<policy or status>``: the policy receivers apply to mail From this domain."""
    if policy.status == "found":
        summary = (f"DMARC for {policy.domain}: p={policy.policy} (published at "
                   f"_dmarc.{policy.record_domain}, pct={policy.pct})")
        outcome = f"dmarc:{policy.policy}"
    else:
        summary = "; ".join(policy.problems) or f"DMARC for {policy.domain}: {policy.status}"
        outcome = f"dmarc:{policy.status}"
    return Finding(STEP, outcome, summary, _evidence(policy.lookups))
