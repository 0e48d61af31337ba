"""One-off imports: files (plain, .gz, .bz2, .xz), directories of rotated logs, stdin.

Each stream is identified by a fingerprint — a hash of its first line — and the index
records how many (uncompressed) bytes of it were indexed, in the same transaction as the
traces.  Importing the same file again, or its rotated and compressed copy, resumes after
that position and so adds nothing; a file that grew adds only its new lines.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ndrtrack.errors import LogFormatError
from ndrtrack.logs.ingest import Ingestor, LineReader
from ndrtrack.logs.parallel import import_parallel
from ndrtrack.logs.syslog import Clock
from ndrtrack.store.base import Store

_MAGIC: tuple[tuple[bytes, Callable[[str], Any]], ...] = (
    (b"\x1f\x8b", lambda p: gzip.open(p, "rb")),
    (b"BZh", lambda p: bz2.open(p, "rb")),
    (b"\xfd7zXZ\x00", lambda p: lzma.open(p, "rb")),
)
SNIFF_LINES = 5
#: files at least this big (after what is already indexed) are parsed by worker processes
PARALLEL_MIN_BYTES = 32 * 1024 * 1024


@dataclass(slots=True)
class ImportResult:
    source: str
    lines: int = 0
    skipped_bytes: int = 0
    traces: int = 0
    seconds: float = 0.0


def fingerprint(first_line: bytes) -> str:
    return hashlib.sha256(first_line.rstrip(b"\r\n")).hexdigest()[:32]


def open_log(path: str) -> BinaryIO:
    """A binary stream of the file's lines, decompressed by its magic number."""
    raw: BinaryIO = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    if path == "-":
        return raw
    head = raw.read(6)
    raw.seek(0)
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            raw.close()
            return opener(path)  # type: ignore[no-any-return]
    return raw


def files_of(path: str) -> list[str]:
    """A path, or a directory's regular files oldest first (rotated logs before live ones)."""
    if path == "-" or not os.path.isdir(path):
        return [path]
    entries = [p for p in Path(path).iterdir() if p.is_file() and not p.name.startswith(".")]
    return [str(p) for p in sorted(entries, key=lambda p: (p.stat().st_mtime, p.name))]


class Importer:
    """Imports streams into ``store`` with one assembler across all of them."""

    def __init__(self, *, store: Store, timezone: str = "UTC", fmt: str = "auto",
                 host: str = "", batch_lines: int = 20_000,
                 progress: Callable[[str, int, float], None] | None = None,
                 workers: int | None = None) -> None:
        self.store = store
        #: worker processes for big plain syslog files (None: one per core, at most 4)
        self.workers = min(4, os.cpu_count() or 1) if workers is None else workers
        self.timezone = timezone
        self.fmt = fmt
        self.host = host
        self.ingestor = Ingestor(store=store, batch_lines=batch_lines, background=True)
        self.progress = progress

    def import_path(self, path: str) -> list[ImportResult]:
        try:
            results = [self.import_file(p) for p in files_of(path)]
            self.ingestor.flush(final=True)
        finally:
            self.ingestor.close()
        return results

    def import_file(self, path: str) -> ImportResult:
        try:
            stream = open_log(path)
        except OSError as exc:
            raise LogFormatError(f"{path}: cannot open: {exc}") from exc
        reference = (datetime.now(UTC) if path == "-"
                     else datetime.fromtimestamp(os.stat(path).st_mtime, UTC))
        with stream:
            try:
                return self._import_stream(stream, path, reference)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise LogFormatError(f"{path}: cannot read: {exc}") from exc

    def _import_stream(self, stream: BinaryIO, path: str, reference: datetime) -> ImportResult:
        result = ImportResult(path)
        started = time.monotonic()
        head = [stream.readline() for _ in range(SNIFF_LINES)]
        head = [h for h in head if h]
        if not head:
            return result
        fp = fingerprint(head[0])
        done = self.store.log_checkpoint(fp)
        reader = LineReader(clock=Clock(self.timezone, reference), fmt=self.fmt, host=self.host,
                            source=path, first_lines=[_text(h) for h in head])
        if self._parallel(stream, path, reader, done):
            self.ingestor.flush(final=True)  # what earlier files left open, first
            self.ingestor.close()
            result.skipped_bytes = done
            with self.store.bulk_load():
                result.lines, result.traces = import_parallel(
                    store=self.store, path=path, start=done, fingerprint=fp, fmt=self.fmt,
                    host=self.host, timezone=self.timezone, workers=self.workers,
                    progress=self.progress)
            result.seconds = time.monotonic() - started
            return result
        position = 0
        if done >= sum(map(len, head)) and isinstance(stream, io.BufferedReader) \
                and stream.seekable():
            stream.seek(done)  # a plain file: jump over what is indexed instead of reading it
            position = result.skipped_bytes = done
            head = []
        ingestor = self.ingestor
        lineno = 0
        for raw in _chain(head, stream):
            lineno += 1
            position += len(raw)
            if position <= done:
                result.skipped_bytes = position
                continue
            ev = reader(_text(raw), lineno)
            if ev is not None:
                ingestor.feed(ev)
            result.lines += 1
            if result.lines % ingestor.batch_lines == 0:
                result.traces += ingestor.flush(checkpoint=(fp, position, path))
                reader.publish()
                if self.progress is not None:
                    self.progress(path, result.lines, time.monotonic() - started)
        result.traces += ingestor.flush(checkpoint=(fp, position, path))
        reader.publish()
        result.seconds = time.monotonic() - started
        return result


    def _parallel(self, stream: BinaryIO, path: str, reader: LineReader, done: int) -> bool:
        """Worth (and possible) to split: a big plain file of syslog-carried lines."""
        if self.workers < 2 or path == "-" or reader.own_reader is not None:
            return False
        if not isinstance(stream, io.BufferedReader):
            return False  # compressed: one sequential stream
        return os.stat(path).st_size - done >= PARALLEL_MIN_BYTES


def _chain(head: list[bytes], stream: BinaryIO) -> Iterator[bytes]:
    yield from head
    yield from stream


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r\n")
