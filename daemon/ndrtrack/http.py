"""HTTP for operators: ``/metrics`` (Prometheus), ``/healthz`` (alive) and ``/readyz`` (ready).

Served by aiohttp inside the daemon's own event loop (no second loop or thread), bound to the
configured loopback address.  ``/readyz`` asks the App what it considers ready (listeners
bound, spool writable, store open) and answers 503 naming what is not.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from ndrtrack.config import HttpConfig

log = logging.getLogger("ndrtrack.http")

Readiness = Callable[[], dict[str, bool]]

#: The areas' metric modules, beside ``ndrtrack.metrics``: imported with the endpoint so that
#: every family is declared from the first scrape (unlabelled ones at 0), not only once its
#: area has run: a dashboard or an alert on ``absent()``/``rate()`` must not see a series
#: appear late.
METRIC_MODULES: tuple[str, ...] = ("ndrtrack.metrics", "ndrtrack.logs.metrics",
                                   "ndrtrack.dns.metrics")


def make_app(readiness: Readiness,
             before_scrape: Callable[[], None] | None = None) -> web.Application:
    """The aiohttp application; ``before_scrape`` refreshes gauges (e.g. spool counts)."""
    for name in METRIC_MODULES:
        importlib.import_module(name)

    async def metrics(_: web.Request) -> web.Response:
        if before_scrape is not None:
            before_scrape()
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        checks = readiness()
        ready = all(checks.values())
        body = json.dumps({"ready": ready, "checks": checks}, sort_keys=True) + "\n"
        return web.Response(text=body, status=200 if ready else 503,
                            content_type="application/json")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


class HttpService:
    """The HTTP listener as one of the App's services."""

    name = "http"

    def __init__(self, *, config: HttpConfig, readiness: Readiness,
                 before_scrape: Callable[[], None] | None = None) -> None:
        self.config = config
        self._app = make_app(readiness, before_scrape)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port,
                           reuse_address=True)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or ()
        self.port = sockets[0].getsockname()[1] if sockets else self.config.port
        log.info("http listening on %s:%s", self.config.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def ready(self) -> bool:
        return self._runner is not None
