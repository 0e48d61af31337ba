"""The import's fast paths give exactly what the general paths give.

A parallel import reads its blocks through shortcuts: a line whose stamp was seen before is
matched only after it (``Clock.seconds``), connection lines are only recognised
(``read_for_trace``), and ``LineReader.feed_all`` binds its look-ups once.  Each is checked
against the general path over the sample logs, the public parsers' lines and generated ones.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from ndrtrack.logs import formats, syslog
from ndrtrack.logs.assemble import Assembler
from ndrtrack.logs.formats import postfix
from ndrtrack.logs.formats._base import UNTRACED
from ndrtrack.logs.ingest import LineReader
from ndrtrack.logs.syslog import Clock, parse_line

REF = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POSTFIX = formats.BY_NAME["postfix"]
PROGRAMS = ("postfix/smtpd", "postfix/qmgr", "postfix/postscreen", "postfix/anvil",
            "postfix/cleanup", "postfix/smtp", "postfix/bounce", "postfix/submission/smtpd")


def _sample_lines() -> list[str]:
    """Every line of the sample logs, and the public parsers' Postfix messages behind an
    envelope of each program (a message alone says nothing of the program it came from)."""
    lines: list[str] = []
    for path in sorted((SAMPLES / "logs").rglob("*")):
        if path.suffix == ".jsonl":
            for row in path.read_text().splitlines():
                message = json.loads(row).get("line") if row else None
                if isinstance(message, str) and "postfix" in path.name:
                    lines += [f"Nov 28 01:09:16 mx {p}[1]: {message}" for p in PROGRAMS]
        elif path.is_file() and path.suffix not in (".md", ".tsv"):
            lines += path.read_text(errors="replace").splitlines()
    return lines


SAMPLE_LINES = _sample_lines()

# --- patterns tuned for the engine ------------------------------------------------------------
#: the patterns as written before they were tuned (optional groups as ``(?:x)?``, a lazy
#: ``.*?`` before `` dsn=``): each tuned one must match as its textbook form
TEXTBOOK = {
    syslog._RFC3164: r"(?:<\d{1,3}>)?([A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d)(\.\d+)? "
                     r"(?:([^\s\[]+(?<!:)) )?([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)",
    syslog._AFTER: r"(?:([^\s\[]+(?<!:)) )?([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)",
    postfix._DELIVERY: r"to=<?([^>,]*)>?,(?: orig_to=<?([^>,]*)>?,)? relay=([^,]*),.*? "
                       r"dsn=([^,]*), status=(\S+)(?: \((.*)\))?$",
    postfix._FROM: r"from=<?([^>,\s]*)>?(?:, size=(\d+), nrcpt=(\d+))?(?:, status=([^,\s]+))?",
    postfix._MSGID: r"(?:resent-)?message-id=(?:<([^>]*)>|(.*))$",
    postfix._ACTION_HEAD: r"(reject|milter-reject|milter-discard|milter-hold|hold|discard|"
                          r"filter|redirect|reject_warning|warn): (\S+(?: \S+)?) from "
                          r"([^\[\s]*)\[([^\]]*)\](?::\d+)?:? ",
    postfix._ACTION_TAIL: r";(?:,? from=<([^>]*)>)?(?:,? to=<([^>]*)>)?(?:,? proto=(\S+?),?)?"
                          r"(?: helo=<([^>]*)>)?(?:: (.*))?$",
    postfix._PROXY: r"(proxy-accept|proxy-reject): (\S+): (.*?); from=<([^>]*)>"
                    r"(?: to=<([^>]*)>)?(?: proto=(\S+))?(?: helo=<([^>]*)>)?",
}


def _starts(line: str) -> list[int]:
    """Where the patterns are tried: a line's start, after its ": "s, at its ";"s."""
    return [0, *(i + 2 for i, c in enumerate(line) if line[i:i + 2] == ": "),
            *(i for i, c in enumerate(line) if c == ";")]


def _match_alike(pattern: re.Pattern[str], text: str, start: int) -> None:
    textbook = re.compile(TEXTBOOK[pattern], pattern.flags)
    got, want = pattern.match(text, start), textbook.match(text, start)
    assert (got and got.groups()) == (want and want.groups()), (pattern, text)


def test_tuned_patterns_match_as_the_textbook_ones() -> None:
    for pattern in TEXTBOOK:
        for line in SAMPLE_LINES:
            for start in _starts(line):
                _match_alike(pattern, line, start)


@given(st.lists(st.sampled_from([" dsn=", "dsn=", "2.0.0", ",", " status=", "sent", " ", "(",
                                 ")", "x", "\n", ", delay=1", " relay=a[1.2.3.4]:25"]),
                max_size=14))
@example([" dsn=", "2.0.0", ",", " status=", "sent", " ", "(", " dsn=", "x", ",", " status=",
          "sent", ")"])
@settings(max_examples=1500)
def test_delivery_tries_dsn_where_the_lazy_pattern_would(parts: list[str]) -> None:
    """Several " dsn=" (one in a reply, say): the first after which the line matches wins."""
    _match_alike(postfix._DELIVERY, "to=<a@b>, relay=r," + "".join(parts), 0)


