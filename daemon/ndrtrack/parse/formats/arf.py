"""Abuse Reporting Format feedback reports (RFC 5965), and one-click unsubscribe notices.

``multipart/report; report-type=feedback-report`` with a human part, a
``message/feedback-report`` part (Feedback-Type, User-Agent, Version, Original-Rcpt-To,
Removal-Recipient, Source-IP, Arrival-Date, Reported-Domain…) and the reported message or
its headers.  The recipient who complained is ``Original-Rcpt-To`` / ``Removal-Recipient``,
else the reported message's To.  Some providers send the report as plain text with the
same fields, or (Apple Mail) a bare "sent this email to unsubscribe" message.
"""

from __future__ import annotations

import re
from email.message import Message

from ndrtrack.model import Bounce, DeliveryStatus, MessageKind, OriginalMessage
from ndrtrack.parse import dsn
from ndrtrack.parse.extract import attached_original, clean_address, recall
from ndrtrack.parse.formats._base import Format, cached_body, signature_in
from ndrtrack.parse.headers import parse_date

_FEEDBACK_FIELDS = re.compile(r"^Feedback-Type:[ \t]*\S", re.I | re.M)
_RECIPIENT_FIELDS = ("original-rcpt-to", "removal-recipient")
_UNSUBSCRIBE = re.compile(r"sent this email to unsubscribe", re.I)


class Arf(Format):
    name = "arf"
    order = 5
    hints = re.compile(r"Feedback Report|Abuse Report|complaint|unsubscribe", re.I)

    def detect(self, msg: Message) -> bool:
        if (recall(msg, "ctype") or msg.get_content_type()) == "multipart/report":
            # the stdlib's parameter parsing is dear: most reports are delivery-status ones
            # (a value split into RFC 2231 continuations, "*0=", is left to the stdlib)
            value = str(msg.get("Content-Type", "")).lower()
            if "feedback" not in value and "*" not in value:
                return False
            return str(msg.get_param("report-type") or "").lower() == "feedback-report"
        # both looked for in the first 3000 characters of the text, behind their literal gates
        return signature_in(_FEEDBACK_FIELDS, msg, 3000) or (
            self.hinted(msg) and signature_in(_UNSUBSCRIBE, msg, 3000)
        )

    def report_text(self, msg: Message) -> str:
        for part in msg.walk():
            if part.get_content_type() == "message/feedback-report":
                return dsn.status_text(part)
        return cached_body(msg)

    def parse(self, msg: Message) -> Bounce | None:
        fields: dict[str, str] = {}
        reported: list[str] = []  # Original-Rcpt-To / Removal-Recipient may repeat (RFC 5965 §3.2)
        for block in dsn.read_fields(self.report_text(msg)):
            for key, value in block.items():
                fields.setdefault(key, value)
                address = clean_address(value) if key in _RECIPIENT_FIELDS else ""
                if address and address not in reported:
                    reported.append(address)
        original = attached_original(msg) or OriginalMessage()
        recipients = reported or list(original.recipients[:1])
        if not recipients and _UNSUBSCRIBE.search(cached_body(msg)):
            recipients = [clean_address(str(msg.get("From", "")))]
        statuses = tuple(
            DeliveryStatus(
                recipient=r,
                action="feedback",
                diagnostic=fields.get("feedback-type", ""),
                reason="feedback",
                permanent=False,
            )
            for r in recipients
            if r
        )
        return Bounce(
            format=self.name,
            reporting_mta=fields.get("reporting-mta", "").split(";")[-1].strip(),
            arrived_at=parse_date(fields.get("arrival-date") or fields.get("received-date")),
            original=original,
            statuses=statuses,
            kind=MessageKind.FEEDBACK,
        )


FORMAT = Arf()
