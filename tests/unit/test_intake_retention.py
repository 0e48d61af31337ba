"""Retention of the spool's done/: old processed entries go, shunt/ and the queue stay.

Ages are made by setting an entry's mtime in the past (``os.utime``), never by waiting.
"""

from __future__ import annotations

import asyncio
import os
import time

from prometheus_client import REGISTRY

from ndrtrack.app import SERVICE_FACTORIES
from ndrtrack.config import Config, SpoolConfig
from ndrtrack.intake.retention import DAY, SpoolPurger
from ndrtrack.intake.spool import Envelope, Spool


def store(spool: Spool) -> str:
    return spool.store(b"Subject: x\r\n\r\nbody\r\n",
                       Envelope(mail_from="", rcpt_tos=("ndr@example.test",))).id


def finished(spool: Spool, age_days: float = 0.0) -> str:
    """An entry the runner finished ``age_days`` ago."""
    entry_id = store(spool)
    spool.claim(entry_id)
    spool.finish(entry_id)
    if age_days:
        when = time.time() - age_days * DAY
        os.utime(spool.root / "done" / entry_id, (when, when))
    return entry_id


def aged(spool: Spool, state: str, entry_id: str, age_days: float) -> None:
    when = time.time() - age_days * DAY
    os.utime(spool.root / state / entry_id, (when, when))


def purged_total() -> float:
    return REGISTRY.get_sample_value("ndrtrack_spool_purged_total") or 0.0


def test_done_entries_older_than_the_retention_are_deleted(spool: Spool) -> None:
    old, recent = finished(spool, age_days=31), finished(spool, age_days=29)
    before = purged_total()
    purger = SpoolPurger(config=SpoolConfig(path=str(spool.root), done_retention_days=30),
                         spool=spool)
    assert asyncio.run(purger.purge_once()) == 1
    assert list(spool.iter_state("done")) == [recent]
    assert not (spool.root / "done" / old).exists()
    assert purged_total() == before + 1


def test_shunt_and_waiting_entries_are_never_purged(spool: Spool) -> None:
    shunted, waiting = store(spool), store(spool)
    spool.claim(shunted)
    spool.shunt(shunted, "it failed")
    aged(spool, "shunt", shunted, 400)
    aged(spool, "new", waiting, 400)
    purger = SpoolPurger(config=SpoolConfig(done_retention_days=1), spool=spool)
    assert asyncio.run(purger.purge_once()) == 0
    assert list(spool.iter_state("shunt")) == [shunted]
    assert spool.pending() == [waiting]


def test_zero_keeps_done_forever(spool: Spool) -> None:
    old = finished(spool, age_days=4000)
    purger = SpoolPurger(config=SpoolConfig(done_retention_days=0), spool=spool)
    assert asyncio.run(purger.purge_once()) == 0
    assert list(spool.iter_state("done")) == [old]


def test_the_age_is_the_completion_time_not_the_arrival(spool: Spool) -> None:
    """An entry that waited long in new/ (retries, a backlog) is kept from when it finished."""
    entry_id = store(spool)
    aged(spool, "new", entry_id, 100)
    spool.claim(entry_id)
    aged(spool, "processing", entry_id, 100)
    spool.finish(entry_id)
    purger = SpoolPurger(config=SpoolConfig(done_retention_days=30), spool=spool)
    assert asyncio.run(purger.purge_once()) == 0
    assert list(spool.iter_state("done")) == [entry_id]
    assert asyncio.run(purger.purge_once(now=time.time() + 31 * DAY)) == 1


def test_the_daemon_runs_the_purger_unless_retention_is_off() -> None:
    (configured,) = [c for name, c, _ in SERVICE_FACTORIES if name == "spool retention"]
    assert configured(Config())
    assert not configured(Config(spool=SpoolConfig(done_retention_days=0)))
