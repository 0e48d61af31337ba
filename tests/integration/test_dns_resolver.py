"""The resolver against a real NSD: answers, negative answers, failures, TCP fallback, cache."""

from __future__ import annotations

import asyncio
import time

import pytest
from dns_server import nsd_fixture, run, settings_for  # noqa: F401
from prometheus_client import REGISTRY

from conftest import missing_prerequisite
from dnslab import NsdServer, SilentServer
from ndrtrack.dns.resolver import Evidence, QueryFailed, Resolver, ResolverSettings
from ndrtrack.errors import DnsError

pytestmark = pytest.mark.integration


def test_answer_is_evidence(nsd: NsdServer) -> None:
    lookup = run(nsd, lambda r: r.query("sender.test", "MX"))
    assert lookup.ok and lookup.rcode == "NOERROR"
    assert lookup.answers == ("10 mx1.sender.test.", "20 mx2.sender.test.")
    assert lookup.server == nsd.address and lookup.ttl == 300
    assert lookup.transport == "udp" and 0 < lookup.elapsed < 2
    assert "mx1.sender.test." in lookup.describe()


@pytest.mark.parametrize(("name", "rdtype", "rcode"), [
    ("nx.sender.test", "A", "NXDOMAIN"),  # no such name
    ("mail.sender.test", "MX", "NOERROR"),  # the name exists, the type does not (NODATA)
])
def test_negative_answers_are_findings_with_soa_ttl(nsd: NsdServer, name: str, rdtype: str,
                                                    rcode: str) -> None:
    lookup = run(nsd, lambda r: r.query(name, rdtype))
    assert lookup.ok and lookup.empty and lookup.rcode == rcode
    assert lookup.ttl == 120  # RFC 2308: min(SOA TTL 300, SOA minimum 120)


def test_servfail_is_an_error(nsd: NsdServer) -> None:
    with pytest.raises(DnsError) as caught:
        run(nsd, lambda r: r.query("www.unloaded.test", "A"))
    failed = caught.value
    assert isinstance(failed, QueryFailed)
    assert failed.lookup.rcode == "SERVFAIL" and not failed.lookup.ok
    assert failed.qname == "www.unloaded.test." and failed.server == nsd.address
    assert "SERVFAIL" in str(failed)


def test_refused_is_an_error(nsd: NsdServer) -> None:
    with pytest.raises(QueryFailed) as caught:
        run(nsd, lambda r: r.query("example.invalid", "A"))
    assert caught.value.lookup.rcode == "REFUSED"


def test_referral_from_a_delegation_is_an_error(nsd: NsdServer) -> None:
    with pytest.raises(QueryFailed) as caught:
        run(nsd, lambda r: r.query("_spf.dead.sender.test", "TXT"), retries=0)
    assert caught.value.lookup.rcode == "REFERRAL"
    assert "does not recurse" in caught.value.lookup.error


def test_timeout_against_a_port_that_never_answers() -> None:
    with SilentServer() as silent:
        settings = ResolverSettings(nameservers=(silent.address,), timeout=0.2, retries=1)

        async def main() -> float:
            started = time.monotonic()
            with pytest.raises(QueryFailed) as caught:
                await Resolver(settings).query("sender.test", "A")
            assert caught.value.lookup.rcode == "TIMEOUT"
            assert caught.value.lookup.error.count("no answer within 0.2 s") == 2
            return time.monotonic() - started

        elapsed = asyncio.run(main())
    assert 0.35 < elapsed < 2.0  # two tries of 0.2 s, bounded


def test_failover_to_the_next_server(nsd: NsdServer) -> None:
    with SilentServer() as silent:
        lookup = run(nsd, lambda r: r.query("mail.sender.test", "A"),
                     nameservers=(silent.address, nsd.address), timeout=0.2, retries=0)
    assert lookup.answers == ("192.0.2.20",) and lookup.server == nsd.address


def test_truncated_answer_is_asked_again_over_tcp(nsd: NsdServer) -> None:
    before = REGISTRY.get_sample_value("ndrtrack_dns_queries_total",
                                       {"rdtype": "TXT", "result": "truncated"}) or 0
    lookup = run(nsd, lambda r: r.query("big.sender.test", "TXT"))
    assert lookup.transport == "tcp"
    assert len(lookup.answers) == 24 and all(a.startswith("record ") for a in lookup.answers)
    after = REGISTRY.get_sample_value("ndrtrack_dns_queries_total",
                                      {"rdtype": "TXT", "result": "truncated"})
    assert after == before + 1


def test_no_edns_also_falls_back(nsd: NsdServer) -> None:
    lookup = run(nsd, lambda r: r.query("sender.test", "TXT"), edns_payload=0)
    assert lookup.transport == "udp"  # small: fits in 512 bytes
    big = run(nsd, lambda r: r.query("big.sender.test", "TXT"), edns_payload=0)
    assert big.transport == "tcp"


def test_cname_chains_in_zone_and_across_zones(nsd: NsdServer) -> None:
    inside = run(nsd, lambda r: r.query("chain.sender.test", "TXT"))
    assert inside.cname_chain == ("chain2.sender.test.", "chain3.sender.test.")
    assert inside.answers == ("v=spf1 ip4:192.0.2.128/25 -all",)
    # NSD is authoritative only: it stops at the CNAME into mailer.test; the resolver asks on.
    across = run(nsd, lambda r: r.query("outchain.sender.test", "TXT"))
    assert across.cname_chain == ("target.mailer.test.",)
    assert across.answers == ("v=spf1 ip4:203.0.113.200 -all",)


