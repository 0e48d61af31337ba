"""Apache James, and the carriers that run it (Verizon's vtext.com gateway): "Re:<subject>".

Sent from ``post_master@…`` as ``multipart/alternative``: "Error message below:" then the
remote reply ("550 - Requested action not taken: no such user here"), then "Message
details:" listing the original's Subject, Sent date, ``MAIL FROM:`` and ``RCPT TO:`` — the
recipient is the RCPT TO value, and the quoted reply is the remote server's answer to it.
"""

from __future__ import annotations

import re
from email.message import Message

from ndrtrack.model import Bounce, DeliveryStatus
from ndrtrack.parse.extract import addresses_in_text, first_reply, first_status, squeeze
from ndrtrack.parse.formats._base import Format, cached_body, signature_in

_ERROR = re.compile(r"Error message below:(.{0,2000}?)Message details:", re.I | re.S)
_RCPT = re.compile(r"^[ \t]*RCPT TO:[ \t]*(.+)$", re.I | re.M)


class ApacheJames(Format):
    name = "apachejames"
    order = 30
    hints = re.compile(r"post_master@", re.I)

    def detect(self, msg: Message) -> bool:
        return signature_in(_ERROR, msg, 5000)

    def parse(self, msg: Message) -> Bounce | None:
        text = cached_body(msg)
        error = _ERROR.search(text)
        rcpt = _RCPT.search(text)
        if error is None or rcpt is None:
            return None
        diagnostic = squeeze(error.group(1))
        statuses = tuple(
            DeliveryStatus(
                recipient=address,
                status=first_status(diagnostic),
                reply_code=first_reply(diagnostic),
                diagnostic=diagnostic,
                smtp_command="RCPT",
            )
            for address in addresses_in_text(rcpt.group(1))
        )
        return Bounce(format=self.name, statuses=statuses)


FORMAT = ApacheJames()
