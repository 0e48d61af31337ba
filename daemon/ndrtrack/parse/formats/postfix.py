"""Postfix: RFC 3464 reports since 2.0, a plain-text report before that.

The DSN carries ``X-Postfix-Queue-ID`` and ``X-Postfix-Sender`` among the per-message fields
and words diagnostics as ``host mx[ip] said: 550 5.1.1 ... (in reply to RCPT TO command)``.
The plain-text form (old Postfix, and ISPs that strip the report) starts with "This is the
Postfix program at host …" or "I'm sorry to have to inform you that the message returned
below could not be delivered", then lists ``<rcpt>: diagnostic`` with indented continuation
lines; the returned message follows in its own MIME part or after a dashed line.

The SMTP server's error notice to the postmaster (``notify_classes``; Subject "Postfix SMTP
server: errors from HOST") is a session transcript instead: `` In:`` lines are what the
client sent, `` Out:`` lines the server's replies, answering the commands in order; a
recipient failed when its RCPT TO was refused, or when it was accepted and the session
failed later (MAIL, DATA, end of data).
"""

from __future__ import annotations

import re
from collections import deque
from email.message import Message
from typing import ClassVar

from ndrtrack.model import Bounce, DeliveryStatus
from ndrtrack.parse import dsn
from ndrtrack.parse.extract import (
    attached_original,
    clean_address,
    first_reply,
    first_status,
    squeeze,
)
from ndrtrack.parse.formats._base import TextFormat, cached_body, signature_in
from ndrtrack.parse.headers import queue_id_for

_UNAVAILABLE = re.compile(r"Delivery report unavailable", re.I)
_SMTPD_NOTICE = re.compile(r"Postfix SMTP server: errors from", re.I)
# One transcript line; continuation lines (a long command folded) are indented further.
_TRANSCRIPT_LINE = re.compile(r"^ (In|Out):\s+(.*)$", re.M)
_RCPT = re.compile(r"^RCPT TO:\s*<([^>]*)>", re.I)
_ERROR = re.compile(r"^[45]\d\d[ -]")
_COMMAND_WORD = {"rcpt": "RCPT", "mail": "MAIL", "data": "DATA", "ehlo": "EHLO", "helo": "HELO"}


def _failures(text: str) -> dict[str, tuple[str, str]]:
    """recipient → (command, reply) for every recipient an ``In:``/``Out:`` transcript shows
    refused: at its own RCPT TO, or (when it was accepted) by a later failure of the session.

    Replies answer commands in order (pipelining included): each final reply line (``250 ``,
    not ``250-``) consumes the oldest command still waiting; one with nothing waiting after
    DATA's 354 answers the end of the message data.
    """
    waiting: deque[tuple[str, str]] = deque()
    refused: dict[str, tuple[str, str]] = {}
    accepted: list[str] = []
    session: tuple[str, str] | None = None
    after_data, reply = False, ""
    for direction, line in _TRANSCRIPT_LINE.findall(text):
        if direction == "In":
            rcpt = _RCPT.match(line)
            waiting.append((_command_of(line), clean_address(rcpt.group(1)) if rcpt else ""))
            continue
        reply = f"{reply} {line.strip()}".strip()
        if line[3:4] == "-":
            continue  # the reply goes on
        if waiting:
            command, recipient = waiting.popleft()
        elif after_data:
            command, recipient = "DATA", ""
        else:
            reply = ""
            continue  # the greeting
        after_data = command == "DATA" and reply.startswith("354")
        if _ERROR.match(reply):
            if command == "RCPT" and recipient:
                refused[recipient] = (command, reply)
            elif session is None:
                session = (command, reply)
        elif command == "RCPT" and recipient:
            accepted.append(recipient)
        reply = ""
    if session is not None:
        refused.update({r: session for r in accepted if r not in refused})
    return refused


def _command_of(line: str) -> str:
    """``RCPT TO:<a@b> ORCPT=…`` → ``RCPT`` ("" for commands the classifier does not use)."""
    words = line.replace(":", " ").split()
    return _COMMAND_WORD.get(words[0].lower(), "") if words else ""


class Postfix(TextFormat):
    name = "postfix"
    order = 60
    hints = re.compile(r"Undelivered Mail Returned to Sender|Mail Delivery System", re.I)
    signature = re.compile(
        r"This is the (?:\S+ )?Postfix program|^X-Postfix-(?:Queue-ID|Sender):|"
        r"I'm sorry to have to inform you that the message returned",
        re.I | re.M,
    )
    start: ClassVar[re.Pattern[str] | None] = re.compile(
        r"could not be delivered to one or more|The \S* ?Postfix program|delete your own text", re.I
    )
    recipient = re.compile(r"^<(?P<addr>[^\s<>]+@[^\s<>]+)>(?: \(expanded from <[^>]*>\))?:")
    end = re.compile(r"^-{20,}\s*$|^Content-Description: Undelivered Message", re.I)

    def report_detect(self, msg: Message) -> bool:
        if signature_in(self.signature, msg, 6000):
            return True
        part = dsn.find_status_part(msg)
        if part is None:
            return False
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        return any(
            key.lower().startswith("x-postfix")
            for block in blocks[:1]
            if isinstance(block, Message)
            for key in block.keys()
        )

    def detect(self, msg):  # noqa: ANN001, ANN201
        return self.smtpd_notice(msg) or self.report_detect(msg)

    @staticmethod
    def smtpd_notice(msg: Message) -> bool:
        return bool(_SMTPD_NOTICE.search(str(msg.get("Subject", ""))))

    def parse(self, msg: Message) -> Bounce | None:
        if self.smtpd_notice(msg):
            return self.transcript(msg)
        bounce = super().parse(msg)
        if bounce is not None or not _UNAVAILABLE.search(cached_body(msg)[:6000]):
            return bounce
        return self.whole_message(msg)

    def transcript(self, msg: Message) -> Bounce | None:
        """The smtpd notice: each failed recipient with the reply that refused it."""
        failures = _failures(cached_body(msg))
        if not failures:
            return None
        reporting = self.reporting_mta(msg, "")
        statuses = tuple(
            DeliveryStatus(
                recipient=recipient,
                status=first_status(reply),
                reply_code=first_reply(reply),
                diagnostic=reply,
                reporting_mta=reporting,
                smtp_command=command,
            )
            for recipient, (command, reply) in failures.items()
        )
        return Bounce(format=self.name, reporting_mta=reporting, statuses=statuses)

    def whole_message(self, msg: Message) -> Bounce | None:
        """ "--- Delivery report unavailable ---": the report lists nobody, so the returned
        message's own recipients are the ones it failed for."""
        original = attached_original(msg)
        if original is None or not original.recipients:
            return None
        reporting = self.reporting_mta(msg, "")
        explanation = squeeze(cached_body(msg))[:1500]
        statuses = tuple(
            DeliveryStatus(recipient=r, diagnostic=explanation, reporting_mta=reporting)
            for r in original.recipients
        )
        return Bounce(
            format=self.name,
            reporting_mta=reporting,
            original=original,
            queue_id=queue_id_for(original, reporting),
            statuses=statuses,
        )


FORMAT = Postfix()
