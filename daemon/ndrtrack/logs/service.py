"""The log index's daemon services, for ``App`` to start and stop in order.

Every service has ``async start()`` and ``async stop()`` and takes the ``logs`` config
section and the store as keyword-only arguments: one ``LogFollower`` per source with
``follow: true``, the ``SyslogReceiver`` when ``logs.syslog.enabled``, and the
``RetentionPurger`` that deletes traces older than ``logs.retention_days``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ndrtrack.config import LogsConfig
from ndrtrack.logs.follow import LogFollower, followers
from ndrtrack.logs.metrics import LOG_PURGED
from ndrtrack.logs.receiver import SyslogReceiver
from ndrtrack.periodic import Periodic
from ndrtrack.store.base import Store

log = logging.getLogger(__name__)


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class RetentionPurger(Periodic):
    """Deletes traces whose last line is older than ``retention_days``, every ``interval``."""

    name = "log retention"

    def __init__(self, *, config: LogsConfig, store: Store, interval: float = 3600.0) -> None:
        super().__init__(interval=interval)
        self.config = config
        self.store = store

    async def purge_once(self) -> int:
        cutoff = datetime.now(UTC) - timedelta(days=self.config.retention_days)
        removed = await asyncio.to_thread(self.store.purge, cutoff)
        LOG_PURGED.inc(removed)
        if removed:
            log.info("log retention: purged %d traces older than %s", removed,
                     cutoff.isoformat(timespec="seconds"))
        return removed

    run_once = purge_once


def log_services(*, config: LogsConfig, store: Store) -> list[Service]:
    """What the daemon runs for the log index, in start order (stop in reverse)."""
    services: list[Service] = list(followers(config=config, store=store))
    if config.syslog.enabled:
        services.append(SyslogReceiver(config=config, store=store))
    services.append(RetentionPurger(config=config, store=store))
    return services


__all__ = ["LogFollower", "RetentionPurger", "Service", "SyslogReceiver", "log_services"]
