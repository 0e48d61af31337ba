"""SPF tree expansion and pyspf evaluation against the test zones on a real NSD."""

from __future__ import annotations

import asyncio

import dns.zone
import pytest
from dns_server import ZONES, nsd_fixture, run  # noqa: F401

from dnslab import NsdServer, SilentServer
from ndrtrack.dns.resolver import Resolver, ResolverSettings
from ndrtrack.dns.spf import SpfTree, evaluate_spf, spf_tree
from ndrtrack.model import to_jsonable

pytestmark = pytest.mark.integration

# domain → (verdict, DNS-querying terms, void lookups, words every listed problem must show)
TREES = {
    "sender.test": ("ok", 4, 0, ()),
    "news.sender.test": ("ok", 5, 0, ()),  # redirect= counts as one more
    "nested.sender.test": ("ok", 4, 0, ()),
    "macro.sender.test": ("ok", 2, 0, ()),
    "loop.sender.test": ("permerror", 2, 0, ("loop",)),
    "toomany.sender.test": ("permerror", 12, 0, ("limit of 10",)),
    "void.sender.test": ("permerror", 3, 3, ("void lookups",)),
    "two.sender.test": ("permerror", 0, 0, ("2 SPF records",)),
    "bad.sender.test": ("permerror", 0, 0, ("192.0.2.300", "frobnicate")),
    "inclnone.sender.test": ("permerror", 1, 1, ("no SPF record",)),
    "chain.sender.test": ("ok", 0, 0, ()),
    "ipv6.sender.test": ("ok", 1, 0, ()),
    "nospf.sender.test": ("none", 0, 0, ("no SPF record",)),
    "nx.sender.test": ("none", 0, 0, ("does not exist",)),
    "x.unloaded.test": ("temperror", 0, 0, ("SERVFAIL",)),
    "ptr.sender.test": ("ok", 1, 0, ()),
    "exists.sender.test": ("ok", 1, 0, ()),  # %{l} unknown: the exists term stays a template
    "deadspf.sender.test": ("temperror", 1, 0, ("does not recurse",)),
}


def tree(nsd: NsdServer, domain: str, **context: str) -> SpfTree:
    return run(nsd, lambda r: spf_tree(r, domain, **context))


@pytest.mark.parametrize("domain", sorted(TREES))
def test_tree_verdicts_and_limits(nsd: NsdServer, domain: str) -> None:
    verdict, dns_terms, voids, words = TREES[domain]
    result = tree(nsd, domain)
    assert (result.verdict, result.dns_terms, result.void_lookups) == (verdict, dns_terms, voids)
    text = " ".join(result.problems)
    for word in words:
        assert word in text
    if verdict == "ok":
        assert not result.problems
    assert result.lookups and all(lk.qname for lk in result.lookups)


def routes(result: SpfTree) -> dict[str, str]:
    return {a.value: a.route for a in result.allowed}


def test_paths_through_includes_mx_and_a(nsd: NsdServer) -> None:
    result = tree(nsd, "sender.test")
    found = routes(result)
    assert found["198.51.100.0/24"] == "sender.test → include:_spf.mailer.test → " \
                                       "ip4:198.51.100.0/24"
    assert found["2001:db8:100::/48"].count("include:") == 2
    assert found["192.0.2.11/32"] == "sender.test → mx → MX mx2.sender.test"
    assert found["mail.sender.test"] == "sender.test → a:mail.sender.test"
    assert {a.qualifier for a in result.allowed} == {"+"}
    assert "198.51.100.0/24" in result.networks
    assert [a.value for a in result.paths_to("198.51.100.7")] == ["198.51.100.0/24"]
    assert result.paths_to("192.0.2.99") == ()


def test_three_levels_deep_keep_the_whole_path(nsd: NsdServer) -> None:
    found = routes(tree(nsd, "nested.sender.test"))
    assert found["198.51.100.25/32"] == (
        "nested.sender.test → include:level1.mailer.test → include:level2.mailer.test → "
        "include:level3.mailer.test → a:out1.mailer.test")


def test_redirect_leads_into_the_other_policy(nsd: NsdServer) -> None:
    found = routes(tree(nsd, "news.sender.test"))
    assert found["192.0.2.0/28"] == "news.sender.test → redirect=sender.test → ip4:192.0.2.0/28"


def test_macros_expand_when_the_values_are_known(nsd: NsdServer) -> None:
    plain = tree(nsd, "macro.sender.test")
    kinds = {a.value: a.kind for a in plain.allowed}
    assert kinds["192.0.2.96/29"] == "network"  # include:_spf.%{d} expanded with %{d}
    assert kinds["%{i}.allow.sender.test"] == "template"  # %{i} needs an IP
    with_ip = tree(nsd, "macro.sender.test", ip="192.0.2.77", sender="a@macro.sender.test")
    assert {a.value: a.kind for a in with_ip.allowed}["192.0.2.77.allow.sender.test"] == "exists"


def test_include_loop_is_cut_and_reported(nsd: NsdServer) -> None:
    result = tree(nsd, "loop.sender.test")
    inner = result.root.terms[0].child
    assert inner is not None and inner.domain == "loop2.sender.test"
    looped = inner.terms[1].child
    assert looped is not None and looped.status == "loop"
    assert "192.0.2.200/32" in result.networks  # expanded as far as possible


