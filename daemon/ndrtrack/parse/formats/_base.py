"""What every NDR format module builds on: the Format interface and the plain-text engine.

Two shapes cover nearly all bounces:

- **DSN formats** send RFC 3464 ``multipart/report`` and only need a cheap check that says
  "this MTA wrote it" plus, sometimes, a fix-up (a code that lives only in the human part).
- **Plain-text formats** write one prose message: a preamble, then for each failed
  recipient an address line followed by indented diagnostic lines, then a separator such as
  "--- Below this line is a copy of the message." and the returned message.  The same small
  state machine (preamble → recipients → original) reads all of them; a format module gives
  only the patterns for where the recipient section starts, what an address line looks like
  and where the returned message begins.

A format module defines one ``Format`` subclass instance called ``FORMAT``; the registry in
``formats/__init__.py`` discovers them.
"""

from __future__ import annotations

import enum
import re
from email.message import Message
from typing import ClassVar

from ndrtrack.model import Bounce, DeliveryStatus, MessageKind, OriginalMessage
from ndrtrack.parse import dsn
from ndrtrack.parse.extract import (
    addresses_in_text,
    attached_original,
    body_text,
    clean_address,
    evolve,
    first_reply,
    first_status,
    recall,
    remember,
    remote_host,
    smtp_command,
    squeeze,
)
from ndrtrack.parse.gate import Gated
from ndrtrack.parse.headers import decode_words, original_from_text, queue_id_for

_BODY_ATTR = "body"
HINTED_ATTR = "hinted"  # names of the formats whose hint matches, kept by candidates()
_HEAD_ATTR = "head"
_LOWER_ATTR = "lower"
_PREFIX = 8000  # signatures are looked for this far into the text
MAX_LINE = 400  # line patterns look at this much of a line
MAX_HEAD = 1000  # From and Subject as hints see them


def cached_body(msg: Message) -> str:
    """The message's first human-readable text, decoded once and kept on the message."""
    text = recall(msg, _BODY_ATTR)
    if text is None:
        text = body_text(msg)
        remember(msg, _BODY_ATTR, text)
    return text


def head(msg: Message) -> str:
    """``From`` and ``Subject`` (decoded), one per line: what cheap hints are matched on."""
    text = recall(msg, _HEAD_ATTR)
    if text is None:
        sender = decode_words(msg.get("From"))[:MAX_HEAD]
        text = sender + "\n" + decode_words(msg.get("Subject"))[:MAX_HEAD]
        remember(msg, _HEAD_ATTR, text)
    return text


_SIGNATURES: dict[re.Pattern[str], Gated] = {}


def signature_in(pattern: re.Pattern[str], msg: Message, limit: int) -> bool:
    """Whether ``pattern`` occurs in the first ``limit`` characters of the message's text,
    tested through its literal gate on a lowercased copy kept on the message."""
    gated = _SIGNATURES.get(pattern)
    if gated is None:
        gated = _SIGNATURES[pattern] = Gated(pattern)
    body = cached_body(msg)
    lowered = recall(msg, _LOWER_ATTR)
    if lowered is None:
        lowered = body[:_PREFIX].lower()
        remember(msg, _LOWER_ATTR, lowered)
    return gated.found_in_prefix(body, lowered, limit, len(lowered) - min(len(body), _PREFIX))


class Format:
    """One NDR format: ``detect`` must be cheap; ``parse`` returns None when it cannot read."""

    name: ClassVar[str] = ""
    # Matched against "From\nSubject": formats whose hint matches are tried first.
    hints: ClassVar[re.Pattern[str] | None] = None
    # Lower runs earlier among equally hinted formats (specific providers before MTAs).
    order: ClassVar[int] = 50
    # The hint alone decides ``detect``: a provider whose bounces come only from its own
    # addresses, in a text other MTAs' bounces would match as well (an Exim dialect).
    hint_only: ClassVar[bool] = False

    def hinted(self, msg: Message) -> bool:
        known = recall(msg, HINTED_ATTR)  # the registry's candidates() tested every hint
        if known is not None:
            return self.name in known
        return bool(self.hints and self.hints.search(head(msg)))

    def detect(self, msg: Message) -> bool:
        if self.hint_only:
            return self.hinted(msg)
        raise NotImplementedError

    def parse(self, msg: Message) -> Bounce | None:
        raise NotImplementedError


class DsnFormat(Format):
    """An MTA that sends RFC 3464 reports; ``refine`` may fix up each status afterwards."""

    def parse(self, msg: Message) -> Bounce | None:
        bounce = dsn.parse_report(msg, format_name=self.name)
        if bounce is None:
            return None
        statuses = tuple(self.refine(s, msg) for s in bounce.statuses)
        return evolve(bounce, statuses=statuses)

    def refine(self, status: DeliveryStatus, msg: Message) -> DeliveryStatus:
        """Fill what the report left vague from the human-readable part (default: nothing)."""
        return status


