"""The runner on a real spool directory and a real SQLite store, with test stages."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ndrtrack.config import Config, RunnerConfig
from ndrtrack.errors import SpoolError
from ndrtrack.intake.record import STAGE as CASE_STAGE
from ndrtrack.intake.runner import Runner
from ndrtrack.intake.spool import Envelope, Spool
from ndrtrack.intake.stages import (
    STAGE_MODULES,
    WARM_UPS,
    Stage,
    StageContext,
    load_stages,
    warm_up,
)
from ndrtrack.store.sqlite import SqliteStore

MESSAGE = (b"From: =?iso-8859-1?q?Andr=E9?= <andre@client.test>\r\nTo: ndr@example.test\r\n"
           b"Subject: =?UTF-8?B?VW5kZWxpdmVyYWJsZTog8J+Tpw==?=\r\n"
           b"Date: Sat, 28 Nov 2026 04:00:00 +0000\r\nMessage-ID: <m1@client.test>\r\n\r\nbody\r\n")


@pytest.fixture
def store(tmp_path: Path):
    s = SqliteStore(str(tmp_path / "db.sqlite3"))
    s.setup()
    yield s
    s.close()


def config(max_tries: int = 3) -> Config:
    return Config(runner=RunnerConfig(max_tries=max_tries, backoff_initial=0.01,
                                      backoff_max=0.02, poll_interval=0.05))


def store_message(spool: Spool, data: bytes = MESSAGE) -> str:
    return spool.store(data, Envelope(mail_from="", rcpt_tos=("ndr@example.test",))).id


def test_registry_starts_with_the_case_stage() -> None:
    assert STAGE_MODULES[0] == "ndrtrack.intake.record"
    assert load_stages()[0].name == "case"


def test_duplicate_stage_names_are_refused() -> None:
    with pytest.raises(ValueError):
        load_stages(("ndrtrack.intake.record", "ndrtrack.intake.record"))


def test_entry_becomes_a_case_with_decoded_headers(spool: Spool, store: SqliteStore) -> None:
    entry_id = store_message(spool)
    runner = Runner(spool=spool, store=store, config=config())
    assert runner.process(entry_id) == "done"
    assert spool.iter_state("done").__next__() == entry_id
    case = store.get_case(store.case_id_for(entry_id))
    assert case.headers.from_header == "André <andre@client.test>"
    assert case.headers.subject == "Undeliverable: 📧"
    assert case.headers.message_id == "<m1@client.test>"
    assert case.stages["case"]["outcome"] == "ok"


def test_a_failing_stage_is_retried_then_shunted_and_the_runner_goes_on(
        spool: Spool, store: SqliteStore) -> None:
    calls: list[str] = []

    def flaky(ctx: StageContext) -> dict:
        calls.append(ctx.entry.id)
        raise RuntimeError("the parser exploded")

    runner = Runner(spool=spool, store=store, config=config(max_tries=3),
                    stages=(CASE_STAGE, Stage("flaky", flaky)))
    bad, good = store_message(spool), None
    assert runner.process(bad) == "retry"
    assert bad in spool.pending()
    assert runner.process(bad) == "retry"
    assert runner.process(bad) == "shunted"
    assert list(spool.iter_state("shunt")) == [bad]
    error = (spool.root / "shunt" / bad / "error.txt").read_text()
    assert "the parser exploded" in error
    assert len(calls) == 3
    case = store.get_case(store.case_id_for(bad))
    assert case.stages["flaky"]["outcome"] == "error"
    assert store.count_cases() == 1  # three tries, one case

    runner.stages = (CASE_STAGE,)
    good = store_message(spool)
    assert runner.process(good) == "done"


def test_stages_already_done_are_skipped_after_a_crash(spool: Spool, store: SqliteStore) -> None:
    ran: list[str] = []

    def once(ctx: StageContext) -> dict:
        ran.append(ctx.entry.id)
        return {"n": 1}

    stages = (CASE_STAGE, Stage("once", once))
    entry_id = store_message(spool)
    Runner(spool=spool, store=store, config=config(), stages=stages).process(entry_id)
    # a crash after the stages, before done/: the entry is back in new/ at the next start
    (spool.root / "done" / entry_id).rename(spool.root / "processing" / entry_id)
    spool.setup()
    assert Runner(spool=spool, store=store, config=config(),
                  stages=stages).process(entry_id) == "done"
    assert ran == [entry_id]
    assert store.count_cases() == 1


def test_loop_processes_in_arrival_order_and_stops(spool: Spool, store: SqliteStore) -> None:
    order: list[str] = []

    def record_order(ctx: StageContext) -> dict:
        order.append(ctx.entry.id)
        return {}

    ids = [store_message(spool) for _ in range(5)]

    async def main() -> None:
        runner = Runner(spool=spool, store=store, config=config(),
                        stages=(CASE_STAGE, Stage("order", record_order)))
        await runner.start()
        for _ in range(200):
            if len(order) == len(ids):
                break
            await asyncio.sleep(0.01)
        later = store_message(spool)
        runner.wake()
        for _ in range(200):
            if later in order:
                break
            await asyncio.sleep(0.01)
        await runner.stop()
        assert not runner.running

    asyncio.run(main())
    assert order[:5] == sorted(ids) == ids
    assert len(order) == 6


def test_an_entry_the_daemon_keeps_dying_on_is_shunted(spool: Spool, store: SqliteStore) -> None:
    entry_id = store_message(spool)
    for _ in range(3):  # three starts that died inside the stages: claimed, never finished
        spool.claim(entry_id)
        spool.count_attempt(entry_id)
        spool.setup()  # the next start puts it back into new/
    runner = Runner(spool=spool, store=store, config=config(max_tries=3))
    assert runner.process(entry_id) == "shunted"
    error = (spool.root / "shunt" / entry_id / "error.txt").read_text()
    assert "taken up 3 times without finishing" in error
    assert store.count_cases() == 0  # its stages were not run a fourth time


def test_attempts_survive_in_the_entry(spool: Spool, store: SqliteStore) -> None:
    def boom(ctx: StageContext) -> dict:
        raise ValueError("no")

    entry_id = store_message(spool)
    Runner(spool=spool, store=store, config=config(max_tries=2),
           stages=(CASE_STAGE, Stage("boom", boom))).process(entry_id)
    # a new runner (a restart) knows it is the second try
    assert Runner(spool=spool, store=store, config=config(max_tries=2),
                  stages=(CASE_STAGE, Stage("boom", boom))).process(entry_id) == "shunted"


def run_until(runner: Runner, done: Callable[[], bool]) -> None:
    """Run the runner's loop until ``done()`` (or 400 looks), then stop it."""
    async def main() -> None:
        await runner.start()
        for _ in range(400):
            if done():
                break
            await asyncio.sleep(0.01)
        await runner.stop()

    asyncio.run(main())


