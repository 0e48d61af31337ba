"""Amazon WorkMail: "Delivery Status Notification (Failure)" sent through SES.

"An error occurred while trying to deliver the mail to the following recipients:" and the
addresses, then "Technical report:" with RFC 3464 fields (Reporting-MTA, Action,
Final-Recipient, Diagnostic-Code, Status) quoted inside the text part.
"""

from __future__ import annotations

import re
from email.message import Message

from ndrtrack.model import Bounce
from ndrtrack.parse import dsn
from ndrtrack.parse.formats._base import Format, signature_in

_SIGNATURE = re.compile(r"error occurred while trying to deliver the mail to the following", re.I)


class AmazonWorkMail(Format):
    name = "amazonworkmail"
    order = 15
    hints = re.compile(r"amazonses\.com", re.I)

    def detect(self, msg: Message) -> bool:
        return str(msg.get("X-Mailer", "")).startswith("Amazon WorkMail") or signature_in(
            _SIGNATURE, msg, 2000
        )

    def parse(self, msg: Message) -> Bounce | None:
        return dsn.parse_report(msg, format_name=self.name)


FORMAT = AmazonWorkMail()
