"""The poll loop: backoff, unexpected errors, stop while a poll runs, the on_stored hook."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from ndrtrack.config import MaildirSource
from ndrtrack.errors import MailboxError
from ndrtrack.intake.mailbox import MaildirPoller
from ndrtrack.intake.spool import Spool


class Scripted(MaildirPoller):
    """A poller whose polls follow a script: an exception to raise, or a count to return."""

    def __init__(self, spool: Spool, script: list[object], **kwargs: float) -> None:
        super().__init__(source=MaildirSource(path="/nonexistent"), spool=spool,
                         interval=kwargs.pop("interval", 0.01), **kwargs)  # type: ignore[arg-type]
        self.script = script
        self.started = threading.Event()
        self.release = threading.Event()

    def poll_once(self) -> int:
        step = self.script.pop(0) if self.script else 0
        if step == "block":
            self.started.set()
            self.release.wait(10)
            return 0
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, int)
        return step


@pytest.fixture
def lines() -> list[str]:
    captured: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record.getMessage() + (" +traceback" if record.exc_info else ""))

    logger = logging.getLogger("ndrtrack.intake.mailbox")
    handler = Handler()
    logger.addHandler(handler)
    yield captured
    logger.removeHandler(handler)


def run_until(poller: Scripted, polls: int) -> None:
    async def scenario() -> None:
        await poller.start()
        while poller.polls < polls:
            await asyncio.sleep(0.005)
        await poller.stop()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_backoff_doubles_up_to_the_maximum(spool: Spool) -> None:
    poller = Scripted(spool, [], backoff_initial=2, backoff_max=30)
    assert [poller.backoff(n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert poller.backoff(10_000) == 30


def test_failures_are_retried_with_backoff_then_recover(spool: Spool, lines: list[str]) -> None:
    failure = MailboxError("cannot connect: refused", kind="connect_error")
    poller = Scripted(spool, [failure, failure, failure, 0], backoff_initial=0.01,
                      backoff_max=0.02)
    run_until(poller, 4)
    retries = [line for line in lines if "retrying" in line]
    assert [r.split("retrying in ")[1] for r in retries] == ["0.01s", "0.02s", "0.02s"]
    assert all("connect_error" in r and "/nonexistent" in r for r in retries)
    assert poller.last_error == ""


def test_an_unexpected_exception_is_logged_with_traceback_and_survived(
        spool: Spool, lines: list[str]) -> None:
    poller = Scripted(spool, [RuntimeError("bug"), 0], backoff_initial=0.01)
    run_until(poller, 2)
    assert any("(error): bug" in line and line.endswith("+traceback") for line in lines)


def test_on_stored_runs_only_when_something_was_stored(spool: Spool) -> None:
    calls: list[int] = []
    poller = Scripted(spool, [0, 2, 0], on_stored=lambda: calls.append(1))
    run_until(poller, 3)
    assert calls == [1]


def test_stop_waits_for_the_poll_in_hand(spool: Spool) -> None:
    poller = Scripted(spool, ["block", 5])

    async def scenario() -> None:
        await poller.start()
        await asyncio.to_thread(poller.started.wait, 10)
        assert poller.ready() is False  # no poll has completed yet
        stopping = asyncio.create_task(poller.stop())
        await asyncio.sleep(0.05)
        assert not stopping.done()  # the poll in hand is finished first
        poller.release.set()
        await stopping

    asyncio.run(asyncio.wait_for(scenario(), 20))
    assert poller.polls == 1 and poller.script == [5]  # no poll after stop
    assert not poller.ready()