# --- envelopes: a stamp seen before ---------------------------------------------------------
STAMPS = ("Nov 28 01:09:16", "Nov  1 01:09:16", "Nov 1 01:09:16", "Dec 31 23:59:59",
          "Feb 29 01:00:00", "Nov 28 01:09:16.5", "<13>Nov 28 01:09:16", "Xyz 28 01:09:16")
REST = st.text(alphabet=" :[]<>\t\n-/.0123456789abcmxABQé\u00a0\x1c", max_size=30)


def _warmed(stamp: str) -> Clock:
    clock = Clock("UTC", REF)
    parse_line(f"{stamp} mx postfix/smtpd[1]: warm", clock)
    return clock


@given(stamp=st.sampled_from(STAMPS), gap=st.sampled_from((" ", "  ", "", ".", ":")),
       rest=REST)
@settings(max_examples=600)
def test_a_line_with_a_stamp_seen_before_parses_as_a_first_one(stamp: str, gap: str,
                                                             rest: str) -> None:
    line = f"{stamp}{gap}{rest}"
    assert parse_line(line, _warmed(stamp), "s") == parse_line(line, Clock("UTC", REF), "s")


def test_only_whole_second_stamps_at_the_start_skip_the_match() -> None:
    assert set(_warmed("Nov 28 01:09:16").seconds) == {"Nov 28 01:09:16 "}
    for stamp in ("Nov 1 01:09:16", "Nov 28 01:09:16.5", "<13>Nov 28 01:09:16"):
        assert _warmed(stamp).seconds == {}


def test_sample_lines_parse_alike_with_a_warm_clock() -> None:
    warm = Clock("UTC", REF)
    for line in SAMPLE_LINES:
        parse_line(line, warm)
    assert warm.seconds
    for line in SAMPLE_LINES:
        assert parse_line(line, warm) == parse_line(line, Clock("UTC", REF)), line


def test_the_seconds_never_outlive_the_cache_they_shortcut() -> None:
    """``seconds`` is emptied with ``_cache``: a hit always gives what ``bsd`` would (a
    stamp converted again after the cache filled up may land in another year)."""
    clock = Clock("UTC", REF)
    for n in range(5000):
        parse_line(f"Nov 28 {n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d} mx p: x", clock)
        if n % 997 == 0:
            clock.iso(f"2026-11-28T00:00:{n % 60:02d}")
    assert 0 < len(clock.seconds) < 5000
    for key, at in clock.seconds.items():
        assert clock.bsd(key[:15]) is at


# --- Postfix: lines only recognised -----------------------------------------------------------
MESSAGES = st.one_of(
    st.sampled_from([line.split(": ", 1)[-1] for line in SAMPLE_LINES if "postfix" in line]),
    st.builds("".join, st.lists(st.sampled_from(
        ["connect from ", "disconnect from ", "lost connection after DATA from ", "unknown",
         "[", "]", "1.2.3.4", ":25", " ", "warning: ", "NOQUEUE: ", "reject: RCPT from ",
         "CONNECT from ", "PASS NEW ", "Anonymous TLS connection established from ", "addr ",
         "ABCDEF1234: ", "client=", "statistics: ", "; from=<a@b> to=<c@d>", "x"]),
        max_size=8)))


def _joins_no_trace(ev: Any) -> bool:
    assembler = Assembler()
    assembler.feed(ev)
    return len(assembler) == 0 and assembler.drain(final=True) == []


@given(program=st.sampled_from(PROGRAMS + ("postfix/tlsmgr",)), message=MESSAGES)
@settings(max_examples=1500)
def test_read_for_trace_is_read_or_an_event_no_trace_keeps(program: str, message: str) -> None:
    env = parse_line(f"Nov 28 01:09:16 mx {program}[1]: {message}", Clock("UTC", REF))
    assert env is not None
    quick, full = POSTFIX.read_for_trace(env), POSTFIX.read(env)
    if quick is UNTRACED:
        assert full is not None and _joins_no_trace(full)
    else:
        assert quick == full


def test_connection_lines_are_only_recognised() -> None:
    env = parse_line("Nov 28 01:09:16 mx postfix/smtpd[1]: connect from a[192.0.2.1]",
                     Clock("UTC", REF))
    assert env is not None
    assert POSTFIX.read_for_trace(env) is UNTRACED
    assert POSTFIX.read(env).kind == "connect"  # type: ignore[union-attr]


# --- the import loop ------------------------------------------------------------------------
def _traces(lines: list[str], fast: bool) -> tuple[list[str], Any, Any]:
    reader, assembler = LineReader(clock=Clock("UTC", REF), source="s"), Assembler()
    if fast:
        reader.feed_all(lines, assembler.feed)
    else:
        for line in lines:
            ev = reader(line)
            if ev is not None:
                assembler.feed(ev)
    chunks = [repr(chunk) for chunk in assembler.drain(final=True)]
    return chunks, reader.totals(), reader.unknown_seen


def test_feed_all_gives_the_traces_and_counts_of_reading_line_by_line() -> None:
    fast = _traces(SAMPLE_LINES, fast=True)
    assert len(fast[0]) > 100
    assert fast == _traces(SAMPLE_LINES, fast=False)