_ACTION_OF_KIND = {MessageKind.DELAYED: "delayed", MessageKind.DELIVERED: "delivered"}


class State(enum.Enum):
    PREAMBLE = 1
    RECIPIENTS = 2
    ORIGINAL = 3


class TextFormat(Format):
    """A prose bounce read by the preamble → recipients → original state machine.

    ``start``: a line after which recipients are listed (None: they may come anywhere);
    ``recipient``: a line naming a failed recipient, group ``addr``, the rest of the line is
    diagnostic; ``end``: the line that introduces the returned message; ``stop``: lines that
    end a recipient's diagnostic without starting the original (e.g. a signature).
    """

    start: ClassVar[re.Pattern[str] | None] = None
    recipient: ClassVar[re.Pattern[str]] = re.compile(
        r"^\s*<?(?P<addr>[^\s<>@]+@[^\s<>]+?)>?:?\s*$"
    )
    end: ClassVar[re.Pattern[str]] = re.compile(
        r"^[ \t]*+-*+[ \t]*+(?:Below this line is a copy|This is a copy of|Original message|"
        r"Unsent message follows|The original message|Message headers follow)",
        re.I,
    )
    stop: ClassVar[re.Pattern[str] | None] = None
    signature: ClassVar[re.Pattern[str] | None] = None
    kind: ClassVar[MessageKind] = MessageKind.BOUNCE
    prefer_dsn: ClassVar[bool] = True

    def detect(self, msg: Message) -> bool:
        if self.hint_only or self.signature is None:
            return self.hinted(msg)
        return signature_in(self.signature, msg, 4000)

    def text(self, msg: Message) -> str:
        return cached_body(msg)

    def parse(self, msg: Message) -> Bounce | None:
        if self.prefer_dsn and dsn.find_status_part(msg) is not None:
            bounce = dsn.parse_report(msg, format_name=self.name)
            if bounce is not None:
                return bounce
        text = self.text(msg)
        found, rest = self.scan(text)
        if not found:
            return None
        statuses = tuple(self.status(addr, squeeze(diag)) for addr, diag in found)
        original = attached_original(msg) or (
            original_from_text(rest) if rest else OriginalMessage()
        )
        reporting = self.reporting_mta(msg, text)
        return Bounce(
            format=self.name,
            reporting_mta=reporting,
            original=original,
            queue_id=queue_id_for(original, reporting),
            statuses=tuple(evolve(s, reporting_mta=reporting) for s in statuses),
            kind=self.kind,
        )

    def scan(self, text: str) -> tuple[list[tuple[str, str]], str]:
        """[(recipient, diagnostic)] and the text after the end marker."""
        state = State.PREAMBLE if self.start is not None else State.RECIPIENTS
        found: list[tuple[str, list[str]]] = []
        lines = text.splitlines()
        for index, full_line in enumerate(lines):
            line = full_line[:MAX_LINE]  # patterns see a bounded line: no quadratic blow-up
            if state is State.PREAMBLE:
                if self.start is not None and self.start.search(line):
                    state = State.RECIPIENTS
                continue
            if self.end.search(line):
                if found or self.start is not None:
                    return self.finish(found), "\n".join(lines[index + 1 :])
                continue
            if self.stop is not None and self.stop.search(line):
                if found:
                    state = State.PREAMBLE if self.start is not None else State.RECIPIENTS
                    found.append(("", []))
                continue
            match = self.recipient.search(line)
            address = clean_address(match.group("addr")) if match else ""
            if address and self.accept(address, line):
                found.append((address, [full_line[match.end() :]] if match else []))
            elif found and found[-1][0]:
                found[-1][1].append(full_line)
        return self.finish(found), ""

    def accept(self, address: str, line: str) -> bool:
        """Whether an address-looking line really names a recipient (hook for formats)."""
        return True

    @staticmethod
    def finish(found: list[tuple[str, list[str]]]) -> list[tuple[str, str]]:
        merged: dict[str, str] = {}
        for address, lines in found:
            if address:
                merged[address] = (merged.get(address, "") + "\n" + "\n".join(lines)).strip()
        return list(merged.items())

    def status(self, address: str, diagnostic: str) -> DeliveryStatus:
        status = first_status(diagnostic)
        return DeliveryStatus(
            recipient=address,
            action=_ACTION_OF_KIND.get(self.kind, "failed"),
            status=status,
            reply_code=first_reply(diagnostic),
            diagnostic=diagnostic,
            remote_mta=remote_host(diagnostic),
            smtp_command=smtp_command(diagnostic),
        )

    def reporting_mta(self, msg: Message, text: str) -> str:
        """The reporting host: the domain of the From address of the bounce."""
        sender = clean_address(str(msg.get("From", "")))
        return sender.split("@", 1)[1] if "@" in sender else ""


def addresses_in(text: str) -> list[str]:
    """Every distinct address in ``text`` (see :func:`extract.addresses_in_text`)."""
    return addresses_in_text(text)
