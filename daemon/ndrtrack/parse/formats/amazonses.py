"""Amazon SES: RFC 3464 bounces, and SNS notifications carrying SES's JSON.

The DSN's diagnostic wraps the remote reply: ``5.1.0 - Unknown address error 550-'5.7.1 …'
(delivery attempts: 0)``: the quoted remote reply is the real evidence, and becomes
the diagnostic (SES writes the same "Unknown address error" prefix around any refusal).
Notifications sent through SNS ("AWS Notification Message") are JSON with
``notificationType`` Bounce / Complaint / Delivery and per-recipient ``emailAddress``,
``status``, ``diagnosticCode``.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from email.message import Message

from ndrtrack.model import Bounce, DeliveryStatus, MessageKind
from ndrtrack.parse.extract import first_reply, first_status, smtp_command, squeeze
from ndrtrack.parse.formats._base import DsnFormat, cached_body

_QUOTED_REPLY = re.compile(r"[245]\d\d[ -]'([^']+)'")
_KINDS = {
    "bounce": MessageKind.BOUNCE,
    "complaint": MessageKind.FEEDBACK,
    "delivery": MessageKind.DELIVERED,
}


class AmazonSES(DsnFormat):
    name = "amazonses"
    order = 20
    hints = re.compile(r"amazonses\.com|AWS Notification Message|sns\.amazonaws", re.I)

    def detect(self, msg: Message) -> bool:
        return (
            self.hinted(msg)
            or "amazonses.com" in str(msg.get("Return-Path", ""))
            or bool(msg.get("X-SES-Outgoing"))
        )

    def refine(self, status: DeliveryStatus, msg: Message) -> DeliveryStatus:
        quoted = _QUOTED_REPLY.search(status.diagnostic)
        if not quoted:
            return status
        inner = quoted.group(0)
        # SES's own prefix ("5.1.0 - Unknown address error") is its label for any remote
        # refusal, not evidence: the remote's quoted reply alone is the diagnostic.
        return replace(
            status,
            status=first_status(inner) or status.status,
            reply_code=first_reply(inner) or status.reply_code,
            diagnostic=squeeze(f"{first_reply(inner)} {quoted.group(1)}"),
        )

    def parse(self, msg: Message) -> Bounce | None:
        bounce = super().parse(msg)
        if bounce is not None:
            return bounce
        return self.from_json(cached_body(msg))

    def from_json(self, text: str) -> Bounce | None:
        start = text.find("{")
        try:
            data = (
                json.loads(text[start : text.rfind("}") + 1], strict=False) if start >= 0 else None
            )
        except ValueError:
            return None
        if not isinstance(data, dict) or "Message" in data and isinstance(data["Message"], str):
            try:
                data = json.loads(data["Message"], strict=False) if isinstance(data, dict) else None
            except (ValueError, KeyError):
                return None
        if not isinstance(data, dict):
            return None
        kind = _KINDS.get(str(data.get("notificationType", data.get("eventType", ""))).lower())
        if kind is None:
            return None
        section = (
            data.get(
                kind is MessageKind.FEEDBACK
                and "complaint"
                or kind is MessageKind.DELIVERED
                and "delivery"
                or "bounce"
            )
            or {}
        )
        return Bounce(
            format=self.name,
            kind=kind,
            statuses=tuple(self.statuses(kind, section)),
            reporting_mta=str(section.get("reportingMTA", "")).split(";")[-1].strip(),
        )

    @staticmethod
    def statuses(kind: MessageKind, section: dict) -> list[DeliveryStatus]:
        found = []
        if kind is MessageKind.DELIVERED:
            response = str(section.get("smtpResponse", ""))
            for address in section.get("recipients", []):
                found.append(
                    DeliveryStatus(
                        recipient=str(address).lower(),
                        action="delivered",
                        status=first_status(response) or "2.0.0",
                        reply_code=first_reply(response),
                        diagnostic=response,
                    )
                )
            return found
        key = "complainedRecipients" if kind is MessageKind.FEEDBACK else "bouncedRecipients"
        for entry in section.get(key, []):
            if not isinstance(entry, dict) or "emailAddress" not in entry:
                continue
            diagnostic = squeeze(str(entry.get("diagnosticCode", "")))
            found.append(
                DeliveryStatus(
                    recipient=str(entry["emailAddress"]).lower(),
                    action="feedback"
                    if kind is MessageKind.FEEDBACK
                    else str(entry.get("action", "failed")),
                    status=first_status(str(entry.get("status", ""))) or first_status(diagnostic),
                    reply_code=first_reply(diagnostic.split(";", 1)[-1].strip()),
                    diagnostic=diagnostic,
                    smtp_command=smtp_command(diagnostic),
                    reason="feedback" if kind is MessageKind.FEEDBACK else "",
                )
            )
        return found


FORMAT = AmazonSES()
