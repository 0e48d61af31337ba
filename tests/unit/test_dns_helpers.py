"""Pure helpers of the DNS layer, and the SPF tree's own bounds on a zone-backed fake."""

from __future__ import annotations

import asyncio

import pytest
from dns_fake import ZoneResolver

from ndrtrack.dns import metrics
from ndrtrack.dns.dmarc import parse_tags
from ndrtrack.dns.dnsbl import query_name
from ndrtrack.dns.rdns import in_domain, org_domain
from ndrtrack.dns.resolver import Lookup
from ndrtrack.dns.spf import MAX_NODES, spf_tree
from ndrtrack.model import to_jsonable


@pytest.mark.parametrize(("name", "org"), [
    ("smtp.shop.example.co.uk", "example.co.uk"),
    ("example.co.uk.", "example.co.uk"),
    ("MAIL.Example.COM", "example.com"),
    ("a.b.sender.test", "sender.test"),
    ("co.uk", "co.uk"),  # a public suffix itself has no org domain above it
    ("", ""),
])
def test_org_domain(name: str, org: str) -> None:
    assert org_domain(name) == org


@pytest.mark.parametrize(("host", "domain", "inside"), [
    ("mx.example.com", "example.com", True), ("example.com.", "example.com", True),
    ("badexample.com", "example.com", False), ("mx.example.com", "", False),
])
def test_in_domain(host: str, domain: str, inside: bool) -> None:
    assert in_domain(host, domain) is inside


def test_tag_lists() -> None:
    tags = parse_tags("v=DMARC1; P=reject ;sp = none; rua=mailto:a@x.test, mailto:b@y.test;")
    assert tags == {"v": "DMARC1", "p": "reject", "sp": "none",
                    "rua": "mailto:a@x.test,mailto:b@y.test"}


@pytest.mark.parametrize(("ip", "name"), [
    ("192.0.2.66", "66.2.0.192.bl.example"),
    ("127.0.0.2", "2.0.0.127.bl.example"),
    ("2001:db8::1", "1.0.0.0." + "0." * 20 + "8.b.d.0.1.0.0.2.bl.example"),
])
def test_dnsbl_query_name(ip: str, name: str) -> None:
    assert query_name(ip, "bl.example.") == name


def test_lookup_as_evidence() -> None:
    lookup = Lookup("a.test.", "A", "192.0.2.53", "NOERROR", ("192.0.2.1",), 60, 0.002,
                    cname_chain=("b.test.",))
    assert lookup.ok and not lookup.empty
    assert lookup.describe() == "a.test. A @192.0.2.53 NOERROR via b.test.: 192.0.2.1"
    assert to_jsonable(lookup)["cname_chain"] == ["b.test."]
    failed = Lookup("a.test.", "A", "192.0.2.53", "TIMEOUT", error="no answer")
    assert not failed.ok and not failed.empty


def test_metric_labels_never_carry_a_domain() -> None:
    assert metrics.QUERIES._labelnames == ("rdtype", "result")
    assert metrics.CACHE_HITS._labelnames == () and metrics.QUERY_SECONDS._labelnames == ()


def _fan_out_zone(width: int, depth: int) -> str:
    """Each include names ``width`` more: width**depth records, far past any sane tree."""
    lines = ["$TTL 300", "@ SOA ns hostmaster 1 3600 600 86400 60", "@ NS ns", "ns A 192.0.2.53"]
    names = ["@"]
    for level in range(depth):
        children = []
        for parent in names:
            base = "" if parent == "@" else f".{parent}"
            kids = [f"n{i}{base}" for i in range(width)]
            includes = " ".join(f"include:{k}.wide.test" for k in kids)
            lines.append(f'{parent} TXT "v=spf1 {includes} -all"')
            children += kids
        names = children
        if level == depth - 1:
            lines += [f'{n} TXT "v=spf1 ip4:192.0.2.{i % 250}/32 -all"'
                      for i, n in enumerate(names)]
    return "\n".join(lines) + "\n"


def test_tree_work_is_bounded() -> None:
    resolver = ZoneResolver({"wide.test.": _fan_out_zone(8, 3)})
    tree = asyncio.run(spf_tree(resolver, "wide.test"))
    assert resolver.queries <= MAX_NODES + 1
    assert any("not expanded" in p for p in tree.problems)
    assert tree.verdict == "permerror"  # far over 10 DNS-querying terms
