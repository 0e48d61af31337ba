"""The parse stage as one call: unwrap → decode → explain, and the ``--jsonl`` contract.

``parse_bytes`` is what the daemon's runner and ``ndrtrack parse`` call for every intake
message.  It never raises: whatever goes wrong is recorded in ``ParseResult.errors`` and the
message is then ``not_a_bounce`` (a case is still opened for it upstream).

Choosing the layer: the layers the unwrapper finds are decoded deepest first, and the first
one that is an NDR (or feedback report / auto-reply) wins (document order within a depth).
The deepest, because a person's forward quotes the NDR's text in its own body, so a lenient text
format may also "see" the NDR at the outer layer — but the real one is inside.  Structural
reports (``multipart/report``, mailer-daemon senders) are never descended into, so the
original that a bounce returns can never win over the bounce.  With no NDR anywhere, the first
embedded message is a *re-sent original*: its headers and ``Received:`` chain are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from email.message import Message
from typing import Any

from ndrtrack.model import Bounce, MessageKind, OriginalMessage, to_jsonable
from ndrtrack.parse.codes import Explanation, explain
from ndrtrack.parse.loose_dates import parse_loose_date
from ndrtrack.parse.mime import truncations
from ndrtrack.parse.unwrap import (
    CONTAINER_HEADER,
    Layer,
    UnwrapLog,
    arrived,
    header_text,
    iter_layers,
)

NDR_KINDS = frozenset({MessageKind.BOUNCE, MessageKind.DELAYED, MessageKind.DELIVERED,
                       MessageKind.FEEDBACK, MessageKind.AUTOREPLY})
RECORD_KEYS = ("file", "format", "recipient", "action", "status", "reply_code", "reason",
               "diagnostic", "reporting_mta", "remote_mta", "original_message_id",
               "original_sender", "queue_id", "arrived_at", "explanation")
PER_RECIPIENT_KINDS = frozenset({MessageKind.BOUNCE, MessageKind.DELAYED})


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What one intake message turned out to be, and where in the forward it was found."""

    kind: MessageKind
    bounce: Bounce | None = None
    original: OriginalMessage | None = None  # a re-sent original (kind RESENT)
    layer: int = 0
    via: str = "top"
    forwarder: str = ""
    errors: tuple[str, ...] = ()
    explanations: tuple[Explanation, ...] = ()  # one per ``bounce.statuses`` entry

    @property
    def format(self) -> str:
        return self.bounce.format if self.bounce is not None else ""


def _decoder() -> Callable[[Message], Bounce]:
    """The decoder, imported when first needed (it loads every format module)."""
    from ndrtrack.parse.decode import decode_message

    return decode_message


def parse_bytes(raw: bytes) -> ParseResult:
    """Parse one message as it arrived; never raises."""
    errors: list[str] = []
    try:
        return _parse(raw, errors)
    except Exception as exc:  # noqa: BLE001 - the public API records, never raises
        errors.append(f"parse: {type(exc).__name__}: {exc}")
        return ParseResult(kind=MessageKind.NOT_A_BOUNCE, errors=tuple(errors))


def _parse(raw: bytes, errors: list[str]) -> ParseResult:
    decode = _decoder()
    layers = list(iter_layers(arrived(raw), UnwrapLog(errors)))
    # Huge leaf bodies were cut before the MIME tree was built: say so with the result.
    errors.extend(f"mime: {cut}" for layer in layers for cut in truncations(layer.message))
    # Deepest first (document order within a depth): the first NDR found wins, and the
    # outer layers, which only quote it, are not decoded at all in the common case.
    for layer in sorted(layers, key=lambda item: -item.depth):
        bounce = decode(layer.message)
        if bounce.kind in NDR_KINDS:
            errors.extend(bounce.errors)
            return ParseResult(
                kind=bounce.kind, bounce=bounce, layer=layer.depth, via=layer.path,
                forwarder=layer.forwarder, errors=tuple(errors),
                explanations=tuple(_explain(bounce)),
            )
    # The arrived message is never the "original"; a bare .msg/TNEF file *is* its first layer.
    inner = [layer for layer in layers if layer.depth > 0]
    skip = 1 if len(inner) > 1 and layers[0].message.get(CONTAINER_HEADER) else 0
    embedded = inner[skip] if inner else None
    if embedded is not None:
        return ParseResult(
            kind=MessageKind.RESENT, original=_original(embedded), layer=embedded.depth,
            via=embedded.path, forwarder=embedded.forwarder, errors=tuple(errors),
        )
    return ParseResult(kind=MessageKind.NOT_A_BOUNCE, errors=tuple(errors))


def _original(layer: Layer) -> OriginalMessage:
    from ndrtrack.parse.headers import original_from_headers

    original = original_from_headers(layer.message)
    if not original.from_header:
        original = replace(original, from_header=header_text(layer.message, "From"))
    if original.date is None:  # an inline forward keeps the date as the client showed it
        original = replace(original, date=parse_loose_date(header_text(layer.message, "Date")))
    return original


def _explain(bounce: Bounce) -> list[Explanation]:
    return [
        explain(s.status, s.reply_code, s.diagnostic, s.reason, remote_mta=s.remote_mta,
                permanent=s.permanent, action=s.action)
        for s in bounce.statuses
    ]


def to_records(result: ParseResult, file: str) -> list[dict[str, str]]:
    """The ``ndrtrack parse --jsonl`` objects for one file (DESIGN.md contract)."""
    bounce = result.bounce
    if bounce is None or result.kind not in PER_RECIPIENT_KINDS or not bounce.statuses:
        kind = result.kind.value if result.kind != MessageKind.BOUNCE else "not_a_bounce"
        record = {"file": file, "format": result.format, "kind": kind}
        original = result.original or (bounce.original if bounce is not None else None)
        if original is not None:
            record["original_message_id"] = original.message_id
            record["original_sender"] = original.sender
        return [record]
    original = bounce.original
    records = []
    for status, explanation in zip(bounce.statuses, _padded(result), strict=True):
        records.append({
            "file": file,
            "format": bounce.format,
            "recipient": status.recipient,
            "action": status.action,
            "status": status.status,
            "reply_code": status.reply_code,
            "reason": status.reason,
            "diagnostic": status.diagnostic,
            "reporting_mta": status.reporting_mta or bounce.reporting_mta,
            "remote_mta": status.remote_mta,
            "original_message_id": original.message_id,
            "original_sender": original.sender,
            "queue_id": bounce.queue_id,
            "arrived_at": bounce.arrived_at.isoformat() if bounce.arrived_at else "",
            "explanation": explanation.sentence() if explanation else "",
        })
    return records


def _padded(result: ParseResult) -> list[Explanation | None]:
    statuses = result.bounce.statuses if result.bounce is not None else ()
    given: list[Explanation | None] = list(result.explanations)
    return (given + [None] * len(statuses))[: len(statuses)]


def result_to_json(result: ParseResult) -> dict[str, Any]:
    """A JSON-ready dict of the whole result, for storing it with a case."""
    return {
        "kind": result.kind.value,
        "format": result.format,
        "layer": result.layer,
        "via": result.via,
        "forwarder": result.forwarder,
        "errors": list(result.errors),
        "bounce": to_jsonable(result.bounce) if result.bounce is not None else None,
        "original": to_jsonable(result.original) if result.original is not None else None,
        "explanations": [to_jsonable(e) for e in result.explanations],
    }
