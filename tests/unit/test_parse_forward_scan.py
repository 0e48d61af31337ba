"""The inline-forward scanner looks only at lines that can open a forward.

:func:`find_forward` used to run every opener's regex on every line (about 5 us a line, so a
re-sent 1 MB text cost seconds); now one regex pass picks the candidate lines.  These tests hold
it to the old every-line scan (kept here as the reference) and check that a large plain text
does no per-line work, by counting calls rather than timing them.
"""

from __future__ import annotations

import random

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ndrtrack.model import MessageKind
from ndrtrack.parse import forward_text
from ndrtrack.parse.api import parse_bytes
from ndrtrack.parse.forward_text import MAX_SCAN_LINES, InlineForward, find_forward


def every_line_scan(text: str, outer_subject: str = "") -> InlineForward | None:
    """The scanner before candidate lines: every cleaned line tried in turn."""
    raw = text.splitlines()[:MAX_SCAN_LINES]
    lines = [forward_text._clean(line) for line in raw]
    for i, (line, quoted) in enumerate(lines):
        if not line:
            continue
        found = forward_text._forward_at(lines, raw, i, line)
        if found is not None:
            if found[0] == "wrote" and any(text for text, _ in lines[:i]):
                found = ("reply", *found[1:])
            return forward_text._build(found, raw, lines, i, quoted, outer_subject)
    return None


PIECES = ["From:", "Von:", "Subject:", "Date:", "To:", "Sent:", "wrote:", "schrieb:",
          "a@b.example", "<j@x.org>", "John", "On Tue, 1 Jan 2019", "-----", "--", "==", "__",
          "~~", "**", "*", "-", "=", "_", "~", ">", ">>>", "> ", "\ufeff", "\u00a0", "\uff1a",
          ":", " ", "\t", "\n", "\n", "\r\n", "\n\n", "Forwarded message", "Original Message",
          "mailto:", "[mailto:a@b.example]", "x", "text", "\u2028", "\x0c"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60))
@example(["-", "\ufeff", "-", " Forwarded message ", "-", "\ufeff", "-", "\n", "From:",
          " a@b.example", "\n", "Subject:", " x"])
@example(["John <j@x.org>", "\n", "wrote:", "\n", "text"])
@example(["x\n", "-", "\ufeff", "-", "Forwarded message", "-", "\ufeff", "-", "\n\n", "text"])
@example(["x\n", ">>> John <j@x.org> 01.02.2024 >>>", "\n", "text"])
def test_candidate_scan_finds_what_the_every_line_scan_finds(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert find_forward(text, outer_subject="Fwd: s") == every_line_scan(text, "Fwd: s")


def test_every_sample_text_gives_the_every_line_answer() -> None:
    rng = random.Random(3)
    samples = [
        "x\n-------- Forwarded Message --------\nSubject: s\nDate: d\nFrom: A <a@b.example>\n\n"
        "body",
        "hello\n\nOn Tue, 1 Jan 2019, John Doe <j@x.org>\nwrote:\n> quoted",
        "> > From: a@b.example\n> > Sent: today\n> > Subject: s\n>\n> body",
        "*From:* A <a@b.example>\n*Sent:* today\n*To:* c@d.example\n*Subject:* s\n\nbody",
        ">>> John Doe <j@x.org> 01.02.2024 10:00 >>>\nbody",
        "____________\nFrom: A [mailto:a@b.example]\nSent: x\nSubject: y\n",
    ]
    for text in samples:
        noisy = "\n".join(["plain " * rng.randint(0, 12) for _ in range(50)] + [text])
        assert find_forward(noisy) == every_line_scan(noisy)
        assert find_forward(noisy) is not None


def test_a_large_plain_text_does_no_per_line_work(monkeypatch) -> None:
    calls = {"clean": 0, "forward_at": 0}
    for name, key in (("_clean", "clean"), ("_forward_at", "forward_at")):
        original = getattr(forward_text, name)

        def counting(*args, _original=original, _key=key):  # type: ignore[no-untyped-def]
            calls[_key] += 1
            return _original(*args)

        monkeypatch.setattr(forward_text, name, counting)
    line = b"x" * 76 + b"\r\n"
    head = b"From: a@b.example\r\nTo: c@d.example\r\nSubject: big re-send\r\n\r\n"
    raw = head + line * (3_000_000 // len(line))
    result = parse_bytes(raw)
    assert result.kind == MessageKind.NOT_A_BOUNCE
    assert calls == {"clean": 0, "forward_at": 0}


def test_a_forward_after_a_long_plain_text_is_still_found() -> None:
    plain = "x" * 76 + "\n"
    text = plain * (MAX_SCAN_LINES - 10) + "---------- Forwarded message ---------\n" \
        "From: A <a@b.example>\nDate: today\nSubject: s\n\nthe body\n"
    found = find_forward(text)
    assert found is not None and found.sender == "A <a@b.example>" and found.body == "the body"
    assert found == every_line_scan(text)


def test_a_forward_body_under_many_blank_lines_is_found() -> None:
    text = ("-------- Forwarded Message --------\nSubject: s\nDate: d\nFrom: A <a@b.example>\n"
            + "\n" * 4000 + "the body\n")
    found = find_forward(text)
    assert found is not None and found.body == "the body"
    assert found == every_line_scan(text)
