"""Decode one (already unwrapped) NDR: pick its format, read it, classify each recipient.

Dispatch follows the registry (``parse/formats``): formats hinted by From/Subject first, then
the rest, then the generic RFC 3464 reader.  The first format whose cheap ``detect`` says yes
and whose ``parse`` returns recipients wins; answers are never merged, because a second
format would happily read the returned original and invent recipients.  Classification into
a reason is a separate step applied to whatever the format returned.

``decode_message`` never raises: a format that crashes is recorded in ``Bounce.errors`` and
the next one is tried; a message nobody can read is ``not_a_bounce``.
"""

from __future__ import annotations

from email.message import Message

from ndrtrack.model import Bounce, DeliveryStatus, MessageKind
from ndrtrack.parse.extract import evolve
from ndrtrack.parse.formats import candidates
from ndrtrack.parse.mime import parse_message, truncations
from ndrtrack.parse.reasons import classify

_CONTENT_KINDS = (MessageKind.FEEDBACK, MessageKind.AUTOREPLY)


def _usable(bounce: Bounce | None) -> bool:
    return bounce is not None and (bool(bounce.statuses) or bounce.kind in _CONTENT_KINDS)


def _try(name: str, parse, msg: Message, errors: list[str]) -> Bounce | None:  # noqa: ANN001
    try:
        bounce = parse(msg)
    except Exception as exc:  # a format bug must not lose the message  # noqa: BLE001
        errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return None
    return bounce if _usable(bounce) else None


def _detect(fmt, msg: Message, errors: list[str]) -> bool:  # noqa: ANN001
    try:
        return bool(fmt.detect(msg))
    except Exception as exc:  # noqa: BLE001
        errors.append(f"{fmt.name}.detect: {type(exc).__name__}: {exc}")
        return False


def find_bounce(msg: Message, errors: list[str]) -> Bounce | None:
    """The first format's reading of ``msg`` (unclassified), or None."""
    for fmt in candidates(msg):
        if _detect(fmt, msg, errors):
            bounce = _try(fmt.name, fmt.parse, msg, errors)
            if bounce is not None:
                return bounce
    return None


def classified(status: DeliveryStatus, format_name: str) -> DeliveryStatus:
    """``status`` with ``reason`` and ``permanent`` filled by the classifier."""
    if status.reason:
        return status
    reason, permanent = classify(
        status.status,
        status.reply_code,
        status.diagnostic,
        remote_mta=status.remote_mta,
        format=format_name,
        action=status.action,
        command=status.smtp_command,
        recipient=status.recipient,
    )
    return evolve(status, reason=reason, permanent=permanent)


def decode_message(msg: Message) -> Bounce:
    """Decode one message into a :class:`Bounce`; never raises."""
    errors: list[str] = []
    try:
        bounce = find_bounce(msg, errors)
        if bounce is None:
            return Bounce(format="", kind=MessageKind.NOT_A_BOUNCE, errors=tuple(errors))
        statuses = tuple(classified(s, bounce.format) for s in bounce.statuses)
        return evolve(bounce, statuses=statuses, errors=bounce.errors + tuple(errors))
    except Exception as exc:  # noqa: BLE001
        errors.append(f"decode: {type(exc).__name__}: {exc}")
        return Bounce(format="", kind=MessageKind.NOT_A_BOUNCE, errors=tuple(errors))


def decode_bytes(raw: bytes) -> Bounce:
    """Parse raw bytes into the ``compat32`` tree (:mod:`ndrtrack.parse.mime`) and decode;
    never raises.  Leaf bodies cut for size are noted in ``Bounce.errors``."""
    try:
        msg = parse_message(raw)
    except Exception as exc:  # noqa: BLE001
        return Bounce(format="", kind=MessageKind.NOT_A_BOUNCE, errors=(f"mime: {exc}",))
    bounce = decode_message(msg)
    cuts = truncations(msg)
    return evolve(bounce, errors=bounce.errors + tuple(f"mime: {c}" for c in cuts)) if cuts \
        else bounce
