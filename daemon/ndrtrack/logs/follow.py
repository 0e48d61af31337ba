"""Follow a live log file: rotation by rename and by copytruncate, no line lost or repeated.

A file is identified by its *fingerprint* (a hash of its first line), not its name.  The
position reached is written to the index in the same transaction as the traces of the
lines before it (``log_checkpoints``), and a small JSON state file under ``logs.state_path``
remembers which file (device, inode, fingerprint) was being read.  Then:

- **rename** (``mail.log`` → ``mail.log.1``, a new ``mail.log``): the open descriptor still
  reads the old file; it is read to its end before the new file is opened at position 0;
- **copytruncate** (the file is copied, then truncated in place): the size drops below the
  position, or the first line changes; the lines written between the last read and the copy
  are read from the rotated copy (a sibling with the same fingerprint), then the truncated
  file is read from 0;
- **restart**: the checkpoint of the current file's fingerprint gives the position; if the file
  was rotated meanwhile, the sibling with the remembered fingerprint is finished first.

Only complete lines (ending in a newline) are read, so a line being written is never split.
"""

from __future__ import annotations

import asyncio
import glob
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from ndrtrack.config import LogsConfig, LogSource
from ndrtrack.logs.importer import fingerprint
from ndrtrack.logs.ingest import Ingestor, LineReader
from ndrtrack.logs.syslog import Clock
from ndrtrack.store.base import Store

log = logging.getLogger(__name__)

READ_BYTES = 4 * 1024 * 1024


@dataclass(slots=True)
class _Open:
    fh: BinaryIO
    dev: int
    inode: int
    fp: str
    position: int
    reader: LineReader