def slow_config(max_tries: int = 5) -> Config:
    return Config(runner=RunnerConfig(max_tries=max_tries, backoff_initial=60, backoff_max=600,
                                      poll_interval=0.05))


def test_the_backoff_is_kept_beside_the_entry_and_survives_a_restart(
        spool: Spool, store: SqliteStore) -> None:
    tried: list[str] = []

    def fails_once_per_entry(ctx: StageContext) -> dict:
        tried.append(ctx.entry.id)
        if ctx.entry.id == bad:
            raise RuntimeError("the DNS is down")
        return {}

    stages = (CASE_STAGE, Stage("flaky", fails_once_per_entry))
    bad = store_message(spool)
    assert Runner(spool=spool, store=store, config=slow_config(),
                  stages=stages).process(bad) == "retry"
    due = spool.not_before(bad)
    assert due is not None
    assert 50 < (due - datetime.now(UTC)).total_seconds() <= 60
    good = store_message(spool)
    tried.clear()

    restarted = Runner(spool=spool, store=store, config=slow_config(), stages=stages)
    run_until(restarted, lambda: good in tried)
    assert tried == [good]  # the older, failing entry still waits for its back-off
    assert spool.pending() == [bad]


def test_a_backoff_that_has_passed_is_tried_at_once_after_a_restart(
        spool: Spool, store: SqliteStore) -> None:
    entry_id = store_message(spool)
    spool.claim(entry_id)
    spool.set_not_before(entry_id, datetime.now(UTC) - timedelta(seconds=1))
    spool.requeue(entry_id)
    runner = Runner(spool=spool, store=store, config=slow_config())
    run_until(runner, lambda: not spool.pending())
    assert list(spool.iter_state("done")) == [entry_id]


