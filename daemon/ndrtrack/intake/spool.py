"""The durable spool: nothing the intake accepted is ever lost.

Layout (one directory per entry, so the message and its envelope move together in one
atomic ``rename``)::

    SPOOL/tmp/<id>/          being written; never processed, swept at start-up
    SPOOL/new/<id>/          durable, waiting for the runner   (message.eml + envelope.json)
    SPOOL/processing/<id>/   claimed by the runner; put back in new/ at start-up
    SPOOL/done/<id>/         processed
    SPOOL/shunt/<id>/        failed too often; ``error.txt`` beside the message says why

``store`` returns only after both files and the entry directory are fsync'd, the entry is
renamed into ``new/`` and ``new/`` itself is fsync'd: that is the moment the SMTP intake may
answer 250.  Ids sort in arrival order (time first), which is the order the runner claims.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ndrtrack.errors import SpoolError
from ndrtrack.model import SpoolEntry

STATES = ("tmp", "new", "processing", "done", "shunt")
MESSAGE = "message.eml"
ENVELOPE = "envelope.json"
ERROR = "error.txt"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the transport knew about a message (the SMTP envelope or the mailbox it came from)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: str = ""
    helo: str = ""
    source: str = "smtp"
    tls: bool = False
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    extra: tuple[tuple[str, str], ...] = ()  # e.g. (("imap_uid", "42"),)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """A directory-per-entry durable queue (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.root = Path(path)
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def setup(self) -> None:
        """Create the state directories; sweep ``tmp/``; put ``processing/`` back into ``new/``."""
        try:
            for state in STATES:
                (self.root / state).mkdir(parents=True, exist_ok=True)
            for stale in (self.root / "tmp").iterdir():
                shutil.rmtree(stale, ignore_errors=True)
            for claimed in (self.root / "processing").iterdir():
                os.rename(claimed, self.root / "new" / claimed.name)
            _fsync_dir(str(self.root / "new"))
        except OSError as exc:
            raise SpoolError(f"spool {self.root}: cannot set up: {exc}") from exc

    def new_id(self, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        with self._lock:
            seq = next(self._counter) % 1_000_000
        return f"{now:%Y%m%dT%H%M%S%f}-{seq:06d}-{secrets.token_hex(3)}"

    # writing ------------------------------------------------------------------
    def store(self, data: bytes, envelope: Envelope) -> SpoolEntry:
        """Write one message durably; raise ``SpoolError`` and leave nothing in ``new/`` if not."""
        entry_id = self.new_id(envelope.received_at)
        tmp_dir = self.root / "tmp" / entry_id
        final = self.root / "new" / entry_id
        try:
            os.mkdir(tmp_dir, 0o750)
            _write_file(str(tmp_dir / MESSAGE), data)
            _write_file(str(tmp_dir / ENVELOPE), self._envelope_json(entry_id, envelope, data))
            _fsync_dir(str(tmp_dir))
            os.rename(tmp_dir, final)
            _fsync_dir(str(self.root / "new"))
        except OSError as exc:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            if final.exists() and not (final / MESSAGE).exists():
                shutil.rmtree(final, ignore_errors=True)
            raise SpoolError(f"spool {self.root}: cannot store {entry_id}: "
                             f"{exc.strerror or exc}") from exc
        return self._entry(entry_id, final, envelope)

    @staticmethod
    def _envelope_json(entry_id: str, envelope: Envelope, data: bytes) -> bytes:
        record = {
            "id": entry_id,
            "received_at": envelope.received_at.isoformat(),
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "peer": envelope.peer,
            "helo": envelope.helo,
            "source": envelope.source,
            "tls": envelope.tls,
            "size": len(data),
            "extra": dict(envelope.extra),
        }
        return json.dumps(record, indent=1).encode()

    @staticmethod
    def _entry(entry_id: str, directory: Path, envelope: Envelope) -> SpoolEntry:
        return SpoolEntry(id=entry_id, received_at=envelope.received_at,
                          mail_from=envelope.mail_from, rcpt_tos=envelope.rcpt_tos,
                          peer=envelope.peer, path=str(directory / MESSAGE), helo=envelope.helo,
                          source=envelope.source, tls=envelope.tls)

    # reading and moving ---------------------------------------------------------
    def pending(self) -> list[str]:
        """Ids waiting in ``new/``, oldest first."""
        return sorted(p.name for p in (self.root / "new").iterdir())

    def claim(self, entry_id: str) -> SpoolEntry | None:
        """Move an entry to ``processing/``; None when another claimer took it first."""
        try:
            os.rename(self.root / "new" / entry_id, self.root / "processing" / entry_id)
        except FileNotFoundError:
            return None
        return self.load("processing", entry_id)

    def load(self, state: str, entry_id: str) -> SpoolEntry:
        directory = self.root / state / entry_id
        try:
            record = json.loads((directory / ENVELOPE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SpoolError(f"spool entry {state}/{entry_id}: unreadable envelope: {exc}") \
                from exc
        envelope = Envelope(
            mail_from=record.get("mail_from", ""), rcpt_tos=tuple(record.get("rcpt_tos", ())),
            peer=record.get("peer", ""), helo=record.get("helo", ""),
            source=record.get("source", "smtp"), tls=bool(record.get("tls")),
            received_at=datetime.fromisoformat(record["received_at"]),
        )
        return self._entry(entry_id, directory, envelope)

    def read_message(self, entry: SpoolEntry) -> bytes:
        return Path(entry.path).read_bytes()

    def finish(self, entry_id: str) -> None:
        """``processing/`` → ``done/``."""
        self._move(entry_id, "processing", "done")

    def requeue(self, entry_id: str) -> None:
        """``processing/`` → ``new/`` (a later try)."""
        self._move(entry_id, "processing", "new")

    def shunt(self, entry_id: str, error: str) -> None:
        """``processing/`` → ``shunt/`` with the error written beside the message."""
        directory = self.root / "processing" / entry_id
        try:
            (directory / ERROR).write_text(error, encoding="utf-8")
        except OSError:
            pass  # the move matters more than the note
        self._move(entry_id, "processing", "shunt")

    def _move(self, entry_id: str, src: str, dst: str) -> None:
        try:
            os.rename(self.root / src / entry_id, self.root / dst / entry_id)
            _fsync_dir(str(self.root / dst))
        except OSError as exc:
            raise SpoolError(f"spool entry {entry_id}: cannot move {src}/ → {dst}/: {exc}") \
                from exc

    def counts(self) -> dict[str, int]:
        """Entries per state (for the ``ndrtrack_spool_entries`` gauge and /readyz)."""
        result = {}
        for state in STATES:
            try:
                result[state] = sum(1 for _ in os.scandir(self.root / state))
            except OSError:
                result[state] = 0
        return result

    def writable(self) -> bool:
        return os.access(self.root / "tmp", os.W_OK) and os.access(self.root / "new", os.W_OK)

    def iter_state(self, state: str) -> Iterator[str]:
        return iter(sorted(p.name for p in (self.root / state).iterdir()))
