"""From raw lines to the index: envelope, format, assembler, batched writes.

``LineReader`` turns one raw line into a ``LogEvent`` (or ``None``) and counts every line by
MTA, program and result; lines nobody understands are sampled to the Python log with their
source and line number — never fatal, never silently dropped.  ``Ingestor`` feeds events to
one long-lived ``Assembler`` and writes a batch of trace chunks (with the stream's checkpoint,
in the same transaction) every ``batch_lines`` lines.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from ndrtrack.logs import formats
from ndrtrack.logs.assemble import Assembler
from ndrtrack.logs.formats._base import UNTRACED, Event, LogFormat
from ndrtrack.logs.syslog import Clock, Envelope, parse_line
from ndrtrack.model import LogEvent
from ndrtrack.store.base import Store

log = logging.getLogger(__name__)
_by_program = formats.PROGRAM_CACHE

#: unknown lines logged per (source, program) before sampling 1 in SAMPLE_EVERY
SAMPLE_FIRST = 5
SAMPLE_EVERY = 1000


def _metrics() -> Any:
    """The Prometheus counters, imported when first counted: a parallel import's worker
    processes never publish, and prometheus_client cost each of them ~40 ms of start-up
    (a quarter of it) while the parent waited for their first blocks."""
    from ndrtrack.logs import metrics

    return metrics


class LineReader:
    """One source's lines → events, with its format, clock and default host name."""

    def __init__(self, *, clock: Clock, fmt: str = "auto", host: str = "", source: str = "",
                 first_lines: list[str] | None = None) -> None:
        self.clock = clock
        self.host = host
        self.source = source
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.parsed: dict[str, int] = {}  # hot path: program -> lines read as events
        self.unknown_seen: Counter[str] = Counter()
        chosen: LogFormat | None = formats.BY_NAME.get(fmt)
        if fmt == "auto" and first_lines:
            chosen = formats.sniff(first_lines)
        self.own_reader = chosen.reader(clock, host, source) if chosen is not None else None
        self.format = chosen

    def envelope(self, line: str) -> Envelope | None:
        if self.own_reader is not None:
            return self.own_reader(line)
        env = parse_line(line, self.clock, self.source)
        if env is not None and not env.host and self.host:
            env = Envelope(env.at, self.host, env.program, env.pid, env.message, env.source)
        return env

    def __call__(self, line: str, lineno: int = 0) -> Event | None:
        own = self.own_reader
        env = parse_line(line, self.clock, self.source) if own is None else own(line)
        if env is None:
            if not line or line.isspace() or line[0] == "#" and own is not None:
                return None  # blank, or a header of a file with its own reader (Exchange)
            self._unknown("", "", line, lineno, "error")
            return None
        program = env.program
        if own is None:
            if not env.host and self.host:
                env = env._replace(host=self.host)
            fmt = _by_program.get(program) or formats.for_program(program)
        else:
            fmt = self.format
        if fmt is None:
            self._unknown("", program, line, lineno, "unknown")
            return None
        try:
            ev = fmt.read(env)
        except Exception:  # a format bug must not stop the index; counted and logged
            log.exception("%s:%d: %s parser failed", self.source, lineno, fmt.name)
            self._unknown(fmt.mta, program, line, lineno, "error")
            return None
        if ev is None:
            self._unknown(fmt.mta, program, line, lineno, "unknown")
            return None
        parsed = self.parsed  # by program alone: its format (so its MTA) follows from it
        parsed[program] = parsed.get(program, 0) + 1
        return ev

    def feed_all(self, lines: Iterable[str], feed: Callable[[Event], None]) -> None:
        """``feed`` the event of each line: ``__call__`` with its look-ups bound once.

        For the bulk of a big import (a parallel import's block): an ordinary syslog line
        whose format reads it takes the loop here; anything else (no envelope, an unknown
        program, a line its format refuses) goes through ``__call__``, which counts and
        samples it.  Formats read a line the same way twice, so nothing is counted twice.

        ``feed`` is an assembler's: a line whose format answers ``UNTRACED`` (it would join no
        trace, see ``LogFormat.read_for_trace``) is counted as parsed but not fed."""
        if self.own_reader is not None or self.host:
            for line in lines:
                ev = self(line)
                if ev is not None:
                    feed(ev)
            return
        clock, source, parsed, by_program = self.clock, self.source, self.parsed, _by_program
        for line in lines:
            env = parse_line(line, clock, source)
            if env is not None:
                program = env.program
                fmt = by_program.get(program)
                if fmt is not None:
                    try:
                        got = fmt.read_for_trace(env)
                    except Exception:  # logged and counted by __call__ below
                        got = None
                    if got is not None:
                        parsed[program] = parsed.get(program, 0) + 1
                        if got is not UNTRACED:
                            feed(got)
                        continue
            ev = self(line)
            if ev is not None:
                feed(ev)

    def _unknown(self, mta: str, program: str, line: str, lineno: int, result: str) -> None:
        label = _label(program)
        self.counts[(mta, label, result)] += 1
        seen = self.unknown_seen[label]
        self.unknown_seen[label] += 1
        if seen < SAMPLE_FIRST or seen % SAMPLE_EVERY == 0:
            log.info("%s:%d: %s line (%s, seen %d): %.300s", self.source, lineno, result,
                     program or "no program", seen + 1, line)

    def _fold(self) -> None:
        for program, n in self.parsed.items():
            fmt = self.format if self.own_reader is not None else formats.for_program(program)
            mta = fmt.mta if fmt is not None else ""
            self.counts[(mta, _label(program), "parsed")] += n
        self.parsed.clear()

    def totals(self) -> Counter[tuple[str, str, str]]:
        """Lines counted since the last ``publish``, by (mta, program label, result)."""
        self._fold()
        return self.counts

    def publish(self) -> None:
        """Add the counts gathered since the last call to the Prometheus counters."""
        self._fold()
        for (mta, program, result), n in self.counts.items():
            _metrics().LOG_LINES.labels(mta or "none", program or "none", result).inc(n)
        self.counts.clear()


