"""What a log format module provides, and the helpers several of them share.

A format turns one ``Envelope`` (a line whose time, host and program are known) into one
``LogEvent`` — or ``None`` when it does not understand the line, which the caller counts and
samples.  Formats whose files carry no syslog envelope (Exim's mainlog, Exchange's tracking
CSV) also provide ``reader()``: a callable that makes the ``Envelope`` from the raw line.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from ndrtrack.logs.syslog import Clock, Envelope
from ndrtrack.model import LogEvent


class Event(NamedTuple):
    """The hot-path twin of ``model.LogEvent``: same fields in the same order.

    Building the frozen ``LogEvent`` costs ~3.4 µs (21 guarded attribute sets); a named tuple
    ~0.5 µs.  At 150,000 lines/s that difference is the budget of a whole line, so formats
    build ``Event``s, the assembler reads them by attribute like ``LogEvent``s, and
    ``LogFormat.parse`` converts for callers that want the record.
    """

    at: datetime
    host: str
    mta: str
    program: str
    queue_id: str = ""
    kind: str = ""
    message_id: str = ""
    sender: str = ""
    recipient: str = ""
    client_ip: str = ""
    client_host: str = ""
    relay: str = ""
    status: str = ""
    dsn: str = ""
    reply: str = ""
    text: str = ""
    source: str = ""
    orig_recipient: str = ""
    helo: str = ""
    related_id: str = ""
    session_id: str = ""


class Untraced(enum.Enum):
    """The type of ``UNTRACED`` (an enum member: a sentinel that type checkers narrow)."""

    UNTRACED = "untraced"


#: ``LogFormat.read_for_trace``'s answer for a line it understands that can join no trace
UNTRACED = Untraced.UNTRACED

#: A reader for files without a syslog envelope: raw line -> Envelope (or None).
LineReader = Callable[[str], Envelope | None]

_REPLY = re.compile(r"([245]\d\d)[ -](?:([245]\.\d{1,3}\.\d{1,3})\b)?")
_DSN = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


class LogFormat:
    """Base class: ``name`` (the config's format key), ``mta``, the syslog ``programs`` it
    claims (matched on the part before the first ``/``), and ``parse``."""

    name: str = ""
    mta: str = ""
    programs: tuple[str, ...] = ()

    def read(self, env: Envelope) -> Event | None:  # pragma: no cover - abstract
        """The line as an ``Event``; ``None`` when this format does not understand it."""
        raise NotImplementedError

    def read_for_trace(self, env: Envelope) -> Event | Untraced | None:
        """``read`` for the assembler: a format may answer ``UNTRACED`` instead of the Event of
        a line that joins no trace (one without queue or session id that is no pre-queue
        reject: see ``Assembler.feed``) when that is cheaper than taking it apart."""
        return self.read(env)

    def parse(self, env: Envelope) -> LogEvent | None:
        """The line as a ``LogEvent`` record (the design's format contract)."""
        ev = self.read(env)
        return None if ev is None else LogEvent(*ev)

    def reader(self, clock: Clock, host: str, source: str) -> LineReader | None:
        """For files without a syslog envelope; ``None`` means lines are syslog-carried."""
        return None

    def sniff(self, lines: list[str]) -> bool:
        """Whether the first lines of a file look like this format's own (non-syslog) file."""
        return False


def event(env: Envelope, mta: str, kind: str, **fields: str) -> Event:
    """An Event for ``env`` — the envelope's time, host, program and text filled in."""
    return Event(env.at, env.host, mta, env.program, kind=kind, text=env.message,
                 source=env.source, **fields)


def reply_codes(text: str) -> tuple[str, str]:
    """(SMTP code, enhanced status) found at the start of a reply, ``("", "")`` if none."""
    m = _REPLY.match(text)
    if m is None:
        d = _DSN.search(text)
        return "", d.group(1) if d else ""
    return m.group(1), m.group(2) or ""


def strip_brackets(addr: str) -> str:
    addr = addr.strip()
    if addr.startswith("<") and addr.endswith(">"):
        return addr[1:-1]
    return addr
