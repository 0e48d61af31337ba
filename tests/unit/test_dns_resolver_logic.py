"""Resolver logic on a zone-backed fake: cache TTLs, negative caching, CNAMEs, settings."""

from __future__ import annotations

import asyncio

import pytest
from dns_fake import ZoneResolver

from ndrtrack.config import DnsConfig
from ndrtrack.dns import resolver as resolver_module
from ndrtrack.dns.resolver import Nameserver, QueryFailed, ResolverSettings
from ndrtrack.dns.spf import spf_tree

ZONE = """
$TTL 300
@        SOA  ns hostmaster 1 3600 600 86400 30
@        NS   ns
ns       A    192.0.2.53
www      A    192.0.2.1
short 5  A    192.0.2.2
alias    CNAME www
away     CNAME host.other.test.
loop1    CNAME loop2
loop2    CNAME loop1
txt      TXT  "v=spf1 " "ip4:192.0.2.0/24 -all"
"""
OTHER = """
$TTL 60
@    SOA  ns.other.test. hostmaster.other.test. 1 3600 600 86400 600
@    NS   ns.other.test.
host A    198.51.100.1
"""


def fake(**settings: object) -> ZoneResolver:
    values: dict[str, object] = {"nameservers": ("192.0.2.53",)}
    values.update(settings)
    return ZoneResolver({"example.test.": ZONE, "other.test.": OTHER},
                        ResolverSettings(**values))  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "host", "port", "shown"), [
    ("192.0.2.1", "192.0.2.1", 53, "192.0.2.1"),
    ("192.0.2.1:5353", "192.0.2.1", 5353, "192.0.2.1:5353"),
    ("::1", "::1", 53, "[::1]"),
    ("[::1]:5353", "::1", 5353, "[::1]:5353"),
    ("2001:db8::53", "2001:db8::53", 53, "[2001:db8::53]"),
])
def test_nameserver_forms(text: str, host: str, port: int, shown: str) -> None:
    server = Nameserver.parse(text)
    assert (server.host, server.port, str(server)) == (host, port, shown)


@pytest.mark.parametrize("text", ["192.0.2.1:0", "192.0.2.1:x", "[::1]:99999", ":53", ""])
def test_bad_nameservers(text: str) -> None:
    with pytest.raises(ValueError):
        Nameserver.parse(text)


def test_settings_from_config() -> None:
    config = DnsConfig(nameservers=("127.0.0.1:5353",), timeout=1.5, retries=0, cache_size=5,
                       max_concurrency=4)
    settings = ResolverSettings.from_config(config)
    assert settings == ResolverSettings(("127.0.0.1:5353",), 1.5, 0, 5, 4,
                                        config.edns_payload)
    assert settings.servers() == (Nameserver("127.0.0.1", 5353),)


def test_system_nameservers_when_none_configured() -> None:
    servers = ResolverSettings().servers()
    assert all(server.port == 53 for server in servers)


def test_txt_strings_are_joined_and_answers_cached_for_their_ttl(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(resolver_module.time, "monotonic", lambda: clock[0])
    resolver = fake()

    async def main() -> None:
        first = await resolver.query("txt.example.test", "TXT")
        assert first.answers == ("v=spf1 ip4:192.0.2.0/24 -all",) and first.ttl == 300
        clock[0] += 299
        hit = await resolver.query("txt.example.test", "TXT")
        assert hit.cached and hit.ttl == 1
        clock[0] += 2
        again = await resolver.query("txt.example.test", "TXT")
        assert not again.cached

    asyncio.run(main())
    assert resolver.queries == 2 and resolver.cache_hits == 1


def test_negative_ttl_is_the_soa_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(resolver_module.time, "monotonic", lambda: clock[0])
    resolver = fake()

    async def main() -> None:
        missing = await resolver.query("nope.example.test", "A")
        assert missing.rcode == "NXDOMAIN" and missing.ttl == 30
        nodata = await resolver.query("www.example.test", "MX")
        assert nodata.rcode == "NOERROR" and nodata.empty and nodata.ttl == 30
        clock[0] += 31
        await resolver.query("nope.example.test", "A")

    asyncio.run(main())
    assert resolver.queries == 3


def test_shortest_ttl_of_the_chain_wins() -> None:
    lookup = asyncio.run(fake().query("alias.example.test", "A"))
    assert lookup.cname_chain == ("www.example.test.",) and lookup.answers == ("192.0.2.1",)
    short = asyncio.run(fake().query("short.example.test", "A"))
    assert short.ttl == 5


def test_cname_out_of_the_zone_is_followed() -> None:
    resolver = fake()
    lookup = asyncio.run(resolver.query("away.example.test", "A"))
    assert lookup.answers == ("198.51.100.1",) and lookup.ttl == 60
    assert resolver.asked == [("away.example.test.", "A"), ("host.other.test.", "A")]


def test_cname_loop_is_a_failure() -> None:
    with pytest.raises(QueryFailed) as caught:
        asyncio.run(fake().query("loop1.example.test", "A"))
    assert caught.value.lookup.rcode == "CNAME_LOOP"


def test_asking_for_the_cname_itself_does_not_follow_it() -> None:
    lookup = asyncio.run(fake().query("alias.example.test", "CNAME"))
    assert lookup.answers == ("www.example.test.",) and lookup.cname_chain == ()


def test_servfail_on_every_server_and_round() -> None:
    resolver = ZoneResolver({"example.test.": ZONE},
                            ResolverSettings(nameservers=("192.0.2.1", "192.0.2.2"), retries=1),
                            failing=frozenset({"www.example.test."}))
    with pytest.raises(QueryFailed) as caught:
        asyncio.run(resolver.query("www.example.test", "A"))
    assert resolver.queries == 4  # 2 servers x 2 rounds
    assert caught.value.lookup.error.count("SERVFAIL") == 4


@pytest.mark.parametrize("name", ["a..example.test", "x" * 64 + ".example.test",
                                  ("x" * 60 + ".") * 5 + "test"])
def test_invalid_names_are_failed_lookups_without_a_query(name: str) -> None:
    resolver = fake()
    with pytest.raises(QueryFailed) as caught:
        asyncio.run(resolver.query(name, "A"))
    assert caught.value.lookup.rcode == "BADNAME" and resolver.queries == 0


def test_spf_include_of_an_invalid_name_is_reported_not_raised() -> None:
    zone = ZONE + 'bad TXT "v=spf1 include:a..example.test -all"\n'
    resolver = ZoneResolver({"example.test.": zone},
                            ResolverSettings(nameservers=("192.0.2.53",)))
    tree = asyncio.run(spf_tree(resolver, "bad.example.test"))
    assert tree.verdict == "temperror" and any("BADNAME" in p or "valid domain" in p
                                               for p in tree.problems)
