"""Automatic replies (RFC 3834): vacation notices and other responders.

RFC 3834 asks responders to send ``Auto-Submitted: auto-replied``; Microsoft adds
``X-Auto-Response-Suppress`` and a Subject of "Automatic reply:" / "Out of Office"; older
responders only say so in the Subject or with ``Precedence: bulk|auto_reply`` and an
``X-Autoreply`` header.  The responding address is the From of the reply.  A responder whose
text says the mailbox is no longer used is classified from that text, not as a vacation.
"""

from __future__ import annotations

import re
from email.message import Message

from ndrtrack.model import Bounce, DeliveryStatus, MessageKind
from ndrtrack.parse.extract import clean_address, squeeze
from ndrtrack.parse.formats._base import Format, cached_body
from ndrtrack.parse.reasons import text_reason

_SUBJECT = re.compile(
    r"^(?:Auto(?:matic)?[ -]?(?:reply|response|antwort|respons)|Out of (?:the )?Office|"
    r"Abwesenheit|R[ée]ponse automatique|Vacation|Away from)",
    re.I,
)
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")
_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery", re.I)
_NO_LONGER = re.compile(r"no longer (?:in use|used|active|valid|monitored)|not monitored", re.I)


class AutoReply(Format):
    name = "autoreply"
    order = 90

    def detect(self, msg: Message) -> bool:
        if msg.get_content_type() == "multipart/report" or _DAEMON.search(str(msg.get("From", ""))):
            return False
        if (msg.get("Auto-Submitted") or "").strip().lower().startswith("auto-replied"):
            return True
        subject = str(msg.get("Subject", "")).strip()
        return bool(_SUBJECT.search(subject)) or (
            any(msg.get(h) for h in _AUTO_HEADERS) and bool(_SUBJECT.search(subject))
        )

    def parse(self, msg: Message) -> Bounce | None:
        sender = clean_address(str(msg.get("From", "")))
        text = squeeze(cached_body(msg)[:2000])
        if _NO_LONGER.search(text):
            reason = text_reason(text) or "suspend"
            status = DeliveryStatus(recipient=sender, diagnostic=text, reason=str(reason))
            return Bounce(format=self.name, statuses=(status,) if sender else ())
        status = DeliveryStatus(
            recipient=sender,
            action="autoreply",
            diagnostic=text,
            reason="vacation",
            permanent=False,
        )
        return Bounce(
            format=self.name, statuses=(status,) if sender else (), kind=MessageKind.AUTOREPLY
        )


FORMAT = AutoReply()
