"""MX, reverse DNS, DMARC/DKIM, DNSBL and check_sender against the test zones on a real NSD."""

from __future__ import annotations

import pytest
from dns_server import nsd_fixture, run  # noqa: F401

from dnslab import NsdServer
from ndrtrack.dns.check import (
    check_sender,
    dmarc_finding,
    mx_finding,
    sender_findings,
    spf_tree_finding,
)
from ndrtrack.dns.dmarc import dkim_selector, dmarc_policy
from ndrtrack.dns.dnsbl import dnsbl_check, dnsbl_lookup
from ndrtrack.dns.mx import mx_hosts
from ndrtrack.dns.rdns import reverse_dns
from ndrtrack.dns.resolver import Resolver
from ndrtrack.dns.spf import spf_tree
from ndrtrack.model import Finding, to_jsonable

pytestmark = pytest.mark.integration

# domain → (status, [(preference, host, addresses)], words in the problems)
MX_CASES = {
    "sender.test": ("mx", [(10, "mx1.sender.test", ("192.0.2.10", "2001:db8::10")),
                           (20, "mx2.sender.test", ("192.0.2.11",))], ("CNAME",)),
    "implicit.sender.test": ("implicit", [(0, "implicit.sender.test",
                                           ("192.0.2.30", "2001:db8::30"))], ("implicit",)),
    "nullmx.sender.test": ("null", [], ()),
    "badnull.sender.test": ("mx", [(10, "mx1.sender.test", ("192.0.2.10", "2001:db8::10"))],
                            ("RFC 7505",)),
    "iplit.sender.test": ("mx", [(10, "192.0.2.99", ())], ("IP address",)),
    "noaddr.sender.test": ("mx", [(10, "nowhere.sender.test", ())], ("no address",)),
    "nx.sender.test": ("nxdomain", [], ("does not exist",)),
    "nospf.sender.test": ("none", [], ("neither MX nor address",)),
    "x.unloaded.test": ("error", [], ("SERVFAIL",)),
}


@pytest.mark.parametrize("domain", sorted(MX_CASES))
def test_mx(nsd: NsdServer, domain: str) -> None:
    status, hosts, words = MX_CASES[domain]
    result = run(nsd, lambda r: mx_hosts(r, domain), retries=0)
    assert result.status == status
    assert [(h.preference, h.host, h.addresses) for h in result.hosts] == hosts
    text = " ".join(result.problems)
    assert all(word in text for word in words), text
    assert not words or result.problems
    assert result.accepts_mail == bool(hosts and any(h[2] for h in hosts))


def test_mx_cname_names_the_canonical_host(nsd: NsdServer) -> None:
    result = run(nsd, lambda r: mx_hosts(r, "sender.test"))
    assert result.hosts[1].canonical == "mx2-real.sender.test"
    assert result.hosts[0].problems == ()


# ip, sender domain → (status, fcrdns, confirmed name, in sender's org domain)
RDNS_CASES = [
    ("192.0.2.10", "sender.test", ("ptr", True, "mx1.sender.test", True)),
    ("192.0.2.10", "news.sender.test", ("ptr", True, "mx1.sender.test", True)),
    ("2001:db8::10", "sender.test", ("ptr", True, "mx1.sender.test", True)),
    ("198.51.100.25", "sender.test", ("ptr", True, "out1.mailer.test", False)),
    ("192.0.2.50", "sender.test", ("ptr", False, "", False)),  # PTR name has no address
    ("192.0.2.51", "sender.test", ("ptr", False, "", False)),  # PTR name is another host's
    ("192.0.2.60", "sender.test", ("no-ptr", False, "", False)),
    ("192.0.2.70", "shop.example.co.uk", ("ptr", True, "smtp.shop.example.co.uk", True)),
    ("192.0.2.80", "sender.test", ("ptr", True, "relay.sender.test", True)),  # 2 names, 1 good
    ("192.0.2.70", "co.uk", ("ptr", True, "smtp.shop.example.co.uk", False)),
]


@pytest.mark.parametrize(("ip", "domain", "expected"), RDNS_CASES)
def test_reverse_dns(nsd: NsdServer, ip: str, domain: str,
                     expected: tuple[str, bool, str, bool]) -> None:
    result = run(nsd, lambda r: reverse_dns(r, ip, domain))
    assert (result.status, result.fcrdns, result.confirmed_name,
            result.in_sender_domain) == expected
    assert result.summary and result.lookups[0].rdtype == "PTR"


def test_reverse_dns_org_domain_uses_the_public_suffix_list(nsd: NsdServer) -> None:
    result = run(nsd, lambda r: reverse_dns(r, "192.0.2.70", "mail.shop.example.co.uk"))
    assert result.sender_org_domain == "example.co.uk"
    assert result.names[0].org_domain == "example.co.uk"


def test_reverse_dns_when_the_reverse_zone_cannot_be_asked(nsd: NsdServer) -> None:
    result = run(nsd, lambda r: reverse_dns(r, "203.0.113.9", "sender.test"), retries=0)
    assert result.status == "error" and "REFUSED" in result.summary


