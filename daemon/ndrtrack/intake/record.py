"""The first stage: record a *case* for the message, with its envelope and main headers.

Headers are read with the fast ``compat32`` header-only parser (DESIGN.md: the modern policy
is 6× slower) and decoded explicitly: RFC 2047 encoded words become text, folded lines are
unfolded, and raw 8-bit bytes (common in forwarded NDRs) are read as UTF-8 with replacement
rather than failing the stage.
"""

from __future__ import annotations

import dataclasses
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from ndrtrack.intake.stages import Stage, StageContext
from ndrtrack.store.base import CaseHeaders

_PARSER = BytesHeaderParser(policy=compat32)
_FIELDS = {"from_header": "From", "to_header": "To", "subject": "Subject", "date": "Date",
           "message_id": "Message-ID"}


def decode_value(value: Any) -> str:
    """One header value as text: encoded words decoded, unfolded, 8-bit read as UTF-8."""
    if value is None:
        return ""
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = text.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    try:
        text = str(make_header(decode_header(text)))
    except (ValueError, LookupError, UnicodeError):
        pass  # a malformed encoded word stays as it was written
    return " ".join(text.split())


def case_headers(message: bytes) -> CaseHeaders:
    """From, To, Subject, Date and Message-ID of a raw message (empty where absent)."""
    raw: dict[str, str] = {}
    for name, value in _PARSER.parsebytes(message).raw_items():  # raw: 8-bit kept as is
        raw.setdefault(name.lower(), value)  # the first occurrence, as get() would
    return CaseHeaders(**{attr: decode_value(raw.get(name.lower()))
                          for attr, name in _FIELDS.items()})


def run(ctx: StageContext) -> dict[str, Any]:
    headers = case_headers(ctx.message)
    ctx.case_id = ctx.store.add_case(ctx.entry, headers)
    return {"headers": dataclasses.asdict(headers)}


STAGE = Stage("case", run, state="received")
