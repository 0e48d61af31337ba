"""Postfix action lines (``reject:``, ``milter-hold:``, ``NOQUEUE: reject: …``) are taken apart
in two steps for speed; this checks they give exactly what the one pattern they replace gives,
on every line of the samples (at every place an action could start) and on edge cases."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from conftest import SAMPLES
from ndrtrack.logs.formats.postfix import _match_action

#: the single pattern the two-step matcher replaces (its lazy reply is slow, its result the spec)
REFERENCE = re.compile(
    r"(reject|milter-reject|milter-discard|milter-hold|hold|discard|filter|redirect|"
    r"reject_warning|warn): (\S+(?: \S+)?) from ([^\[\s]*)\[([^\]]*)\](?::\d+)?:? (.*?)"
    r"(?:;(?:,? from=<([^>]*)>)?(?:,? to=<([^>]*)>)?(?:,? proto=(\S+?),?)?(?: helo=<([^>]*)>)?"
    r"(?:: (.*))?)?$", re.S)

EDGE_CASES = [
    "reject: RCPT from x[1.2.3.4]: 550 5.1.1 <a@b>: unknown; from=<s@t> to=<a@b> proto=ESMTP"
    " helo=<h>",
    "reject: RCPT from x[1.2.3.4]:25: 554 5.7.1 blocked; client [1.2.3.4] listed; from=<s@t>,"
    " to=<a@b>, proto=ESMTP, helo=<h>",
    "reject: header Subject: spam from x[1.2.3.4]; from=<s@t> to=<a@b> proto=ESMTP helo=<h>:"
    " 5.7.1 no thanks",
    "milter-hold: END-OF-MESSAGE from x[1.2.3.4]: milter triggers HOLD action;"
    " from=<s@t> to=<a@b> proto=ESMTP helo=<h>",
    "reject: RCPT from x[1.2.3.4]: 550 no tail at all",
    "reject: RCPT from x[1.2.3.4]: 550 ends with a newline; from=<s@t>\n",
    "reject: RCPT from x[1.2.3.4]: 550 newline, no tail\n",
    "reject: RCPT from x[1.2.3.4]: 550 a; b; c;",
    "reject: RCPT from x[1.2.3.4]: 550 semicolon at the end;",
    "reject: RCPT from x[1.2.3.4]: 550 ;; from=<s@t>; from=<u@v>",
    "reject: RCPT from x[1.2.3.4]: ; from=<s@t>: tail; more",
    "discard: END-OF-MESSAGE from x[1.2.3.4]: ",
    "reject: RCPT from x[1.2.3.4]: 550 text\nwith a newline; from=<s@t>",
    "reject: RCPT from [1.2.3.4]:1162: 550 5.7.1 Service unavailable; client [1.2.3.4] blocked"
    " using zen.spamhaus.org; from=<s@t>, to=<a@b>, proto=ESMTP, helo=<h>",
    "warn: header X-Test: a from x[1.2.3.4]; from=<s@t> to=<a@b> proto=SMTP helo=<h>: note",
    "not an action line: reject",
]


def _texts() -> Iterator[str]:
    for path in sorted(p for p in (SAMPLES / "logs").rglob("*") if p.is_file()):
        text = path.read_text("utf-8", "replace")
        for line in text.splitlines():
            yield line
            if path.suffix == ".jsonl" and line.startswith("{"):
                yield from _strings(json.loads(line))


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _starts(text: str) -> Iterator[int]:
    """0 and every place just after ``": "`` (where Postfix puts the action)."""
    yield 0
    at = text.find(": ")
    while at >= 0:
        yield at + 2
        at = text.find(": ", at + 1)


def _reference(text: str, pos: int) -> tuple[str | None, ...] | None:
    m = REFERENCE.match(text, pos)
    return None if m is None else m.groups()


def test_samples_have_action_lines() -> None:
    assert sum(1 for t in _texts() for p in _starts(t) if REFERENCE.match(t, p)) >= 20


def test_every_sample_line_matches_as_the_reference() -> None:
    for text in _texts():
        for pos in _starts(text):
            assert _match_action(text, pos) == _reference(text, pos), (text, pos)


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_match_as_the_reference(text: str) -> None:
    for pos in _starts(text):
        assert _match_action(text, pos) == _reference(text, pos), pos