def test_ipv6_server_and_records(nsd: NsdServer) -> None:
    if not nsd.ipv6:
        missing_prerequisite("IPv6 loopback (::1)")
    lookup = run(nsd, lambda r: r.query("mx1.sender.test", "AAAA"),
                 nameservers=(nsd.address6,))
    assert lookup.answers == ("2001:db8::10",) and lookup.server == nsd.address6


def test_cache_answers_and_negative_answers(nsd: NsdServer) -> None:
    async def work(resolver: Resolver) -> None:
        hits = REGISTRY.get_sample_value("ndrtrack_dns_cache_hits_total") or 0
        first = await resolver.query("mail.sender.test", "A")
        again = await resolver.query("MAIL.sender.test.", "a")
        assert not first.cached and again.cached and again.transport == "cache"
        assert again.answers == first.answers and 0 < again.ttl <= 300
        missing = await resolver.query("nx.sender.test", "A")
        missing_again = await resolver.query("nx.sender.test", "A")
        assert missing_again.cached and missing_again.rcode == "NXDOMAIN" and missing.ttl == 120
        assert resolver.queries == 2 and resolver.cache_hits == 2
        assert REGISTRY.get_sample_value("ndrtrack_dns_cache_hits_total") == hits + 2

    run(nsd, work)


def test_failures_are_not_cached(nsd: NsdServer) -> None:
    async def work(resolver: Resolver) -> int:
        for _ in range(2):
            with pytest.raises(QueryFailed):
                await resolver.query("a.unloaded.test", "A")
        return resolver.queries

    assert run(nsd, work, retries=0) == 2


def test_cache_off_and_bounded(nsd: NsdServer) -> None:
    async def work(resolver: Resolver) -> int:
        for name in ("mail.sender.test", "mx1.sender.test", "mail.sender.test"):
            await resolver.query(name, "A")
        return resolver.queries

    assert run(nsd, work, cache_size=0) == 3
    assert run(nsd, work, cache_size=1) == 3  # the second name pushed the first out
    assert run(nsd, work, cache_size=2) == 2


def test_identical_questions_in_flight_share_one_query(nsd: NsdServer) -> None:
    async def work(resolver: Resolver) -> int:
        answers = await asyncio.gather(*(resolver.query("sender.test", "TXT")
                                         for _ in range(20)))
        assert len({a.answers for a in answers}) == 1
        assert [a.cached for a in answers].count(False) == 1
        assert {a.transport for a in answers if a.cached} == {"shared"}
        return resolver.queries

    assert run(nsd, work) == 1


def test_concurrency_is_bounded(nsd: NsdServer) -> None:
    async def work(resolver: Resolver) -> int:
        peak = 0
        original = resolver._semaphore

        class Counting(asyncio.Semaphore):
            inside = 0

            async def __aenter__(self) -> None:
                nonlocal peak
                await original.acquire()
                Counting.inside += 1
                peak = max(peak, Counting.inside)

            async def __aexit__(self, *exc: object) -> None:
                Counting.inside -= 1
                original.release()

        resolver._semaphore = Counting()
        names = [f"t{i}.mailer.test" for i in range(1, 11)]
        await asyncio.gather(*(resolver.query(n, "TXT") for n in names))
        return peak

    assert run(nsd, work, max_concurrency=3) == 3


def test_evidence_turns_failures_into_lookups(nsd: NsdServer) -> None:
    async def work(resolver: Resolver) -> Evidence:
        evidence = Evidence(resolver)
        await evidence.ask("mail.sender.test", "A")
        await evidence.ask("x.unloaded.test", "A")
        return evidence

    lookups = run(nsd, work, retries=0).recorded()
    assert [lk.ok for lk in lookups] == [True, False]
    assert lookups[1].rcode == "SERVFAIL"


def test_metrics_count_by_type_and_result(nsd: NsdServer) -> None:
    def value(result: str) -> float:
        return REGISTRY.get_sample_value("ndrtrack_dns_queries_total",
                                         {"rdtype": "A", "result": result}) or 0

    before = {r: value(r) for r in ("noerror", "nxdomain", "servfail")}
    count = REGISTRY.get_sample_value("ndrtrack_dns_query_seconds_count") or 0

    async def work(resolver: Resolver) -> None:
        await resolver.query("mail.sender.test", "A")
        await resolver.query("nx.sender.test", "A")
        with pytest.raises(QueryFailed):
            await resolver.query("x.unloaded.test", "A")

    run(nsd, work, retries=0)
    assert {r: value(r) - before[r] for r in before} == {
        "noerror": 1, "nxdomain": 1, "servfail": 1}
    assert REGISTRY.get_sample_value("ndrtrack_dns_query_seconds_count") == count + 3


def test_no_nameserver_is_an_error() -> None:
    settings = ResolverSettings(nameservers=("127.0.0.1:9",))
    resolver = Resolver(settings)
    resolver._servers = ()

    async def main() -> None:
        await resolver.query("sender.test", "A")

    with pytest.raises(QueryFailed) as caught:
        asyncio.run(main())
    assert caught.value.lookup.rcode == "NO_NAMESERVER"


def test_settings_helper_points_at_the_server(nsd: NsdServer) -> None:
    assert settings_for(nsd).servers()[0].port == nsd.port
