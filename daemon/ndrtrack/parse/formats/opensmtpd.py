"""OpenSMTPD: "Delivery status notification: error" (or ": delayed"), plain text.

"This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail." then "An error has occurred
while attempting to deliver a message for the following list of recipients:" (or "A message
is delayed for more than 4 hours …") and one ``address: diagnostic`` line per recipient; the
copy follows "Below is a copy of the original message:".
"""

from __future__ import annotations

import re
from email.message import Message

from ndrtrack.model import Bounce, MessageKind
from ndrtrack.parse.formats._base import TextFormat, cached_body


class OpenSMTPD(TextFormat):
    name = "opensmtpd"
    order = 40
    hints = re.compile(r"Delivery status notification: (?:error|delayed|warning)", re.I)
    signature = re.compile(r"This is the MAILER-DAEMON, please DO NOT REPLY", re.I)
    start = re.compile(r"following\s+list of recipients|list of recipients:", re.I)
    recipient = re.compile(r"^(?P<addr>[^\s<>]+@[^\s<>:]+):\s")
    end = re.compile(r"Below is a copy of the original message", re.I)
    prefer_dsn = False

    def parse(self, msg: Message) -> Bounce | None:
        from dataclasses import replace

        bounce = super().parse(msg)
        if bounce is not None and re.search(r"is delayed for more than", cached_body(msg), re.I):
            return replace(
                bounce,
                kind=MessageKind.DELAYED,
                statuses=tuple(replace(s, action="delayed") for s in bounce.statuses),
            )
        return bounce


FORMAT = OpenSMTPD()
