"""The spool's batched writes, with both barriers (syncfs group commit and fsync per file)."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from ndrtrack.errors import SpoolError
from ndrtrack.intake.spool import Envelope, Spool, SpoolWriter


def envelope(n: int = 0) -> Envelope:
    return Envelope(mail_from=f"s{n}@client.test", rcpt_tos=("ndr@example.test",),
                    peer="127.0.0.1", helo="client.test")


@pytest.fixture(params=[True, False], ids=["syncfs", "fsync"])
def spool(request: pytest.FixtureRequest, tmp_path: Path) -> Spool:
    s = Spool(tmp_path / "spool", group_commit=request.param)
    s.setup()
    return s


def test_batch_entries_are_complete_in_new_and_in_order(spool: Spool) -> None:
    items = [(f"message {n}\r\n".encode() * (n + 1), envelope(n)) for n in range(5)]
    results = spool.store_batch(items)
    assert all(not isinstance(r, SpoolError) for r in results)
    assert [r.id for r in results] == sorted(r.id for r in results) == spool.pending()
    for (data, env), entry in zip(items, results, strict=True):
        directory = spool.root / "new" / entry.id
        assert (directory / "message.eml").read_bytes() == data
        record = json.loads((directory / "envelope.json").read_text())
        assert record["mail_from"] == env.mail_from and record["size"] == len(data)
    assert list((spool.root / "tmp").iterdir()) == []


def test_a_failed_barrier_fails_the_whole_batch_and_leaves_nothing(
        spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def failing_barrier(directories: list[str]) -> None:
        calls.append(directories)
        if len(calls) == 2:  # the barrier after the renames: EIO from the disk
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(spool, "_barrier", failing_barrier)
    results = spool.store_batch([(b"a\r\n", envelope()), (b"b\r\n", envelope())])
    assert all(isinstance(r, SpoolError) for r in results)
    assert spool.pending() == [] and list((spool.root / "tmp").iterdir()) == []


def test_store_raises_spool_error_when_the_spool_is_gone(spool: Spool) -> None:
    (spool.root / "tmp").rename(spool.root / "tmp-moved")
    with pytest.raises(SpoolError):
        spool.store(b"x\r\n", envelope())
    assert spool.pending() == []


def test_writer_serves_concurrent_sessions(spool: Spool) -> None:
    writer = SpoolWriter(spool, threads=2)

    async def main() -> list[str]:
        entries = await asyncio.gather(*(writer.store(f"m{n}\r\n".encode(), envelope(n))
                                         for n in range(50)))
        return [e.id for e in entries]

    try:
        ids = asyncio.run(main())
    finally:
        writer.close()
    assert len(set(ids)) == 50 and sorted(ids) == spool.pending()
    assert not any(t.name.startswith("ndrtrack-spool") for t in threading.enumerate())


def test_writer_reports_failures_to_the_waiting_session(spool: Spool) -> None:
    writer = SpoolWriter(spool, threads=1)
    (spool.root / "tmp").rename(spool.root / "tmp-moved")

    async def main() -> None:
        with pytest.raises(SpoolError):
            await writer.store(b"x\r\n", envelope())

    try:
        asyncio.run(main())
    finally:
        writer.close()
