"""The literal gates in front of dsn's line-anchored re.I field searches give their answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ndrtrack.parse import dsn

PIECES = ["final", "FINAL", "Final", "original", "ORIGINAL", "-recipient", "-RECIPIENT",
          "-Recipient", "-recıpıent", " ", "\t", ":", "\n", "\r\n", "x", "Reporting-MTA",
          "reporting-mta", "Original-Envelope-Id", "Arrival-Date", "ARRIVAL-date",
          "Final-Recipient", "\u2028", "é", "ı", "  "]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=16))
def test_gated_searches_answer_as_the_regexes(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert dsn._field_hint_in(text) == (dsn._FIELD_HINT.search(text) is not None)
    first = dsn._FIRST_FIELD.search(text)
    gated = dsn._FIRST_FIELD.search(text) if dsn._named(text, dsn._FIRST_FIELD_NAMES) else None
    assert (gated and gated.span()) == (first and first.span())


def test_dotless_i_still_reaches_the_regex() -> None:
    text = "Final-Recıpıent: rfc822; a@b.example"  # re.I matches ı for i
    assert dsn._FIELD_HINT.search(text) is not None
    assert dsn._field_hint_in(text)
