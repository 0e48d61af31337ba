"""Zoho Mail: "Undelivered Mail Returned to Sender" from mailer-daemon@mail.zoho.com.

Exim-like preamble, then one line per recipient: ``rcpt Invalid Address, ERROR_CODE :550,
ERROR_CODE :5.1.1 <rcpt>... User Unknown``; the original headers follow, folded
without a separator (``Received:from …``).  A delay notice says "Mail delivery delayed".
"""

from __future__ import annotations

import re
from dataclasses import replace

from ndrtrack.model import DeliveryStatus
from ndrtrack.parse.formats._base import TextFormat

_ERROR_CODE = re.compile(r"ERROR_CODE\s*:\s*([245]\d\d)\b")


class Zoho(TextFormat):
    name = "zoho"
    order = 20
    hints = re.compile(r"mailer-daemon@mail\.zoho\.|@zoho(?:mail)?\.", re.I)
    signature = re.compile(r"ERROR_CODE\s*:", re.I)
    recipient = re.compile(r"^(?P<addr>[^\s<>]+@[^\s<>]+)\s+(?=\S)")
    end = re.compile(r"^Received:\s*from", re.I)

    def status(self, address: str, diagnostic: str) -> DeliveryStatus:
        """Zoho writes the reply code as ``ERROR_CODE :550,``."""
        status = super().status(address, diagnostic)
        code = _ERROR_CODE.search(diagnostic)
        return (
            replace(status, reply_code=code.group(1)) if code and not status.reply_code else status
        )

    def detect(self, msg):  # noqa: ANN001, ANN201
        return self.hinted(msg) and super().detect(msg)


FORMAT = Zoho()