_labels: dict[str, str] = {}


def _label(program: str) -> str:
    """A metric label from a syslog identifier: bounded length, no instance paths."""
    label = _labels.get(program)
    if label is None:
        label = program
        if "/" in program:
            parts = program.split("/")
            label = f"{parts[0]}/{parts[-1]}"
        label = label[:40]
        if len(_labels) < 1000:
            _labels[program] = label
    return label


class Ingestor:
    """One long-lived assembler in front of the store; writes in batches.

    With ``background=True`` batches are written by one writer thread while the caller
    parses the next lines: SQLite releases the GIL while it works, so on two cores parsing
    and writing overlap.  Batches (and their checkpoints) are written in order; a write error
    is raised from the next ``flush`` or from ``close``.
    """

    def __init__(self, *, store: Store, batch_lines: int = 20_000, label: str = "import",
                 assembler: Assembler | None = None, background: bool = False) -> None:
        self.store = store
        self.batch_lines = batch_lines
        self.label = label
        self.assembler = assembler or Assembler()
        self.pending = 0
        self.events: Counter[str] = Counter()
        self.traces_written = 0
        self._queue: queue.Queue[tuple[list[Any], tuple[str, int, str] | None] | None] | None
        self._queue = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.background = background

    def _start_writer(self) -> queue.Queue[Any]:
        if self._thread is None or self._queue is None:
            self._queue = queue.Queue(maxsize=2)
            self._thread = threading.Thread(target=self._writer, name="log-writer", daemon=True)
            self._thread.start()
        return self._queue

    def _writer(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue
            try:
                self._write(*item)
            except BaseException as exc:  # handed to the producer thread
                self._error = exc

    def _write(self, chunks: list[Any], checkpoint: tuple[str, int, str] | None) -> int:
        written = self.store.add_traces(chunks, checkpoint=checkpoint)
        self.traces_written += written
        _metrics().LOG_TRACES.labels(self.label).inc(written)
        return written

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """Wait for the writer thread to finish what was handed to it."""
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = self._queue = None
        self._raise()

    def feed(self, ev: Event | LogEvent) -> None:
        self.assembler.feed(ev)
        self.events[ev.mta] += 1
        self.pending += 1

    def flush(self, *, checkpoint: tuple[str, int, str] | None = None,
              final: bool = False) -> int:
        self._raise()
        chunks: list[Any] = self.assembler.drain(final=final)
        for mta, n in self.events.items():
            _metrics().LOG_EVENTS.labels(mta).inc(n)
        self.events.clear()
        self.pending = 0
        if not chunks and checkpoint is None:
            return 0
        if self.background:
            self._start_writer().put((chunks, checkpoint))
            return len(chunks)
        return self._write(chunks, checkpoint)
