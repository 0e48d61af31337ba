"""The durable spool: nothing the intake accepted is ever lost.

Layout (one directory per entry, so the message and its envelope move together in one
atomic ``rename``)::

    SPOOL/tmp/<id>/          being written; never processed, swept at start-up
    SPOOL/new/<id>/          durable, waiting for the runner   (message.eml + envelope.json)
    SPOOL/processing/<id>/   claimed by the runner; put back in new/ at start-up
    SPOOL/done/<id>/         processed; deleted after ``spool.done_retention_days``
    SPOOL/shunt/<id>/        failed too often; ``error.txt`` beside the message says why;
                             kept until an admin removes it

(``attempts`` beside a claimed entry counts the runner's tries, crashes included;
``not_before`` says when a failed entry's next try is due, so a restart keeps its back-off.)

``store`` returns only after both files and the entry directory are durable, the entry is
renamed into ``new/`` and that rename is durable too: that is the moment the SMTP intake may
answer 250.  Ids sort in arrival order (time first), which is the order the runner claims.

Durability comes in batches (``store_batch``, fed by ``SpoolWriter`` from the event loop):
on Linux >= 5.8 one ``syncfs`` covers every file and directory of a batch, elsewhere each file
and directory is fsync'd.  Either way nothing is acknowledged before its barrier returned.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import itertools
import json
import os
import queue
import secrets
import shutil
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ndrtrack.errors import SpoolError
from ndrtrack.model import SpoolEntry

STATES = ("tmp", "new", "processing", "done", "shunt")
MESSAGE = "message.eml"
ENVELOPE = "envelope.json"
ERROR = "error.txt"
ATTEMPTS = "attempts"  # how often the runner took the entry up; survives a crash
NOT_BEFORE = "not_before"  # after a failed try: when the next may start (ISO 8601, UTC)


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


def _write_file(path: str, data: bytes, *, sync: bool = True) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _libc_syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs(2)``, or None where it is missing or cannot report write errors.

    Linux reports writeback errors through ``syncfs`` only since 5.8; before that a failed
    write could go unnoticed, so older kernels (and other systems) fsync every file instead.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        major, minor = (int(part) for part in os.uname().release.split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (5, 8):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


class _Descriptor:
    """An open directory descriptor, closed when its thread's local storage goes away."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)

    def __del__(self) -> None:
        os.close(self.fd)


class _SyncHandle(threading.local):
    """Each thread's own descriptor of the spool directory, kept open for ``syncfs``.

    ``syncfs`` reports a writeback error once per open file, for errors since that file's
    last ``syncfs`` (or since it was opened).  A descriptor opened per call would miss an
    error from background writeback that happened before the open; one shared by several
    threads would report it to whichever thread asks first.  One long-lived descriptor per
    thread, opened before the thread writes anything, sees every error that could concern
    its own data (and, harmlessly, others': that batch is refused with 451).
    """

    descriptor: _Descriptor | None = None


