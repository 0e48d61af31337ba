"""The runner's parse stage: decode every intake message and keep what it found with the case.

It runs after the ``case`` stage.  ``parse_bytes`` never raises, so a message that cannot be
decoded still completes the stage — its result says ``"parsed": false`` with the errors —
instead of sending the spool entry into retries and the shunt (a crash loop over one bad
message).  The result stored is the whole ``ParseResult`` as JSON plus a ``summary`` in
words, which ``ndrtrack cases show`` prints.
"""

from __future__ import annotations

from typing import Any

from ndrtrack import metrics
from ndrtrack.intake.stages import Stage, StageContext
from ndrtrack.model import MessageKind
from ndrtrack.parse.api import ParseResult, parse_bytes, result_to_json
from ndrtrack.parse.cli import render


def run(ctx: StageContext) -> dict[str, Any]:
    result = parse_bytes(ctx.message)
    count(result)
    data = result_to_json(result)
    data["summary"] = render(result, f"spool {ctx.entry.id}").rstrip()
    data["parsed"] = not (result.kind is MessageKind.NOT_A_BOUNCE and result.errors)
    return data


def count(result: ParseResult) -> None:
    """``ndrtrack_cases_total{kind}`` and ``ndrtrack_ndr_records_total{format,reason}``."""
    metrics.CASES.labels(kind=result.kind.value).inc()
    if result.bounce is None:
        return
    for status in result.bounce.statuses:
        metrics.NDR_RECORDS.labels(format=result.bounce.format or "unknown",
                                   reason=status.reason or "undefined").inc()


STAGE = Stage("parse", run, state="parsed")
