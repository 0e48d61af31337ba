"""Fixtures for the DNS integration tests: a real NSD loaded with ``tests/samples/dns``.

Import the fixture *functions* into a test module (``from dns_server import nsd_fixture``);
pytest registers them under their ``name=`` (``nsd``), so test arguments stay short.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from conftest import SAMPLES, require_binary
from dnslab import NsdServer
from ndrtrack.dns.resolver import Resolver, ResolverSettings

ZONES = SAMPLES / "dns"
#: Configured in NSD without a zone file: NSD answers SERVFAIL for it (a real SERVFAIL).
UNLOADED = ("unloaded.test",)

T = TypeVar("T")


def zone_files() -> dict[str, Path]:
    return {path.name.removesuffix(".zone"): path for path in sorted(ZONES.glob("*.zone"))}


#: The one NSD of the session: every module that imports the fixture gets its own
#: FixtureDef, and without this each would start a server that lives until the session ends.
_shared: list[NsdServer] = []


@pytest.fixture(scope="session", name="nsd")
def nsd_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NsdServer]:
    require_binary("nsd")
    require_binary("nsd-checkzone")
    if _shared:
        yield _shared[0]  # started (and stopped, last) by the first module that asked
        return
    server = NsdServer(tmp_path_factory.mktemp("nsd"), zone_files(), unloaded=UNLOADED)
    server.start()
    _shared.append(server)
    try:
        yield server
    finally:
        _shared.clear()
        server.stop()


def settings_for(server: NsdServer, **changes: object) -> ResolverSettings:
    values: dict[str, object] = {"nameservers": (server.address,), "timeout": 2.0,
                                 "retries": 1}
    values.update(changes)
    return ResolverSettings(**values)  # type: ignore[arg-type]


def run(server: NsdServer, work: Callable[[Resolver], Awaitable[T]], **changes: object) -> T:
    """Run ``work(resolver)`` on a fresh resolver pointed at ``server``."""

    async def main() -> T:
        return await work(Resolver(settings_for(server, **changes)))

    return asyncio.run(main())
