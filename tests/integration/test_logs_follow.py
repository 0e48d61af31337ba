"""Following live files on a real file system: appends, rotation by rename and by
copytruncate, restarts — every line indexed exactly once, partial lines never split."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ndrtrack.config import LogsConfig, LogSource
from ndrtrack.logs.follow import FileFollower, LogFollower
from ndrtrack.store.base import LogQuery, Store, open_store


def line(i: int) -> str:
    """A complete pre-queue reject: one line, one trace, so counting traces counts lines."""
    return (f"Nov 28 01:{i // 60 % 60:02d}:{i % 60:02d} mx postfix/smtpd[1]: NOQUEUE: reject: "
            f"RCPT from c{i}.example[192.0.2.{i % 250 + 1}]: 554 5.7.1 <r{i}@corp.test>: Relay "
            f"access denied; from=<s{i}@example.org> to=<r{i}@corp.test> proto=ESMTP helo=<c>\n")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Store, LogsConfig, Path]]:
    store = open_store("sqlite", str(tmp_path / "index.sqlite3"))
    store.setup()
    log = tmp_path / "mail.log"
    config = LogsConfig(sources=(LogSource(path=str(log)),), state_path=str(tmp_path / "state"))
    yield store, config, log
    store.close()


def senders(store: Store) -> list[str]:
    return sorted(t.sender for t in store.search(LogQuery(limit=100_000)))


def expect(n: int) -> list[str]:
    return sorted(f"s{i}@example.org" for i in range(n))


def write(path: Path, first: int, last: int, mode: str = "a") -> None:
    with path.open(mode) as f:
        f.writelines(line(i) for i in range(first, last))


def test_append_partial_line_and_rename_rotation(env: tuple[Store, LogsConfig, Path]) -> None:
    store, config, log = env
    follower = FileFollower(config=config, store=store, source=config.sources[0])
    assert follower.poll() == 0  # no file yet
    write(log, 0, 10)
    with log.open("a") as f:
        f.write(line(10)[:40])  # being written: must wait for its newline
    assert follower.poll() == 10
    with log.open("a") as f:
        f.write(line(10)[40:])
    write(log, 11, 15)
    assert follower.poll() == 5
    write(log, 15, 20)  # written just before rotation, not yet read
    log.rename(log.with_name("mail.log.1"))
    write(log, 20, 25, "w")
    assert follower.poll() == 10  # the rest of the old file, then the new one
    assert senders(store) == expect(25)
    follower.close()


def test_copytruncate_loses_nothing(env: tuple[Store, LogsConfig, Path]) -> None:
    store, config, log = env
    follower = FileFollower(config=config, store=store, source=config.sources[0])
    write(log, 0, 10)
    assert follower.poll() == 10
    write(log, 10, 14)  # not yet read when logrotate copies and truncates
    shutil.copyfile(log, log.with_name("mail.log.1"))
    with log.open("r+") as f:
        f.truncate(0)
    write(log, 14, 30)  # the truncated file grows past the old position before the next poll
    assert follower.poll() == 20
    assert senders(store) == expect(30)
    follower.close()


def test_restart_resumes_and_finishes_a_file_rotated_while_down(
        env: tuple[Store, LogsConfig, Path]) -> None:
    store, config, log = env
    first = FileFollower(config=config, store=store, source=config.sources[0])
    write(log, 0, 10)
    assert first.poll() == 10
    first.close()  # daemon stops
    write(log, 10, 12)
    os.rename(log, log.with_name("mail.log.1"))
    write(log, 12, 20, "w")
    second = FileFollower(config=config, store=store, source=config.sources[0])
    assert second.poll() == 10  # 2 from the rotated file, 8 from the new one
    assert senders(store) == expect(20)
    second.close()
    third = FileFollower(config=config, store=store, source=config.sources[0])
    assert third.poll() == 0  # position survives the restart: nothing twice
    third.close()


def test_log_follower_service(env: tuple[Store, LogsConfig, Path]) -> None:
    store, config, log = env
    write(log, 0, 5)

    async def run() -> None:
        service = LogFollower(config=config, store=store, source=config.sources[0],
                              interval=0.05)
        await service.start()
        for _ in range(200):
            if len(senders(store)) == 5:
                break
            await asyncio.sleep(0.02)
        write(log, 5, 8)
        for _ in range(200):
            if len(senders(store)) == 8:
                break
            await asyncio.sleep(0.02)
        await service.stop()

    asyncio.run(run())
    assert senders(store) == expect(8)
