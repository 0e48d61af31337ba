"""The runner: takes spool entries in arrival order through the pipeline's stages.

One entry at a time, in a worker thread (stages are synchronous): claim it (``new/`` →
``processing/``), run every stage not yet recorded ``ok`` for its case, then move it to
``done/``.  A failing stage records its error on the case, the entry goes back to ``new/``
with a back-off (``backoff_initial`` doubling up to ``backoff_max``), and after
``runner.max_tries`` tries it is moved to ``shunt/`` with the error beside it — the runner
itself keeps going.  The time the next try is due is written beside the entry too, so a
restart honours the back-off instead of retrying every failing entry at once.  Entries left
in ``processing/`` by a crash are put back by ``Spool.setup`` and taken up again; the
stages' idempotency makes that safe.  Tries are counted beside the entry before its stages
run, so one the daemon itself dies on is shunted after ``max_tries`` restarts instead of
taking the daemon down forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ndrtrack.config import Config, RunnerConfig
from ndrtrack.errors import SpoolError
from ndrtrack.intake.spool import Spool
from ndrtrack.intake.stages import WARM_UPS, Stage, StageContext, load_stages, warm_up
from ndrtrack.metrics import RUNNER_PROCESSED, RUNNER_SECONDS, SPOOL_ENTRIES, STAGE_ERRORS
from ndrtrack.store.base import Store

log = logging.getLogger(__name__)

GAUGE_INTERVAL = 5.0  # seconds between spool directory counts (done/ can be large)
#: While the intake is busy, the runner pauses this many times as long as its last entry took:
#: the stages (parsing) are CPU-bound and share the interpreter with the SMTP sessions, and a
#: sending MTA waiting for its 250 matters more than how soon a case is recorded — the spool
#: is durable, the backlog is worked off as soon as the burst is over.
YIELD_FACTOR = 3.0


@dataclass(slots=True)
class _Retry:
    not_before: float


def _ids(spool_id: str, case_id: int | None = None) -> dict[str, object]:
    """Log context: the spool id (and case id) travel as fields of every line (logsetup)."""
    return {"spool_id": spool_id} if case_id is None else {"spool_id": spool_id,
                                                            "case_id": case_id}


class StageFailed(Exception):
    def __init__(self, stage: str, error: BaseException) -> None:
        self.stage = stage
        self.error = error
        super().__init__(f"stage {stage}: {type(error).__name__}: {error}")


class Runner:
    """Drives spool entries through the stages; ``start``/``stop`` from the App."""

    def __init__(self, *, spool: Spool, store: Store, config: Config,
                 stages: tuple[Stage, ...] | None = None,
                 intake_busy: Callable[[], bool] = lambda: False,
                 warm_ups: tuple[str, ...] = WARM_UPS) -> None:
        self.spool = spool
        self.store = store
        self.config = config
        self.stages = stages if stages is not None else load_stages()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ndrtrack-runner")
        self._retries: dict[str, _Retry] = {}
        self._stranded: dict[str, Callable[[], None]] = {}  # moves out of processing/ to redo
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._last_gauge = 0.0
        self.intake_busy = intake_busy
        self.warm_ups = warm_ups

    @property
    def settings(self) -> RunnerConfig:
        return self.config.runner

    def update(self, config: Config) -> None:
        """A reloaded config: tries, back-off and poll interval apply from the next entry."""
        self.config = config

    def wake(self) -> None:
        """Something was stored: look at ``new/`` now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        """Warm the stages up, then start taking entries.

        The warm-up (~80 ms of CPU: the decoder's imports and tables) is awaited here, and
        the App starts the runner before the listeners: done in the background after
        ``READY`` it would compete for the interpreter with the first sessions — after a
        restart, an MTA's deferred queue arrives at once — and imports hold a lock any
        session code importing lazily would wait on.  Nothing waits for a daemon not yet
        listening; a sending MTA does wait for its 250.
        """
        started = time.process_time()
        await asyncio.get_running_loop().run_in_executor(self._executor, warm_up,
                                                         self.warm_ups)
        log.debug("runner warm-up: %.0f ms of CPU", (time.process_time() - started) * 1000)
        self._task = asyncio.create_task(self._loop(), name="runner")

    async def stop(self, timeout: float = 30.0) -> None:
        """Finish the entry in hand (a stage cannot be interrupted midway), then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                log.warning("runner: entry still in progress after %.0fs; left in processing/ "
                            "for the next start", timeout)
                self._task.cancel()
        self._executor.shutdown(wait=False)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._restore_backoffs)
        except OSError as exc:
            log.error("runner: cannot list the spool: %s", exc)
        while not self._stopping:
            self._wake.clear()
            try:
                if self._stranded:
                    await loop.run_in_executor(self._executor, self._redo_moves)
                due = await loop.run_in_executor(self._executor, self._due)
            except OSError as exc:
                log.error("runner: cannot list the spool: %s", exc)
                due = []
            for entry_id in due:
                if self._stopping:
                    break
                started = time.perf_counter()
                try:
                    await loop.run_in_executor(self._executor, self.process, entry_id)
                except Exception:  # a bug or the spool itself: never end the runner
                    log.exception("runner: processing failed", extra=_ids(entry_id))
                    self._defer(entry_id)
                if self.intake_busy():
                    await asyncio.sleep((time.perf_counter() - started) * YIELD_FACTOR)
            if not due:
                await loop.run_in_executor(self._executor, self._update_gauge, False)
                try:
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval)
                except TimeoutError:
                    pass
        await loop.run_in_executor(self._executor, self._update_gauge, True)

    def _restore_backoffs(self) -> None:
        """Back-offs of failed entries from before a restart (``not_before`` beside them).

        A wait is capped at ``backoff_max``: a clock set back must not park an entry.
        """
        now, wall = time.monotonic(), datetime.now(UTC)
        for entry_id in self.spool.pending():
            when = self.spool.not_before(entry_id)
            if when is None or entry_id in self._retries:
                continue
            wait = min((when - wall).total_seconds(), self.settings.backoff_max)
            if wait > 0:
                self._retries[entry_id] = _Retry(now + wait)

    def _due(self) -> list[str]:
        now = time.monotonic()
        return [i for i in self.spool.pending()
                if i not in self._retries or self._retries[i].not_before <= now]

    def _update_gauge(self, force: bool) -> None:
        """Spool counts for ``ndrtrack_spool_entries`` (in the worker: done/ can be large)."""
        now = time.monotonic()
        if force or now - self._last_gauge >= GAUGE_INTERVAL:
            self._last_gauge = now
            for state, count in self.spool.counts().items():
                SPOOL_ENTRIES.labels(state).set(count)

    # one entry (worker thread) -----------------------------------------------------
    def process(self, entry_id: str) -> str:
        """Run one entry through the stages; return the outcome (done, retry, shunted, gone)."""
        started = time.perf_counter()
        try:
            entry = self.spool.claim(entry_id)
        except SpoolError as exc:  # the spool, not the message: try again, never shunt for it
            log.error("%s", exc, extra=_ids(entry_id))
            self._defer(entry_id)
            return "deferred"
        if entry is None:
            return "gone"  # taken by someone else
        ctx: StageContext | None = None
        try:
            attempt = self.spool.count_attempt(entry_id)
        except SpoolError as exc:  # the spool again: back to new/ untried, not a failed try
            log.error("%s", exc, extra=_ids(entry_id))
            self._defer(entry_id)
            self._move(entry_id, lambda: self.spool.requeue(entry_id))
            return "deferred"
        try:
            if attempt > self.settings.max_tries:
                raise RuntimeError(f"taken up {attempt - 1} times without finishing: the "
                                   "daemon may have stopped while processing it")
            ctx = StageContext(entry=entry, message=self.spool.read_message(entry),
                               store=self.store, config=self.config)
            self._run_stages(ctx)
        except Exception as exc:  # a stage or the store failed: retry later, keep running
            outcome = self._failed(entry_id, exc, attempt)
        else:
            self._retries.pop(entry_id, None)
            # the stages are done: a spool refusing the move now must not count as a failed
            # try of the message (a long outage would shunt good entries); moved later
            self._move(entry_id, lambda: self.spool.finish(entry_id))
            outcome = "done"
            log.info("done in %.1f ms", (time.perf_counter() - started) * 1000,
                     extra=_ids(entry_id, ctx.case_id if ctx else None))
        RUNNER_PROCESSED.labels(outcome).inc()
        RUNNER_SECONDS.observe(time.perf_counter() - started)
        return outcome

    def _run_stages(self, ctx: StageContext) -> None:
        ctx.case_id = self.store.case_id_for(ctx.entry.id)
        for stage in self.stages:
            if ctx.case_id is not None and self.store.stage_done(ctx.case_id, stage.name):
                log.debug("stage %s already done", stage.name, extra=_ids(ctx.entry.id))
                continue
            try:
                result = stage.run(ctx)
            except Exception as exc:
                STAGE_ERRORS.labels(stage.name).inc()
                if ctx.case_id is not None:
                    self._record_error(ctx, stage, exc)
                raise StageFailed(stage.name, exc) from exc
            ctx.results[stage.name] = result
            if ctx.case_id is None:
                raise StageFailed(stage.name, RuntimeError("no case recorded by the first stage"))
            self.store.record_stage(ctx.case_id, stage.name, "ok", result, state=stage.state)

    def _record_error(self, ctx: StageContext, stage: Stage, exc: Exception) -> None:
        assert ctx.case_id is not None
        try:
            self.store.record_stage(ctx.case_id, stage.name, "error",
                                    {"error": f"{type(exc).__name__}: {exc}"})
        except Exception as store_exc:  # the store may be what failed
            log.warning("cannot record the error of stage %s: %s", stage.name, store_exc,
                        extra=_ids(ctx.entry.id))

    def _defer(self, entry_id: str) -> None:
        """Leave an entry where it is for a while (its spool could not be used just now)."""
        self._retries[entry_id] = _Retry(time.monotonic() + self.settings.backoff_initial)

    def _failed(self, entry_id: str, exc: Exception, attempt: int) -> str:
        settings = self.settings
        if attempt >= settings.max_tries:
            self._retries.pop(entry_id, None)
            error = "".join(traceback.format_exception(exc))
            log.error("failed %d times, shunted: %s", attempt, exc, extra=_ids(entry_id))
            self._move(entry_id, lambda: self.spool.shunt(entry_id, error))
            return "shunted"
        delay = min(settings.backoff_initial * 2 ** (attempt - 1), settings.backoff_max)
        self._retries[entry_id] = _Retry(time.monotonic() + delay)
        try:
            self.spool.set_not_before(entry_id, datetime.now(UTC) + timedelta(seconds=delay))
        except SpoolError as spool_exc:  # the timer in memory still holds until a restart
            log.warning("%s", spool_exc, extra=_ids(entry_id))
        log.warning("try %d/%d failed, retrying in %.1fs: %s", attempt, settings.max_tries,
                    delay, exc, extra=_ids(entry_id))
        self._move(entry_id, lambda: self.spool.requeue(entry_id))
        return "retry"

    def _move(self, entry_id: str, move: Callable[[], None]) -> None:
        """Move an entry out of ``processing/``; if the spool refuses, redo it on later turns.

        A spool that was briefly read-only or full must not strand the entry in
        ``processing/`` until the next restart (``Spool.setup`` would put it back then).
        """
        try:
            move()
        except SpoolError as exc:
            log.error("%s", exc, extra=_ids(entry_id))
            self._stranded[entry_id] = move
        else:
            self._stranded.pop(entry_id, None)

    def _redo_moves(self) -> None:
        """Another try at the moves the spool refused (quietly: the first refusal was logged)."""
        for entry_id, move in list(self._stranded.items()):
            try:
                move()
            except SpoolError:
                continue
            del self._stranded[entry_id]
            log.info("moved out of processing/ now that the spool allows it",
                     extra=_ids(entry_id))
