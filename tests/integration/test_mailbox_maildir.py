"""The Maildir poller against a real Maildir, delivered into the way an MTA does it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

import pytest
from mailbox_lab import Captured, crash_poll, deliver, drive, message, spool_envelopes
from prometheus_client import REGISTRY

from ndrtrack.config import MaildirSource
from ndrtrack.intake.mailbox import MAILDIR_PROCESSED, MaildirPoller
from ndrtrack.intake.spool import Spool


def polls(result: str) -> float:
    return REGISTRY.get_sample_value("ndrtrack_mailbox_polls_total",
                                     {"source": "maildir", "result": result}) or 0.0


def test_move_stores_each_message_once_then_moves_it(tmp_path: Path, spool: Spool) -> None:
    maildir = tmp_path / "Maildir"
    uniques = [deliver(maildir, message(1)), deliver(maildir, message(2)),
               deliver(maildir, message(3), into="cur", info="F")]
    poller = MaildirPoller(source=MaildirSource(path=str(maildir), after="move"), spool=spool,
                           interval=0.05)
    asyncio.run(drive(poller, polls=3))

    envelopes = spool_envelopes(spool.root)
    assert sorted(e["extra"]["mailbox_key"] for e in envelopes) == sorted(uniques)
    assert {e["message"] for e in envelopes} == {message(1), message(2), message(3)}
    first = next(e for e in envelopes if e["message"] == message(1))
    assert first["source"] == "maildir"
    assert first["mail_from"] == "MAILER-DAEMON@mx1.example.org"
    assert first["rcpt_tos"] == ["ndr-track@example.org"]
    assert first["extra"]["mailbox"] == str(maildir)
    assert not os.listdir(maildir / "new") and not os.listdir(maildir / "cur")
    moved = sorted(os.listdir(maildir / MAILDIR_PROCESSED / "cur"))
    assert sorted(name.split(":")[0] for name in moved) == sorted(uniques)
    assert f"{uniques[2]}:2,FS" in moved  # existing flags kept, Seen added
    assert (maildir / MAILDIR_PROCESSED / "maildirfolder").exists()
    assert poller.ledger.stored == {}  # forgotten once gone from the source


def test_delete_and_later_deliveries(tmp_path: Path, spool: Spool) -> None:
    maildir = tmp_path / "Maildir"
    deliver(maildir, message(1))
    poller = MaildirPoller(source=MaildirSource(path=str(maildir), after="delete"), spool=spool,
                           interval=0.05)
    asyncio.run(drive(poller))
    deliver(maildir, message(2))
    asyncio.run(drive(poller))
    assert [e["message"] for e in spool_envelopes(spool.root)] == [message(1), message(2)]
    assert not os.listdir(maildir / "new") and not (maildir / MAILDIR_PROCESSED).exists()


@pytest.mark.parametrize("crash", ["act", "mark_stored"])
def test_crash_between_store_and_move_stores_nothing_twice(tmp_path: Path, spool: Spool,
                                                            crash: str) -> None:
    maildir = tmp_path / "Maildir"
    uniques = [deliver(maildir, message(n)) for n in range(4)]
    source = MaildirSource(path=str(maildir), after="move")
    crash_poll("maildir", dataclasses.asdict(source), spool.root, crash)
    assert len(spool_envelopes(spool.root)) == 1  # stored, and then the process died

    restarted = Spool(spool.root)
    restarted.setup()
    poller = MaildirPoller(source=source, spool=restarted, interval=0.05)
    asyncio.run(drive(poller, polls=2))
    keys = [e["extra"]["mailbox_key"] for e in spool_envelopes(spool.root)]
    assert sorted(keys) == sorted(uniques)  # every message exactly once
    assert len(os.listdir(maildir / MAILDIR_PROCESSED / "cur")) == 4


def test_missing_maildir_is_logged_counted_and_retried(tmp_path: Path, spool: Spool) -> None:
    maildir = tmp_path / "absent"
    poller = MaildirPoller(source=MaildirSource(path=str(maildir)), spool=spool,
                           interval=0.05, backoff_initial=0.05, backoff_max=0.1)
    before = polls("mailbox_error")

    async def scenario() -> None:
        await poller.start()
        while poller.polls < 2:
            await asyncio.sleep(0.02)
        assert not poller.ready()
        deliver(maildir, message(7))  # the MTA creates it later: the poller recovers
        seen = poller.polls
        while poller.polls < seen + 2:
            await asyncio.sleep(0.02)
        assert poller.ready()
        await poller.stop()

    with Captured() as log:
        asyncio.run(asyncio.wait_for(scenario(), 20))
    assert polls("mailbox_error") >= before + 2
    failure = next(line for line in log.lines if "failed" in line)
    assert str(maildir) in failure and "mailbox_error" in failure and "retrying in" in failure
    assert [e["message"] for e in spool_envelopes(spool.root)] == [message(7)]
    assert any("works again" in line for line in log.lines)
    assert not poller.ready()  # stopped


def test_unwritable_spool_leaves_the_message_in_place(tmp_path: Path, spool: Spool) -> None:
    maildir = tmp_path / "Maildir"
    unique = deliver(maildir, message(1))
    (spool.root / "tmp").rmdir()
    (spool.root / "tmp").write_text("not a directory")  # every store now fails, even as root
    poller = MaildirPoller(source=MaildirSource(path=str(maildir)), spool=spool, interval=0.05)
    before = polls("spool_error")
    with Captured() as log:
        asyncio.run(drive(poller))
    assert polls("spool_error") - before == poller.polls >= 1
    assert any("spool_error" in line for line in log.lines)
    assert os.listdir(maildir / "new") == [unique]
    assert spool_envelopes(spool.root) == []


def test_oversized_message_stays_in_the_maildir(tmp_path: Path, spool: Spool) -> None:
    maildir = tmp_path / "Maildir"
    big = deliver(maildir, message(1, size=5000))
    deliver(maildir, message(2))
    poller = MaildirPoller(source=MaildirSource(path=str(maildir)), spool=spool, interval=0.05,
                           max_message_size=2000)
    with Captured() as log:
        asyncio.run(drive(poller, polls=2))
    assert [e["message"] for e in spool_envelopes(spool.root)] == [message(2)]
    assert os.listdir(maildir / "new") == [big]
    assert sum("over the limit" in line for line in log.lines) == 1  # warned once


def test_a_full_batch_is_followed_at_once_by_the_next(tmp_path: Path, spool: Spool) -> None:
    maildir = tmp_path / "Maildir"
    for n in range(5):
        deliver(maildir, message(n))
    poller = MaildirPoller(source=MaildirSource(path=str(maildir)), spool=spool,
                           interval=3600, batch=2)  # only the batch rule can poll again

    async def scenario() -> None:
        await poller.start()
        while len(spool_envelopes(spool.root)) < 5:
            await asyncio.sleep(0.02)
        await poller.stop()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert sorted(e["message"] for e in spool_envelopes(spool.root)) == \
        sorted(message(n) for n in range(5))
