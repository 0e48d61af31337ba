"""Parallel import of one large, plain, syslog-carried file: blocks parsed by worker processes.

Parsing and joining lines costs ~10 µs a line in Python, so one core tops out near 100,000
lines/s.  A big file is cut into blocks at line ends; worker processes each parse and
assemble a block on their own; the parent writes the blocks' trace chunks *in file order*
(with the checkpoint after each block), so a message that crosses a block boundary is merged
exactly as one that crosses two batches or two imports (the index continues the newest open
row of its queue id).  At most ``2 × workers`` blocks are in flight, so memory stays flat in
the file's size.

Used only where a block can be read on its own: syslog-carried lines (each has its own
envelope; a file format with a header, like Exchange's CSV, needs the whole file).  smtpf
lines that name only their session (``#304``) and fall just after a block boundary lose
their session's current message; the sequential path keeps them.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import tempfile
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ndrtrack.logs.assemble import Assembler
from ndrtrack.logs.ingest import LineReader
from ndrtrack.logs.syslog import Clock
from ndrtrack.store.base import Store
from ndrtrack.store.sqlite_logs import PackedTraces, pack_traces

BLOCK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Block:
    path: str
    start: int
    end: int
    fmt: str
    host: str
    timezone: str
    reference: float
    scratch: str  # a directory for the block's rows (see PackedTraces.save)


#: the file's last ``TAIL_BLOCKS`` blocks' worth of bytes is cut in blocks a quarter the size
TAIL_BLOCKS = 2


def blocks(path: str, start: int, size: int, block_bytes: int = BLOCK_BYTES) -> Iterator[int]:
    """Block ends after ``start``: each just past a newline (the last one is the file's end).

    The tail is cut finer: the parent writes a block only once it is parsed, and builds the
    search indexes only after the last one, so a big last block left one core idle while
    one worker parsed it and the parent then wrote it."""
    with open(path, "rb") as f:
        position = start
        while position < size:
            step = block_bytes if size - position > TAIL_BLOCKS * block_bytes \
                else max(1, block_bytes // 4)
            f.seek(min(position + step, size))
            if f.tell() >= size:
                yield size
                return
            f.readline()
            position = f.tell()
            yield position


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off while a block is parsed.

    A block makes millions of tuples and keeps its open messages alive, so the collector ran
    again and again over them (~0.85 µs a line, a tenth of a worker's time) — and found
    nothing: events, envelopes and chunks hold no reference cycles, reference counting frees
    them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_block(block: Block) -> tuple[tuple[str, int, list[Any]], Counter[tuple[str, str, str]],
                                       int, Counter[str]]:
    """Worker: (packed chunks, line counts, lines, events by MTA) of one block.

    The chunks go back as rows in a scratch SQLite file (``PackedTraces.save``), which the
    parent — the one writer — copies in SQL: unpickling chunks, or even plain row tuples,
    and binding them value by value cost it more than parsing a block costs a worker."""
    with paused_gc():
        return _parse_block(block)


def _parse_block(block: Block) -> tuple[tuple[str, int, list[Any]],
                                        Counter[tuple[str, str, str]], int, Counter[str]]:
    reader = LineReader(clock=Clock(block.timezone, datetime.fromtimestamp(block.reference, UTC)),
                        fmt=block.fmt, host=block.host, source=block.path)
    assembler = Assembler()
    with open(block.path, "rb") as f:
        f.seek(block.start)
        data = f.read(block.end - block.start)
    text = data.decode("utf-8", "replace")  # ("\n" never occurs inside a UTF-8 sequence)
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    if "\r" in text:
        lines = [line.rstrip("\r") for line in lines]
    reader.feed_all(lines, assembler.feed)
    counts = reader.totals()
    events: Counter[str] = Counter()  # every line read as an event was fed
    for (mta, _program, result), n in counts.items():
        if result == "parsed":
            events[mta] += n
    scratch = os.path.join(block.scratch, f"{block.start}.sqlite3")
    return pack_traces(assembler.drain(final=True)).save(scratch), counts, len(lines), events


def import_parallel(*, store: Store, path: str, start: int, fingerprint: str, fmt: str,
                    host: str, timezone: str, workers: int,
                    progress: Callable[[str, int, float], None] | None = None,
                    clock: Callable[[], float] | None = None) -> tuple[int, int]:
    """Import ``path`` from byte ``start``; returns (lines, trace chunks written)."""
    import time

    now = clock or time.monotonic
    began = now()
    size = os.stat(path).st_size
    reference = os.stat(path).st_mtime
    ends = list(blocks(path, start, size, BLOCK_BYTES))
    starts = [start, *ends[:-1]]
    lines = traces = 0
    context = multiprocessing.get_context(_start_method())
    with tempfile.TemporaryDirectory(prefix="ndrtrack-import-") as scratch, \
            ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        jobs = (Block(path, s, e, fmt, host, timezone, reference, scratch)
                for s, e in zip(starts, ends, strict=True))
        pending: deque[tuple[Block, Future[Any]]] = deque()
        for job in jobs:
            pending.append((job, pool.submit(parse_block, job)))
            if len(pending) >= 2 * workers:
                lines, traces = _write(store, fingerprint, *pending.popleft(), lines, traces)
                if progress is not None:
                    progress(path, lines, now() - began)
        while pending:
            lines, traces = _write(store, fingerprint, *pending.popleft(), lines, traces)
    return lines, traces


def _start_method() -> str:
    """``fork`` where it is safe: a spawned worker started a new interpreter and imported the
    parsers again (~0.3 s of CPU each, while the parent waited for its first block); a forked
    one has them already.  Not with other threads running (a lock held by one of them would
    stay locked in the child for good); the parent's SQLite connection is never used in a
    worker, which leaves by ``os._exit`` without finalising it."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return "fork"
    return "spawn"


def _write(store: Store, fingerprint: str, job: Block, future: Future[Any], lines: int,
           traces: int) -> tuple[int, int]:
    from ndrtrack.logs.metrics import LOG_EVENTS, LOG_LINES, LOG_TRACES  # (not in workers)

    packed, counts, n_lines, n_events = future.result()
    rows: Any = PackedTraces.opened(*packed)  # (SqliteStore's add_traces takes them as is)
    try:
        written = store.add_traces(rows, checkpoint=(fingerprint, job.end, job.path))
    finally:
        os.unlink(rows.scratch)
    for (mta, program, result), n in counts.items():
        LOG_LINES.labels(mta or "none", program or "none", result).inc(n)
    for mta, n in n_events.items():
        LOG_EVENTS.labels(mta).inc(n)
    LOG_TRACES.labels("import").inc(written)
    return lines + n_lines, traces + written
