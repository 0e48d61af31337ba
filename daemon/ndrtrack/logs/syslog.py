"""Syslog envelopes: time, host, program and pid around a mail program's message.

The envelopes a mail gateway writes, each recognised by its first characters:

- RFC 3164 (BSD syslog), ``Nov 28 01:09:16 mx postfix/smtpd[22403]: text`` — no year and
  no zone: the year is inferred from a reference time (the file's mtime, or now) and corrected
  when the month wraps from December to January; the zone is the configured one.  Postfix's own
  ``maillog_file`` (postlogd) writes the same shape, optionally with fractional seconds.
- rsyslog's high-precision ISO 8601 / RFC 3339 format (Debian's default since bookworm),
  ``2026-11-28T01:37:12.342614+00:00 vm smtpf[20754]: text``.
- RFC 5424, ``<22>1 2026-11-28T01:37:12.3Z mx postfix/smtpd 22403 - - text`` (also with a
  ``<PRI>`` in front of RFC 3164 lines, as a syslog receiver gets them on the wire).
- ``journalctl -o json``: one JSON object per line with ``__REALTIME_TIMESTAMP`` (µs),
  ``_HOSTNAME``, ``SYSLOG_IDENTIFIER``, ``_PID`` and ``MESSAGE``.

Parsing happens once per line at hundreds of thousands of lines a second, so time stamps are
converted once per distinct second (a small cache), a line that starts with a stamp seen before
is matched only after it, and the envelope is a slotted record.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import NamedTuple
from zoneinfo import ZoneInfo

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

#: what follows the time stamp of an RFC 3164 line: ``[host ]program[[pid]]: message``
#: (``(?:x|)`` matches as ``(?:x)?`` does, but the engine takes it ~20% faster)
_AFTER_STAMP = r"(?:([^\s\[]+(?<!:)) |)([^\s\[:]+)(?:\[(\d+)\]|): ?(.*)"
_RFC3164 = re.compile(
    r"(?:<\d{1,3}>)?([A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d)(\.\d+)? " + _AFTER_STAMP, re.S)


def _ascii(pattern: str) -> re.Pattern[str]:
    """``pattern`` for an ASCII line (nearly every line; ``str.isascii`` is free): ``\\s`` and
    ``\\d`` spelled as the characters they match there (``\\s`` also takes \\x1c-\\x1f), so the
    engine tests a byte set instead of Unicode categories — ~20% of the match."""
    return re.compile(pattern.replace(r"\s", r"\t-\r\x1c-\x20").replace(r"\d", "[0-9]"), re.S)


_RFC3164_ASCII = _ascii(_RFC3164.pattern)
#: the rest of a line whose first 16 characters are a stamp seen before (``Clock.seconds``)
_AFTER = re.compile(_AFTER_STAMP, re.S)
_AFTER_ASCII = _ascii(_AFTER_STAMP)
_ISO = re.compile(
    r"(?:<\d{1,3}>)?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
    r"(\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)", re.S)
_RFC5424 = re.compile(
    r"<\d{1,3}>1 (\S+) (\S+) (\S+) (\S+) \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(.*)", re.S)


class Envelope(NamedTuple):
    """One log line taken apart: when, where, which program, and what it said.

    A named tuple, not a frozen dataclass: one is built per line (see ``formats._base.Event``);
    the hot path builds it with ``_new`` (``tuple.__new__``), half the cost of the generated
    ``__new__`` with its keyword handling.
    """

    at: datetime
    host: str
    program: str
    pid: str
    message: str
    source: str = ""


_new = tuple.__new__


class Clock:
    """Turns syslog time stamps into aware datetimes, once per distinct second.

    ``reference`` is when the log was (last) written — a file's mtime, or now for a live
    stream.  RFC 3164 stamps take its year, one less if the stamp would lie more than a day
    after it, and one more each time the month falls back (December → January) within a file.
    """

    def __init__(self, zone: str | tzinfo = "UTC", reference: datetime | None = None) -> None:
        self.zone: tzinfo = ZoneInfo(zone) if isinstance(zone, str) else zone
        self.reference = reference or datetime.now(UTC)
        self._year: int | None = None
        self._last_month = 0
        self._cache: dict[str, datetime] = {}
        #: ``stamp + " "`` → time, for whole-second stamps that began a line the RFC 3164
        #: pattern matched: a line that starts with one needs only the rest matched (the stamp
        #: is ~40% of the match).  A subset of ``_cache`` (cleared with it), so a hit gives
        #: what ``bsd`` would.
        self.seconds: dict[str, datetime] = {}

    def bsd(self, stamp: str, frac: str | None = None) -> datetime:
        """``Nov 28 01:09:16`` (and an optional ``.123456``) as an aware datetime."""
        at = self._cache.get(stamp)
        if at is None:
            month, day, hms = stamp.split()
            at = self._bsd(month, int(day), hms.split(":"))
            self._remember(stamp, at)
        if frac:
            at = at.replace(microsecond=int(frac[1:7].ljust(6, "0")))
        return at

    def _bsd(self, month: str, day: int, hms: list[str]) -> datetime:
        mon = MONTHS.get(month)
        if mon is None:
            raise ValueError(f"bad month {month!r}")
        if self._year is None:
            ref = self.reference.astimezone(self.zone)
            year = ref.year
            try:
                guess = datetime(year, mon, day, tzinfo=self.zone)
            except ValueError:  # Feb 29 in a year without one
                guess = datetime(year - 1, mon, day, tzinfo=self.zone)
            if guess - ref > timedelta(days=1):
                year -= 1
            self._year = year
        elif mon < self._last_month and self._last_month - mon >= 6:
            self._year += 1
        self._last_month = mon
        return datetime(self._year, mon, day, int(hms[0]), int(hms[1]), int(hms[2]),
                        tzinfo=self.zone)

    def _remember(self, key: str, at: datetime) -> None:
        if len(self._cache) > 4096:
            self._cache.clear()
            self.seconds.clear()
        self._cache[key] = at

    def iso(self, stamp: str) -> datetime:
        base, frac = stamp[:19], ""
        rest = stamp[19:]
        if rest.startswith("."):
            i = 1
            while i < len(rest) and rest[i].isdigit():
                i += 1
            frac, rest = rest[1:i], rest[i:]
        key = base + rest
        at = self._cache.get(key)
        if at is None:
            at = datetime.fromisoformat(base.replace(" ", "T") + (rest or ""))
            if at.tzinfo is None:
                at = at.replace(tzinfo=self.zone)
            self._remember(key, at)
        if frac:
            at = at.replace(microsecond=int(frac[:6].ljust(6, "0")))
        return at


def parse_line(line: str, clock: Clock, source: str = "") -> Envelope | None:
    """Take a syslog-carried line apart; ``None`` when no known envelope fits."""
    at = clock.seconds.get(line[:16])
    if at is not None:  # the stamp matched before: only the rest is left (see Clock.seconds)
        m = (_AFTER_ASCII if line.isascii() else _AFTER).match(line, 16)
        if m is None:
            return None  # as the whole pattern: its stamp part can match only one way
        host, prog, pid, msg = m.groups()
        return _new(Envelope, (at, host or "", prog, pid or "", msg, source))
    first = line[:1]
    if first == "{":
        return parse_journal(line, clock, source)
    if first == "<" and line[line.find(">") + 1:line.find(">") + 3] == "1 ":
        return _parse_5424(line, clock, source)
    m = (_RFC3164_ASCII if line.isascii() else _RFC3164).match(line)
    if m is not None:
        stamp, frac, host, prog, pid, msg = m.groups()
        try:
            at = clock.bsd(stamp, frac)
        except ValueError:
            return None
        if frac is None and m.end(1) == 15:  # a whole-second stamp at the start of the line
            clock.seconds[line[:16]] = at
        return _new(Envelope, (at, host or "", prog, pid or "", msg, source))
    m = _ISO.match(line)
    if m is not None:
        stamp, host, prog, pid, msg = m.groups()
        try:
            at = clock.iso(stamp)
        except ValueError:
            return None
        return Envelope(at, host, prog, pid or "", msg, source)
    return None


def _parse_5424(line: str, clock: Clock, source: str) -> Envelope | None:
    m = _RFC5424.match(line)
    if m is None:
        return None
    stamp, host, app, procid, msg = m.groups()
    try:
        at = clock.iso(stamp)
    except ValueError:
        return None
    if msg.startswith("\ufeff"):
        msg = msg[1:]
    return Envelope(at, "" if host == "-" else host, "" if app == "-" else app,
                    "" if procid == "-" else procid, msg, source)


def parse_journal(line: str, clock: Clock, source: str = "") -> Envelope | None:
    """One ``journalctl -o json`` record; binary MESSAGEs (byte arrays) are decoded."""
    try:
        record = json.loads(line)
        micros = int(record["__REALTIME_TIMESTAMP"])
    except (ValueError, KeyError, TypeError):
        return None
    message = record.get("MESSAGE", "")
    if isinstance(message, list):
        message = bytes(message).decode("utf-8", "replace")
    at = datetime.fromtimestamp(micros / 1e6, UTC)
    program = record.get("SYSLOG_IDENTIFIER") or record.get("_COMM") or ""
    pid = record.get("SYSLOG_PID") or record.get("_PID") or ""
    return Envelope(at, record.get("_HOSTNAME", ""), program, str(pid), str(message), source)
