"""Retention of the spool's ``done/``: processed entries are deleted after a while.

Without it ``done/`` grows by one directory per message forever.  ``spool.done_retention_days``
says how long a processed entry is kept (by its completion time; 0 keeps them all).
``shunt/`` is never purged: those entries failed and wait for an admin, who sees how many
there are in ``ndrtrack_spool_entries{state="shunt"}``.

The purge runs in a worker thread every ``interval`` (an hour, like the log index's
``RetentionPurger``; both are ``Periodic`` services), never on the intake's path.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ndrtrack.config import SpoolConfig
from ndrtrack.intake.spool import Spool
from ndrtrack.metrics import SPOOL_PURGED
from ndrtrack.periodic import Periodic

log = logging.getLogger(__name__)

DAY = 86400.0


class SpoolPurger(Periodic):
    """Deletes ``done/`` entries older than ``done_retention_days``, every ``interval``."""

    name = "spool retention"

    def __init__(self, *, config: SpoolConfig, spool: Spool, interval: float = 3600.0) -> None:
        super().__init__(interval=interval)
        self.config = config
        self.spool = spool

    async def purge_once(self, now: float | None = None) -> int:
        """One purge; the number of entries deleted (0 when retention is off)."""
        days = self.config.done_retention_days
        if days <= 0:
            return 0
        cutoff = (time.time() if now is None else now) - days * DAY
        removed = await asyncio.to_thread(self.spool.purge_done, cutoff)
        SPOOL_PURGED.inc(removed)
        if removed:
            log.info("spool retention: deleted %d done/ entries older than %d days",
                     removed, days)
        return removed

    run_once = purge_once