class Spool:
    """A directory-per-entry durable queue (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], *, group_commit: bool = True) -> None:
        self.root = Path(path)
        self._syncfs = _libc_syncfs() if group_commit else None
        self._sync_handle = _SyncHandle()
        self._dirs = {state: str(self.root / state) for state in STATES}
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
        result = self.store_batch([(data, envelope)])[0]
        if isinstance(result, SpoolError):
            raise result
        return result

    def store_batch(self, items: Sequence[tuple[bytes, Envelope]]
                    ) -> list[SpoolEntry | SpoolError]:
        """Store several messages with shared durability barriers (group commit).

        Every entry is written to ``tmp/<id>/`` first; one barrier makes all of them durable
        (files and their directories), then each is renamed into ``new/`` and a second barrier
        makes the renames durable.  Only after that does any caller learn its entry exists, so
        an answer of 250 still means "on disk".  A failed barrier fails every entry of the
        batch and takes the renamed ones back out of ``new/`` (they were never acknowledged).
        Paths are plain strings here: this runs for every message, and ``pathlib`` cost more
        than the system calls it wraps.
        """
        results: list[SpoolEntry | SpoolError | None] = [None] * len(items)
        staged: list[tuple[int, str, Envelope]] = []
        if self._syncfs is not None and self._sync_handle.descriptor is None:
            try:  # before writing: the descriptor must predate any error it is to report
                self._sync_handle.descriptor = _Descriptor(self.root)
            except OSError as exc:
                return [self._error("(batch)", exc) for _ in items]
        tmp, new = self._dirs["tmp"], self._dirs["new"]
        for index, (data, envelope) in enumerate(items):
            entry_id = self.new_id(envelope.received_at)
            try:
                self._write_entry(entry_id, data, envelope)
            except OSError as exc:
                shutil.rmtree(f"{tmp}/{entry_id}", ignore_errors=True)
                results[index] = self._error(entry_id, exc)
            else:
                staged.append((index, entry_id, envelope))
        renamed: list[tuple[int, str, Envelope]] = []
        try:
            self._barrier([f"{tmp}/{entry_id}" for _, entry_id, _ in staged])
            for index, entry_id, envelope in staged:
                try:
                    os.rename(f"{tmp}/{entry_id}", f"{new}/{entry_id}")
                except OSError as exc:
                    shutil.rmtree(f"{tmp}/{entry_id}", ignore_errors=True)
                    results[index] = self._error(entry_id, exc)
                else:
                    renamed.append((index, entry_id, envelope))
            self._barrier([new] if renamed else [])
        except OSError as exc:
            self._unstage(staged, renamed)
            for index, entry_id, _ in staged:
                if results[index] is None:
                    results[index] = self._error(entry_id, exc)
            return [r for r in results if r is not None]
        for index, entry_id, envelope in renamed:
            results[index] = self._entry(entry_id, f"{new}/{entry_id}", envelope)
        return [r for r in results if r is not None]

    def _write_entry(self, entry_id: str, data: bytes, envelope: Envelope) -> None:
        tmp_dir = f"{self._dirs['tmp']}/{entry_id}"
        os.mkdir(tmp_dir, 0o750)
        sync = not self._syncfs  # with syncfs the barrier covers the files; else fsync each
        _write_file(f"{tmp_dir}/{MESSAGE}", data, sync=sync)
        _write_file(f"{tmp_dir}/{ENVELOPE}", self._envelope_json(entry_id, envelope, data),
                    sync=sync)

    def _barrier(self, directories: list[str]) -> None:
        """Make everything written so far durable: one ``syncfs`` or an fsync per directory.

        ``syncfs`` (Linux) flushes the whole spool file system with a single journal commit
        and cache flush — the group commit that lets concurrent sessions share one flush
        instead of four each.  Where it is missing, files were fsync'd as they were written
        and each directory is fsync'd here.
        """
        if not directories:
            return
        descriptor = self._sync_handle.descriptor
        if self._syncfs is not None and descriptor is not None:
            if self._syncfs(descriptor.fd) != 0:
                errno = ctypes.get_errno()
                raise OSError(errno, os.strerror(errno), str(self.root))
            return
        for directory in directories:
            _fsync_dir(directory)

    def _unstage(self, staged: list[tuple[int, str, Envelope]],
                 renamed: list[tuple[int, str, Envelope]]) -> None:
        """After a failed barrier: nothing of the batch may stay where the runner looks."""
        tmp, new = self._dirs["tmp"], self._dirs["new"]
        for _, entry_id, _ in renamed:
            try:
                os.rename(f"{new}/{entry_id}", f"{tmp}/{entry_id}")
            except OSError:
                shutil.rmtree(f"{new}/{entry_id}", ignore_errors=True)
        for _, entry_id, _ in staged:
            shutil.rmtree(f"{tmp}/{entry_id}", ignore_errors=True)

    def _error(self, entry_id: str, exc: OSError) -> SpoolError:
        error = SpoolError(f"spool {self.root}: cannot store {entry_id}: {exc.strerror or exc}")
        error.__cause__ = exc
        return error

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
        return json.dumps(record).encode()  # no indent: the C encoder, 5x faster

    @staticmethod
    def _entry(entry_id: str, directory: str | Path, envelope: Envelope) -> SpoolEntry:
        return SpoolEntry(id=entry_id, received_at=envelope.received_at,
                          mail_from=envelope.mail_from, rcpt_tos=envelope.rcpt_tos,
                          peer=envelope.peer, path=f"{directory}/{MESSAGE}", helo=envelope.helo,
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
        except OSError as exc:  # read-only, I/O error: the entry stays in new/
            raise SpoolError(f"spool entry {entry_id}: cannot claim: {exc}") from exc
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

    def count_attempt(self, entry_id: str) -> int:
        """Count one more try of a claimed entry, beside it, before any stage runs.

        Kept on disk so that an entry on which the daemon itself dies (a parser's endless
        loop, memory) is shunted after ``max_tries`` restarts instead of looping forever.
        Not flushed: a process crash keeps the page cache, and a lost count only means a
        further try.
        """
        path = self.root / "processing" / entry_id / ATTEMPTS
        try:
            count = int(path.read_text(encoding="ascii") or 0)
        except (FileNotFoundError, ValueError):
            count = 0
        try:
            path.write_text(str(count + 1), encoding="ascii")
        except OSError as exc:
            raise SpoolError(f"spool entry {entry_id}: cannot count the attempt: {exc}") \
                from exc
        return count + 1

    def set_not_before(self, entry_id: str, when: datetime) -> None:
        """Record beside a claimed entry when its next try is due (before ``requeue``).

        Not flushed, like the try count: if it is lost the entry is only tried sooner.
        """
        path = f"{self._dirs['processing']}/{entry_id}/{NOT_BEFORE}"
        try:
            with open(path, "w", encoding="ascii") as file:
                file.write(when.astimezone(UTC).isoformat())
        except OSError as exc:
            raise SpoolError(f"spool entry {entry_id}: cannot record the back-off: {exc}") \
                from exc

    def not_before(self, entry_id: str) -> datetime | None:
        """When the next try of a waiting entry is due, if a failed try said so."""
        try:
            with open(f"{self._dirs['new']}/{entry_id}/{NOT_BEFORE}", encoding="ascii") as file:
                when = datetime.fromisoformat(file.read().strip())
        except (OSError, ValueError):
            return None
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)

    def finish(self, entry_id: str) -> None:
        """``processing/`` → ``done/``, not flushed: a move lost in a crash only means the
        entry is taken up again at start-up, and its stages (idempotent) are skipped.

        The entry directory's mtime is set to now: it is the completion time that
        ``purge_done`` goes by (a rename leaves the mtime of the last try's start).
        """
        self._move(entry_id, "processing", "done", sync=False)
        try:
            os.utime(f"{self._dirs['done']}/{entry_id}")
        except OSError:
            pass  # the mtime of its last try is nearly as good

    def purge_done(self, older_than: float) -> int:
        """Delete ``done/`` entries completed before ``older_than`` (epoch seconds).

        Only ``done/``: a ``shunt/`` entry waits for an admin however old it is.  Not
        flushed: a deletion lost in a crash is simply made again by the next purge.
        """
        removed = 0
        try:
            entries = list(os.scandir(self._dirs["done"]))
        except OSError as exc:
            raise SpoolError(f"spool {self.root}: cannot list done/: {exc}") from exc
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_mtime >= older_than:
                    continue
            except FileNotFoundError:
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += not os.path.lexists(entry.path)
        return removed

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

    def _move(self, entry_id: str, src: str, dst: str, *, sync: bool = True) -> None:
        try:
            os.rename(self.root / src / entry_id, self.root / dst / entry_id)
            if sync:
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


class SpoolWriter:
    """Stores messages for the event loop in batches, from a few writer threads.

    Each waiting session's message joins the next batch; ``Spool.store_batch`` then makes the
    whole batch durable with shared barriers, and one wake-up of the loop per batch hands the
    results back.  Under load this turns N sessions' 4·N flushes and N thread hand-offs into
    a couple of each (see ``bench/intake.py``).  Two threads: one writes while one flushes.
    """

    def __init__(self, spool: Spool, *, threads: int = 2, max_batch: int = 128) -> None:
        self.spool = spool
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"ndrtrack-spool-{n}",
                                          daemon=True) for n in range(threads)]
        for thread in self._threads:
            thread.start()

    async def store(self, data: bytes, envelope: Envelope) -> SpoolEntry:
        """Durably store one message; raise ``SpoolError`` when it could not be."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SpoolEntry] = loop.create_future()
        self._queue.put(_Job(data, envelope, future, loop))
        return await future

    def close(self) -> None:
        """Finish what is queued, then end the threads."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # leave the stop signal for this thread's next turn
                    break
                batch.append(more)
            try:
                results: list[SpoolEntry | SpoolError] = self.spool.store_batch(
                    [(j.data, j.envelope) for j in batch])
            except Exception as exc:  # a bug must still answer every waiting session
                results = [SpoolError(f"spool {self.spool.root}: {exc!r}")] * len(batch)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, object]]] = {}
            for item, result in zip(batch, results, strict=True):
                by_loop.setdefault(item.loop, []).append((item, result))
            for loop, done in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_deliver, done)
                except RuntimeError:
                    pass  # that loop is closed: nobody is waiting any more


@dataclass(frozen=True, slots=True)
class _Job:
    data: bytes
    envelope: Envelope
    future: asyncio.Future[SpoolEntry]
    loop: asyncio.AbstractEventLoop


def _deliver(done: list[tuple[_Job, object]]) -> None:
    for job, result in done:
        if job.future.done():
            continue  # the session went away meanwhile
        if isinstance(result, BaseException):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)  # type: ignore[arg-type]