# domain → (status, record found at, policy that applies)
DMARC_CASES = {
    "sender.test": ("found", "sender.test", "reject"),
    "news.sender.test": ("found", "sender.test", "quarantine"),  # org fallback uses sp=
    "shop.example.co.uk": ("found", "example.co.uk", "none"),
    "mailer.test": ("none", "", ""),
    "x.unloaded.test": ("error", "", ""),
}


@pytest.mark.parametrize("domain", sorted(DMARC_CASES))
def test_dmarc_with_org_domain_fallback(nsd: NsdServer, domain: str) -> None:
    result = run(nsd, lambda r: dmarc_policy(r, domain), retries=0)
    assert (result.status, result.record_domain, result.policy) == DMARC_CASES[domain]
    if result.status == "found":
        assert result.record.startswith("v=DMARC1")


def test_dmarc_tags(nsd: NsdServer) -> None:
    result = run(nsd, lambda r: dmarc_policy(r, "sender.test"))
    assert (result.adkim, result.aspf, result.pct) == ("s", "r", 100)
    assert result.rua == ("mailto:dmarc@sender.test",)
    assert result.subdomain_policy == "quarantine"


@pytest.mark.parametrize(("selector", "status"), [
    ("sel1", "key"), ("revoked", "revoked"), ("missing", "missing")])
def test_dkim_selector(nsd: NsdServer, selector: str, status: str) -> None:
    result = run(nsd, lambda r: dkim_selector(r, "sender.test", selector))
    assert result.status == status
    assert result.key_type == ("rsa" if status != "missing" else "")


@pytest.mark.parametrize(("ip", "status", "codes"), [
    ("127.0.0.2", "listed", ("127.0.0.2",)),  # RFC 5782 test entry
    ("127.0.0.1", "clear", ()),
    ("192.0.2.66", "listed", ("127.0.0.4", "127.0.0.10")),
    ("192.0.2.10", "clear", ()),
    ("2001:db8::66", "listed", ("127.0.0.3",)),
])
def test_dnsbl(nsd: NsdServer, ip: str, status: str, codes: tuple[str, ...]) -> None:
    result = run(nsd, lambda r: dnsbl_lookup(r, ip, "bl.test"))
    assert (result.status, result.codes) == (status, codes)
    assert bool(result.reason) == (status == "listed")


def test_dnsbl_zone_that_fails(nsd: NsdServer) -> None:
    results = run(nsd, lambda r: dnsbl_check(r, "192.0.2.66", ("bl.test", "unloaded.test")),
                  retries=0)
    assert [r.status for r in results] == ["listed", "error"]


def test_check_sender_third_party(nsd: NsdServer) -> None:
    result = run(nsd, lambda r: check_sender(r, "198.51.100.25", "a@sender.test",
                                             "out1.mailer.test", dnsbl_zones=("bl.test",)))
    assert result.spf.result == "pass" and result.helo_spf is not None
    assert result.rdns.fcrdns and not result.rdns.in_sender_domain
    assert [d.status for d in result.dnsbl] == ["clear"]
    findings = sender_findings(result)
    assert all(isinstance(f, Finding) and f.step == "dns" for f in findings)
    assert [f.outcome for f in findings] == ["spf:pass", "spf:none", "rdns:fcrdns",
                                             "dnsbl:clear"]
    assert all(f.evidence for f in findings)
    assert to_jsonable(result)["spf"]["result"] == "pass"


def test_check_sender_listed_unconfirmed(nsd: NsdServer) -> None:
    result = run(nsd, lambda r: check_sender(r, "192.0.2.66", "bob@sender.test",
                                             dnsbl_zones=("bl.test",)))
    assert result.helo_spf is None
    outcomes = [f.outcome for f in sender_findings(result)]
    assert outcomes == ["spf:fail", "rdns:not-confirmed", "dnsbl:listed"]
    assert "spam" in sender_findings(result)[-1].summary


def test_check_sender_when_dns_cannot_be_asked(nsd: NsdServer) -> None:
    result = run(nsd, lambda r: check_sender(r, "203.0.113.9", "a@x.unloaded.test"),
                 retries=0)
    outcomes = [f.outcome for f in sender_findings(result)]
    assert outcomes == ["spf:temperror", "rdns:error"]


def test_findings_for_tree_mx_and_dmarc(nsd: NsdServer) -> None:
    async def work(resolver: Resolver) -> tuple[Finding, ...]:
        return (spf_tree_finding(await spf_tree(resolver, "toomany.sender.test")),
                mx_finding(await mx_hosts(resolver, "nullmx.sender.test")),
                dmarc_finding(await dmarc_policy(resolver, "news.sender.test")),
                dmarc_finding(await dmarc_policy(resolver, "mailer.test")))

    tree, mx, dmarc, missing = run(nsd, work)
    assert tree.outcome == "spf-tree:permerror" and "limit of 10" in tree.summary
    assert "hosts mail.sender.test, mx1.sender.test, mx2.sender.test" in tree.summary
    assert mx.outcome == "mx:null" and dmarc.outcome == "dmarc:quarantine"
    assert missing.outcome == "dmarc:none" and "no DMARC record" in missing.summary
    assert all(f.evidence and f.step == "dns" for f in (tree, mx, dmarc, missing))