def test_over_the_limit_still_expands_everything(nsd: NsdServer) -> None:
    result = tree(nsd, "toomany.sender.test")
    assert len([n for n in result.networks if n.startswith("198.18.")]) == 10
    assert any("a:mail.sender.test" in p and "number 11" in p for p in result.problems)
    assert "192.0.2.20/32" in result.networks  # past the 10th term


def test_dual_cidr_applies_to_each_family(nsd: NsdServer) -> None:
    networks = tree(nsd, "ipv6.sender.test").networks
    assert set(networks) == {"2001:db8:1::/48", "192.0.2.0/24", "2001:db8::/64"}


def test_tree_renders_to_json(nsd: NsdServer) -> None:
    data = to_jsonable(tree(nsd, "sender.test"))
    assert data["verdict"] == "ok" and data["root"]["terms"][3]["child"]["domain"] == \
        "_spf.mailer.test"
    assert all("rcode" in lk for lk in data["lookups"])


# (ip, MAIL FROM, HELO) → (result, matched mechanism)
EVALUATIONS = [
    ("192.0.2.10", "a@sender.test", "mx1.sender.test", "pass", "ip4:192.0.2.0/28"),
    ("2001:db8::10", "a@sender.test", "", "pass", "mx"),
    ("2001:db8::20", "a@sender.test", "", "pass", "a:mail.sender.test"),
    ("198.51.100.7", "a@sender.test", "", "pass", "include:_spf.mailer.test"),
    ("2001:db8:100::25", "a@sender.test", "", "pass", "include:_spf.mailer.test"),
    ("203.0.113.200", "a@sender.test", "", "fail", "-all"),
    ("192.0.2.77", "a@macro.sender.test", "", "pass", "exists:%{i}.allow.sender.test"),
    ("192.0.2.78", "a@macro.sender.test", "", "fail", "-all"),
    ("192.0.2.10", "x@ptr.sender.test", "", "pass", "ptr:sender.test"),
    ("192.0.2.60", "x@ptr.sender.test", "", "fail", "-all"),
    ("192.0.2.1", "alice@exists.sender.test", "", "pass", "exists:%{l1r+}.users.sender.test"),
    ("192.0.2.1", "bob@exists.sender.test", "", "fail", "-all"),
    ("203.0.113.130", "a@nested.sender.test", "", "pass", "include:level1.mailer.test"),
    ("192.0.2.1", "a@toomany.sender.test", "", "permerror", ""),
    ("192.0.2.1", "a@two.sender.test", "", "permerror", ""),
    ("192.0.2.1", "a@bad.sender.test", "", "permerror", ""),
    ("192.0.2.1", "a@loop.sender.test", "", "permerror", ""),
    ("192.0.2.1", "a@nospf.sender.test", "", "none", ""),
    ("192.0.2.1", "a@x.unloaded.test", "", "temperror", ""),
    ("192.0.2.129", "a@chain.sender.test", "", "pass", "ip4:192.0.2.128/25"),
]


@pytest.mark.parametrize(("ip", "sender", "helo", "expected", "mechanism"), EVALUATIONS)
def test_evaluation_through_our_resolver(nsd: NsdServer, ip: str, sender: str, helo: str,
                                         expected: str, mechanism: str) -> None:
    result = run(nsd, lambda r: evaluate_spf(r, ip, sender, helo), retries=0)
    assert result.result == expected, result.explanation
    assert result.mechanism == mechanism
    assert result.identity == "mailfrom"
    # pyspf asked *our* resolver (the configured NSD port): its lookups are evidence.
    assert result.lookups and {lk.server for lk in result.lookups} == {nsd.address}
    assert result.lookups[0].qname == sender.rpartition("@")[2] + "."


def test_evaluation_of_helo_identity(nsd: NsdServer) -> None:
    result = run(nsd, lambda r: evaluate_spf(r, "192.0.2.1", "", "two.sender.test"))
    assert result.identity == "helo" and result.result == "permerror"


def test_evaluation_shares_the_cache_with_the_tree(nsd: NsdServer) -> None:
    async def work(resolver: Resolver) -> tuple[int, int]:
        await spf_tree(resolver, "sender.test")
        asked = resolver.queries
        await evaluate_spf(resolver, "198.51.100.7", "a@sender.test")
        return asked, resolver.queries

    before, after = run(nsd, work)
    assert after == before  # every question pyspf asked was already cached


def test_evaluation_when_the_server_never_answers() -> None:
    with SilentServer() as silent:
        settings = ResolverSettings(nameservers=(silent.address,), timeout=0.2, retries=0)
        result = asyncio.run(evaluate_spf(Resolver(settings), "192.0.2.1", "a@sender.test"))
    assert result.result == "temperror" and "no answer within 0.2 s" in result.explanation
    assert [lk.rcode for lk in result.lookups] == ["TIMEOUT"]


#: Names with an SPF record that are reached only through another one's include/redirect.
REACHED_ONLY = {"_spf.macro.sender.test", "loop2.sender.test", "chain3.sender.test",
                "nullmx.sender.test"}


def test_every_spf_record_in_the_sender_zone_has_an_expectation() -> None:
    zone = dns.zone.from_file(str(ZONES / "sender.test.zone"), origin="sender.test",
                              relativize=False)
    owners = {name.to_text().rstrip(".") for name, rdataset in zone.iterate_rdatasets("TXT")
              if any(b"".join(r.strings).startswith(b"v=spf1") for r in rdataset)}
    no_record_of_their_own = {"chain.sender.test", "nospf.sender.test", "nx.sender.test",
                              "x.unloaded.test"}
    assert owners - REACHED_ONLY == set(TREES) - no_record_of_their_own