def test_a_restored_backoff_waits_at_most_backoff_max(spool: Spool, store: SqliteStore) -> None:
    """A not-before far ahead (the clock was wrong when it was written) cannot park an entry."""
    entry_id = store_message(spool)
    spool.claim(entry_id)
    spool.set_not_before(entry_id, datetime.now(UTC) + timedelta(days=365))
    spool.requeue(entry_id)
    runner = Runner(spool=spool, store=store, config=slow_config())
    runner._restore_backoffs()
    assert runner._due() == []
    assert runner._retries[entry_id].not_before - time.monotonic() <= 600


def test_every_warm_up_name_resolves() -> None:
    assert warm_up(WARM_UPS) == []


def test_a_failing_warm_up_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    assert warm_up(("ndrtrack.no_such_module", "ndrtrack.parse.codes:no_such_function")) == [
        "ndrtrack.no_such_module", "ndrtrack.parse.codes:no_such_function"]
    assert "runner warm-up: ndrtrack.no_such_module failed" in caplog.text


WARM_CHECK = """
import asyncio, sys
from ndrtrack.config import Config
from ndrtrack.intake.runner import Runner
from ndrtrack.intake.spool import Spool
from ndrtrack.store.sqlite import SqliteStore

spool, store = Spool(sys.argv[1] + "/spool"), SqliteStore(sys.argv[1] + "/db.sqlite3")
spool.setup(); store.setup()
async def main():
    runner = Runner(spool=spool, store=store, config=Config())
    cold = "ndrtrack.parse.decode" in sys.modules
    await runner.start()
    from ndrtrack.parse import codes
    print(cold, "ndrtrack.parse.decode" in sys.modules, codes.knowledge.cache_info().currsize)
    await runner.stop()
asyncio.run(main())
"""


def test_the_runner_warms_the_stages_up_before_its_first_entry(tmp_path: Path) -> None:
    """In a fresh interpreter: the decoder is loaded by ``start``, not by the first entry."""
    out = subprocess.run([sys.executable, "-c", WARM_CHECK, str(tmp_path)], check=True,
                         capture_output=True, text=True, timeout=60).stdout.split()
    assert out == ["False", "True", "1"]


def refuse_moves(spool: Spool, method: str, *, times: int,
                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The spool's ``method`` refuses its first ``times`` calls as a read-only disk would
    (a fault injected: root ignores file modes)."""
    real, refused = getattr(spool, method), iter([True] * times)

    def move(entry_id: str) -> None:
        if next(refused, False):
            raise SpoolError(f"spool entry {entry_id}: cannot move: read-only file system")
        real(entry_id)

    monkeypatch.setattr(spool, method, move)


def test_a_move_the_spool_refused_is_redone_without_a_restart(
        spool: Spool, store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spool briefly read-only (a fault injected here: root ignores file modes) must not
    strand an entry in processing/ until the next start."""
    failures = iter([True])

    def flaky_stage(ctx: StageContext) -> dict:
        if next(failures, False):
            raise RuntimeError("first try fails")
        return {}

    refuse_moves(spool, "requeue", times=1, monkeypatch=monkeypatch)
    entry_id = store_message(spool)
    runner = Runner(spool=spool, store=store, config=config(),
                    stages=(CASE_STAGE, Stage("flaky", flaky_stage)))
    assert runner.process(entry_id) == "retry"
    assert list(spool.iter_state("processing")) == [entry_id]  # the requeue was refused
    run_until(runner, lambda: bool(list(spool.iter_state("done"))))
    assert list(spool.iter_state("done")) == [entry_id]
    assert list(spool.iter_state("processing")) == []


def test_a_refused_finish_is_not_a_failed_try(
        spool: Spool, store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stages done, the spool refuses the move to done/: the entry is done (nothing retried,
    no try counted against it) and reaches done/ once the spool allows it."""
    refuse_moves(spool, "finish", times=2, monkeypatch=monkeypatch)
    entry_id = store_message(spool)
    runner = Runner(spool=spool, store=store, config=config(max_tries=1), stages=(CASE_STAGE,))
    assert runner.process(entry_id) == "done"
    assert list(spool.iter_state("processing")) == [entry_id]
    run_until(runner, lambda: bool(list(spool.iter_state("done"))))
    assert list(spool.iter_state("done")) == [entry_id]
    assert list(spool.iter_state("shunt")) == []
    assert len(store.list_cases()) == 1