class FileFollower:
    """The synchronous core: ``poll()`` reads what is new (call it from a worker thread)."""

    def __init__(self, *, config: LogsConfig, store: Store, source: LogSource) -> None:
        self.config = config
        self.store = store
        self.source = source
        self.ingestor = Ingestor(store=store, label="follow")
        self.current: _Open | None = None
        self.lines = 0
        name = "".join(c if c.isalnum() else "_" for c in source.path)[-120:]
        self.state_file = Path(config.state_path) / f"follow-{name}.json"

    # state -------------------------------------------------------------------
    def _load_state(self) -> dict[str, object]:
        try:
            return dict(json.loads(self.state_file.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {}

    def _save_state(self) -> None:
        cur = self.current
        if cur is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"path": self.source.path, "dev": cur.dev, "inode": cur.inode,
                                   "fingerprint": cur.fp, "position": cur.position}),
                       encoding="utf-8")
        os.replace(tmp, self.state_file)

    # reading -----------------------------------------------------------------
    def poll(self) -> int:
        """Read every complete new line; returns how many lines were read."""
        before = self.lines
        if self.current is None:
            self._open_current(resume=True)
        cur = self.current
        if cur is None:
            return 0
        try:
            st = os.stat(self.source.path)
        except FileNotFoundError:
            st = None
        if st is not None and (st.st_ino, st.st_dev) != (cur.inode, cur.dev):
            self._read(cur, to_end=True)  # renamed away: finish the old file
            cur.fh.close()
            self.current = None
            self._open_current(resume=False)
        elif st is not None and (st.st_size < cur.position or _first_line_fp(cur.fh) != cur.fp):
            self._finish_from_copy(cur)  # copytruncate
            cur.fh.close()
            self.current = None
            self._open_current(resume=False)
        if self.current is not None:
            self._read(self.current)
        return self.lines - before

    def _open_current(self, *, resume: bool) -> None:
        try:
            fh = open(self.source.path, "rb")  # noqa: SIM115 - kept open across polls
        except FileNotFoundError:
            return
        st = os.fstat(fh.fileno())
        fp = _first_line_fp(fh)
        if not fp:  # empty, or its first line is still being written
            fh.close()
            return
        if resume:
            self._finish_rotated_while_down(fp)
        position = self.store.log_checkpoint(fp)
        reader = LineReader(clock=Clock(self.config.timezone, datetime.now(UTC)),
                            fmt=self.source.format, host=self.source.host,
                            source=self.source.path, first_lines=_head(fh))
        self.current = _Open(fh, st.st_dev, st.st_ino, fp, position, reader)

    def _finish_rotated_while_down(self, fp: str) -> None:
        state = self._load_state()
        old_fp = state.get("fingerprint")
        if not old_fp or old_fp == fp:
            return
        sibling = self._sibling_with(str(old_fp))
        if sibling is None:
            log.warning("%s: rotated while stopped and the old file was not found; lines "
                        "after position %s of it are not indexed", self.source.path,
                        state.get("position"))
            return
        with open(sibling, "rb") as fh:
            st = os.fstat(fh.fileno())
            position = self.store.log_checkpoint(str(old_fp))
            old = _Open(fh, st.st_dev, st.st_ino, str(old_fp), position,
                        LineReader(clock=Clock(self.config.timezone, datetime.now(UTC)),
                                   fmt=self.source.format, host=self.source.host,
                                   source=sibling, first_lines=_head(fh)))
            self._read(old, to_end=True)

    def _finish_from_copy(self, cur: _Open) -> None:
        sibling = self._sibling_with(cur.fp)
        if sibling is None:
            log.warning("%s: truncated; the copy was not found, lines after position %d may be "
                        "missing", self.source.path, cur.position)
            return
        with open(sibling, "rb") as fh:
            self._read(_Open(fh, 0, 0, cur.fp, cur.position, cur.reader), to_end=True)

    def _sibling_with(self, fp: str) -> str | None:
        """A rotated copy (uncompressed) of the followed file whose fingerprint is ``fp``."""
        path = self.source.path
        candidates = [p for p in glob.glob(path + ".*") + glob.glob(path + "-*")
                      if not p.endswith((".gz", ".bz2", ".xz", ".zst", ".tmp"))]
        for candidate in sorted(candidates, key=lambda p: -os.path.getmtime(p)):
            try:
                with open(candidate, "rb") as fh:
                    if _first_line_fp(fh) == fp:
                        return candidate
            except OSError:
                continue
        return None

    def _read(self, cur: _Open, *, to_end: bool = False) -> None:
        """Index the complete lines after ``cur.position`` (all of them if ``to_end``)."""
        ingestor = self.ingestor
        while True:
            cur.fh.seek(cur.position)
            data = cur.fh.read(READ_BYTES)
            if not data:
                break
            end = data.rfind(b"\n") + 1
            if end == 0:
                if not to_end:
                    break  # a line still being written
                end = len(data)  # a rotated file's unterminated last line
            for raw in data[:end].splitlines():
                ev = cur.reader(raw.decode("utf-8", "replace"))
                if ev is not None:
                    ingestor.feed(ev)
                self.lines += 1
            cur.position += end
            ingestor.flush(checkpoint=(cur.fp, cur.position, self.source.path))
            cur.reader.publish()
            if cur is self.current:
                self._save_state()

    def close(self) -> None:
        if self.current is not None:
            self.current.fh.close()
            self.current = None
        self.ingestor.close()


def _first_line_fp(fh: BinaryIO) -> str:
    """Fingerprint of the first complete line, read without moving the file position."""
    head = os.pread(fh.fileno(), 4096, 0)
    end = head.find(b"\n")
    if end < 0:
        return ""
    return fingerprint(head[:end + 1])


def _head(fh: BinaryIO) -> list[str]:
    head = os.pread(fh.fileno(), 8192, 0)
    return [line.decode("utf-8", "replace") for line in head.split(b"\n")[:5]]


class LogFollower:
    """Daemon service: follows one configured source, polling every ``interval`` seconds."""

    def __init__(self, *, config: LogsConfig, store: Store, source: LogSource,
                 interval: float = 0.5) -> None:
        self.core = FileFollower(config=config, store=store, source=source)
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"follow {self.core.source.path}")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(self.core.poll)
            except Exception:  # one bad poll (disk error, DB busy) must not end following
                log.exception("%s: following failed; retrying", self.core.source.path)
            try:
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        await asyncio.to_thread(self._final)

    def _final(self) -> None:
        self.core.ingestor.flush(final=False)
        self.core.close()


def followers(*, config: LogsConfig, store: Store) -> list[LogFollower]:
    """One follower per configured source with ``follow: true``."""
    return [LogFollower(config=config, store=store, source=s) for s in config.sources if s.follow]
