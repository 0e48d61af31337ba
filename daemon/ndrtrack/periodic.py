"""A daemon service that does one job every ``interval`` seconds, in the daemon's loop.

The retention purgers of the spool and of the log index share this shape: a task started
with the daemon, a job that must never end the loop (a failure is logged and retried at
the next interval), and a stop that cancels the task wherever it waits.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``run_once`` at start and then every ``interval`` seconds until ``stop``."""

    #: The task's name, also the subject of the failure log line.
    name = "periodic job"

    def __init__(self, *, interval: float) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """The job; its result (e.g. the number of items removed) is for tests and callers."""
        raise NotImplementedError

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # retried next interval
                log.exception("%s failed", self.name)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
